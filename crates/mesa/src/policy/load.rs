//! Loading a bundle: its scripts compiled once, and the calendar, settings, templates and
//! support types read from them and checked.

use super::*;

/// The compiled scripts and the engine that runs them.
pub(super) struct Scripts {
    pub(super) engine: Engine,
    pub(super) asts: HashMap<&'static str, AST>,
}

impl Scripts {
    pub(super) fn call<T: DeserializeOwned>(
        &self,
        file: &'static str,
        function: &str,
        args: impl FuncArgs,
    ) -> Result<T, PolicyError> {
        let ast = self
            .asts
            .get(file)
            .ok_or_else(|| PolicyError::MissingScript { file: file.into() })?;
        let _deadline = engine::CallDeadline::arm();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(false);
        let out: Dynamic = self
            .engine
            .call_fn_with_options(options, &mut Scope::new(), ast, function, args)
            .map_err(|e| PolicyError::Script {
                file: file.into(),
                function: function.into(),
                message: e.to_string(),
                thrown: match e.unwrap_inner() {
                    rhai::EvalAltResult::ErrorRuntime(value, _) if value.is_string() => {
                        Some(value.to_string())
                    }
                    _ => None,
                },
            })?;
        rhai::serde::from_dynamic(&out).map_err(|e| PolicyError::BadOutput {
            file: file.into(),
            function: function.into(),
            message: e.to_string(),
        })
    }
}

pub(super) fn bad_output(file: &str, function: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::BadOutput {
        file: file.into(),
        function: function.into(),
        message: message.into(),
    }
}

pub(super) fn load_calendar(scripts: &Scripts) -> Result<BusinessCalendar, PolicyError> {
    let raw: RawCalendar = scripts.call(BUSINESS_HOURS, "calendar", ())?;
    let cal_err = |source| PolicyError::Calendar {
        file: BUSINESS_HOURS.into(),
        source,
    };
    let tz: chrono_tz::Tz = raw
        .time_zone
        .parse()
        .map_err(|_| cal_err(CalendarError::UnknownTimeZone(raw.time_zone.clone())))?;
    let mut days: [Vec<OpenInterval>; 7] = Default::default();
    for key in raw.weekly.keys() {
        if !WEEKDAY_KEYS.contains(&key.as_str()) {
            return Err(bad_output(
                BUSINESS_HOURS,
                "calendar",
                format!("weekly has unknown day {key:?} (use mon, tue, wed, thu, fri, sat, sun)"),
            ));
        }
    }
    for (i, key) in WEEKDAY_KEYS.iter().enumerate() {
        for (start, end) in raw.weekly.get(*key).into_iter().flatten() {
            days[i].push(OpenInterval::parse(key, start, end).map_err(cal_err)?);
        }
    }
    let weekly = WeeklyHours::new(days).map_err(cal_err)?;
    let mut closed = Vec::new();
    for year in DEFAULT_YEARS {
        closed.extend(holidays(scripts, year)?.into_iter().map(|h| h.date));
    }
    Ok(BusinessCalendar::new(tz, weekly, closed, DEFAULT_YEARS))
}

pub(super) fn load_settings(scripts: &Scripts) -> Result<Settings, PolicyError> {
    let s: Settings = scripts.call(INTAKE, "settings", ())?;
    let bad = |m: String| bad_output(INTAKE, "settings", m);
    if !(2..=10).contains(&s.folio_prefix.len())
        || !s.folio_prefix.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(bad(format!(
            "folio_prefix {:?} must be 2 to 10 capital letters",
            s.folio_prefix
        )));
    }
    let auto = &s.automatic_incident;
    if auto.critical_reports > 0 {
        if auto.critical_reports < 2 || !(1..=1440).contains(&auto.within_minutes) {
            return Err(bad(format!(
                "automatic_incident: critical_reports must be 2 or more (0 turns it off) and within_minutes 1 to 1440, not {} and {}",
                auto.critical_reports, auto.within_minutes
            )));
        }
        if [&auto.cause, &auto.service, &auto.actions]
            .iter()
            .any(|t| t.trim().is_empty())
        {
            return Err(bad(
                "automatic_incident: cause, service and actions are what customers are told; none may be empty".into(),
            ));
        }
    }
    if !(1..=99).contains(&s.sla_warning_percent) {
        return Err(bad(format!(
            "sla_warning_percent {} must be 1 to 99",
            s.sla_warning_percent
        )));
    }
    if crate::types::EmailAddress::parse(&s.support_address).is_err() {
        return Err(bad(format!(
            "support_address {:?} is not an e-mail address",
            s.support_address
        )));
    }
    Ok(s)
}

pub(super) fn load_templates(
    bundle: &Bundle,
) -> Result<minijinja::Environment<'static>, PolicyError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Plain-text mail: no HTML escaping.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    for (path, _) in bundle.files() {
        let Some(name) = path.strip_prefix("templates/") else {
            continue;
        };
        let source = bundle.text(path).ok_or_else(|| PolicyError::Template {
            file: name.to_string(),
            message: "is not UTF-8 text".into(),
        })?;
        env.add_template_owned(name.to_string(), source.to_string())
            .map_err(|e| PolicyError::Template {
                file: name.to_string(),
                message: format!("{e:#}"),
            })?;
    }
    for name in MAIL_TEMPLATES {
        if env.get_template(name).is_err() {
            return Err(PolicyError::Template {
                file: name.to_string(),
                message: "missing from the rules bundle".into(),
            });
        }
    }
    Ok(env)
}

pub(super) fn load_support_types(scripts: &Scripts) -> Result<Vec<SupportType>, PolicyError> {
    let types: Vec<SupportType> = scripts.call(SEVERITY, "support_types", ())?;
    let mut seen = BTreeSet::new();
    for t in &types {
        if t.id.is_empty() || !seen.insert(t.id.clone()) {
            return Err(bad_output(
                SEVERITY,
                "support_types",
                format!("support type ids must be unique and not empty ({:?})", t.id),
            ));
        }
    }
    if types.is_empty() {
        return Err(bad_output(SEVERITY, "support_types", "an empty list"));
    }
    Ok(types)
}

/// The holidays of `year`, in date order, as the calendar script computes them.
pub(super) fn holidays(scripts: &Scripts, year: i32) -> Result<Vec<Holiday>, PolicyError> {
    let raw: Vec<RawHoliday> = scripts.call(BUSINESS_HOURS, "holidays", (i64::from(year),))?;
    let mut out = Vec::with_capacity(raw.len());
    for h in raw {
        let date = NaiveDate::parse_from_str(&h.date, "%Y-%m-%d").map_err(|_| {
            bad_output(
                BUSINESS_HOURS,
                "holidays",
                format!("{:?} is not a YYYY-MM-DD date", h.date),
            )
        })?;
        if chrono::Datelike::year(&date) != year {
            return Err(bad_output(
                BUSINESS_HOURS,
                "holidays",
                format!("{date} is not in the year asked for ({year})"),
            ));
        }
        out.push(Holiday { date, name: h.name });
    }
    out.sort_by_key(|h| h.date);
    out.dedup_by_key(|h| h.date);
    Ok(out)
}
