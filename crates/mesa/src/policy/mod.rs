//! The policy host: loads a rules bundle (the contract as Rhai scripts), checks it, and
//! answers the questions the services ask — severity, SLA milestones, business calendar,
//! coverage, billing. Scripts receive data and return data; Rust performs every action.

mod bundle;
pub mod engine;
mod live;
mod load;
mod milestones;
mod phrases;
mod replies;
pub mod terms;
mod vectors;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rhai::{AST, CallFnOptions, Dynamic, Engine, FuncArgs, Scope};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::types::RulesVersion;
pub use bundle::{Bundle, BundleError};
pub use live::LiveRules;
use load::{
    Scripts, bad_output, holidays, load_calendar, load_settings, load_support_types, load_templates,
};
pub use replies::{CannedReply, REPLY_FIELDS, ReplyContext};
pub use terms::{
    Assessment, Classification, Coverage, Diagnosis, Holiday, PlannedMilestone, Quote, QuoteLine,
    RenderedMail, Settings, SlaPlan, SupportType, Work,
};
pub use vectors::{VectorOutcome, VectorReport};

use crate::calendar::{
    BusinessCalendar, CalendarError, DEFAULT_YEARS, OpenInterval, WEEKDAY_KEYS, WeeklyHours,
};
use crate::sla::Target;
use crate::ticket::{ClockSignal, Severity, TicketFacts};

pub const BUSINESS_HOURS: &str = "business_hours.rhai";
pub const SEVERITY: &str = "severity.rhai";
pub const EXCLUSIONS: &str = "exclusions.rhai";
pub const BILLING: &str = "billing.rhai";
pub const INTAKE: &str = "intake.rhai";

/// Mail templates every bundle must have (`templates/…`): first line `Asunto: …`, a blank
/// line, then the body. Rendered with minijinja; an unknown variable is an error.
pub const MAIL_TEMPLATES: [&str; 12] = [
    "ack.txt",
    "ack_digest.txt",
    "reply.txt",
    "answer.txt",
    "csat.txt",
    "severity.txt",
    "waiting.txt",
    "root_cause.txt",
    "page.txt",
    "replacement.txt",
    "sla_warning.txt",
    "incident.txt",
];

/// Every script the contract needs and the functions (name, arity) each must define.
pub const REQUIRED: [(&str, &[(&str, usize)]); 5] = [
    (BUSINESS_HOURS, &[("calendar", 0), ("holidays", 1)]),
    (
        SEVERITY,
        &[("support_types", 0), ("classify", 1), ("milestones", 1)],
    ),
    (EXCLUSIONS, &[("assess", 2)]),
    (BILLING, &[("charge", 1)]),
    (INTAKE, &[("settings", 0)]),
];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("{file}: missing from the rules bundle")]
    MissingScript { file: String },
    #[error("{file}: {message}")]
    Compile { file: String, message: String },
    #[error("{file}: required function {function}() with {arity} parameter(s) is not defined")]
    MissingFunction {
        file: String,
        function: String,
        arity: usize,
    },
    #[error("{file}: {function}() failed: {message}")]
    Script {
        file: String,
        function: String,
        message: String,
        /// What the script threw, when it threw a text on purpose (`throw "causa desconocida
        /// …"`): written for the staff who meet it, so shown to them as it is.
        thrown: Option<String>,
    },
    #[error("{file}: {function}() returned something unusable: {message}")]
    BadOutput {
        file: String,
        function: String,
        message: String,
    },
    #[error("{file}: {source}")]
    Calendar {
        file: String,
        #[source]
        source: CalendarError,
    },
    #[error("{0}")]
    BadInput(String),
    #[error("templates/{file}: {message}")]
    Template { file: String, message: String },
    #[error("{} of {} test vectors failed:\n{}", .0.failed(), .0.outcomes.len(), .0.failures_text())]
    VectorsFailed(VectorReport),
}

impl PolicyError {
    /// The text a script threw on purpose, if that is what this error is.
    pub fn thrown(&self) -> Option<&str> {
        match self {
            PolicyError::Script { thrown, .. } => thrown.as_deref(),
            _ => None,
        }
    }
}

/// A loaded, checked rules bundle.
pub struct Policy {
    scripts: Scripts,
    calendar: BusinessCalendar,
    support_types: Vec<SupportType>,
    settings: Settings,
    templates: minijinja::Environment<'static>,
    replies: replies::CannedReplies,
    version: RulesVersion,
    bundle: Bundle,
    /// Milestone definitions already computed, by the facts the script was given (see
    /// [`Policy::milestones`]).
    milestone_memo: milestones::MilestoneMemo,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("version", &self.version)
            .field("calendar", &self.calendar)
            .finish_non_exhaustive()
    }
}

/// Raw shapes the scripts return, checked before they become domain values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    time_zone: String,
    weekly: HashMap<String, Vec<(String, String)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    date: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClassification {
    severity: i64,
    reason: String,
    /// 0–100; a script that gives none is taken as sure of itself.
    #[serde(default)]
    confidence: Option<i64>,
}

impl Policy {
    /// Compiles every script, checks the required functions and builds the calendar. Does
    /// not run the test vectors: see [`Policy::activate`] for what production uses.
    pub fn compile(bundle: Bundle) -> Result<Self, PolicyError> {
        let policy = Self::compile_prechecked(bundle)?;
        policy.smoke_test()?;
        Ok(policy)
    }

    /// [`Policy::compile`] without the smoke test, for a bundle already checked from the
    /// same source: the bundle built into the binary, whose smoke test and vectors the test
    /// suite runs on the same `rules/` (`tests/run`). A Lambda cold start then does not spend
    /// about a third of its time running again what cannot have changed (see
    /// docs/performance.md).
    pub fn compile_prechecked(bundle: Bundle) -> Result<Self, PolicyError> {
        let modules = bundle
            .paths()
            .filter_map(|p| {
                let key = p.strip_suffix(".rhai")?;
                Some((key.to_string(), bundle.text(p)?.to_string()))
            })
            .collect();
        let engine = engine::build_engine(modules);
        let mut asts = HashMap::new();
        for (file, functions) in REQUIRED {
            let source = bundle
                .text(file)
                .ok_or_else(|| PolicyError::MissingScript {
                    file: file.to_string(),
                })?;
            let mut ast = engine.compile(source).map_err(|e| PolicyError::Compile {
                file: file.to_string(),
                message: e.to_string(),
            })?;
            ast.set_source(file);
            for &(function, arity) in functions {
                if !ast
                    .iter_functions()
                    .any(|f| f.name == function && f.params.len() == arity)
                {
                    return Err(PolicyError::MissingFunction {
                        file: file.to_string(),
                        function: function.to_string(),
                        arity,
                    });
                }
            }
            asts.insert(file, ast);
        }
        let scripts = Scripts { engine, asts };
        let calendar = load_calendar(&scripts)?;
        let support_types = load_support_types(&scripts)?;
        let settings = load_settings(&scripts)?;
        let templates = load_templates(&bundle)?;
        let replies = replies::load_replies(&bundle)?;
        Ok(Self {
            scripts,
            calendar,
            support_types,
            settings,
            templates,
            replies,
            version: bundle.version(),
            bundle,
            milestone_memo: milestones::MilestoneMemo::default(),
        })
    }

    /// Calls the functions every ticket needs once with plain inputs, so that a script that
    /// fails, loops or returns the wrong shape is caught at load and not on a customer's
    /// ticket.
    fn smoke_test(&self) -> Result<(), PolicyError> {
        let sample = TicketFacts::default();
        self.classify(&sample)?;
        let monday = DateTime::parse_from_rfc3339("2026-01-05T09:00:00-06:00")
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| PolicyError::BadInput(e.to_string()))?;
        for level in 1..=4 {
            let severity =
                Severity::new(level).map_err(|e| PolicyError::BadInput(e.to_string()))?;
            self.plan(&sample, monday, severity)?;
        }
        self.charge(Work { minutes: 0 })?;
        self.charge(Work { minutes: 61 })?;
        Ok(())
    }

    /// Compiles the bundle and runs its test vectors; only a bundle that passes them all
    /// may be used to handle tickets.
    pub fn activate(bundle: Bundle) -> Result<Self, PolicyError> {
        Self::activate_with_report(bundle).map(|(policy, _)| policy)
    }

    /// [`Policy::activate`], also giving the vectors' report (for those who print it), so
    /// the vectors run once.
    pub fn activate_with_report(bundle: Bundle) -> Result<(Self, VectorReport), PolicyError> {
        let policy = Self::compile(bundle)?;
        let report = policy.run_vectors();
        if report.failed() > 0 {
            return Err(PolicyError::VectorsFailed(report));
        }
        Ok((policy, report))
    }

    pub fn version(&self) -> &RulesVersion {
        &self.version
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    pub fn calendar(&self) -> &BusinessCalendar {
        &self.calendar
    }

    pub fn support_types(&self) -> &[SupportType] {
        &self.support_types
    }

    /// The label of a support type id, when the rules know it.
    pub fn support_type_label(&self, id: &str) -> Option<&str> {
        self.support_types
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.label.as_str())
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Renders a mail template with `context`.
    pub fn render_mail(
        &self,
        template: &str,
        context: &serde_json::Value,
    ) -> Result<RenderedMail, PolicyError> {
        let err = |message: String| PolicyError::Template {
            file: template.to_string(),
            message,
        };
        let t = self
            .templates
            .get_template(template)
            .map_err(|e| err(e.to_string()))?;
        let text = t.render(context).map_err(|e| err(format!("{e:#}")))?;
        let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        let subject = first
            .strip_prefix("Asunto:")
            .ok_or_else(|| err("the first line must be \"Asunto: …\"".to_string()))?
            .trim()
            .to_string();
        Ok(RenderedMail {
            subject,
            body: rest.trim_start_matches('\n').to_string(),
        })
    }

    /// Runs every test vector of the bundle (`tests/*.json`).
    pub fn run_vectors(&self) -> VectorReport {
        vectors::run(self)
    }

    fn to_map<T: Serialize>(value: &T) -> Result<Dynamic, PolicyError> {
        rhai::serde::to_dynamic(value).map_err(|e| PolicyError::BadInput(e.to_string()))
    }

    /// The holidays of `year`, in date order, as the calendar script computes them.
    pub fn holidays(&self, year: i32) -> Result<Vec<Holiday>, PolicyError> {
        holidays(&self.scripts, year)
    }

    /// Provisional severity from what the customer wrote.
    pub fn classify(&self, ticket: &TicketFacts) -> Result<Classification, PolicyError> {
        let raw: RawClassification =
            self.scripts
                .call(SEVERITY, "classify", (Self::to_map(ticket)?,))?;
        let severity = Severity::new(raw.severity)
            .map_err(|e| bad_output(SEVERITY, "classify", e.to_string()))?;
        if raw.reason.trim().is_empty() {
            return Err(bad_output(SEVERITY, "classify", "an empty reason"));
        }
        let confidence = match raw.confidence {
            None => 100,
            Some(c @ 0..=100) => c as u8,
            Some(c) => {
                return Err(bad_output(
                    SEVERITY,
                    "classify",
                    format!("confidence must be 0 to 100 (got {c})"),
                ));
            }
        };
        Ok(Classification {
            severity,
            reason: raw.reason,
            confidence,
        })
    }

    /// The deadlines of a ticket received at `received` with `severity`, counted from the
    /// receipt with no pauses.
    pub fn plan(
        &self,
        ticket: &TicketFacts,
        received: DateTime<Utc>,
        severity: Severity,
    ) -> Result<SlaPlan, PolicyError> {
        self.plan_from(ticket, received, received, severity)
    }

    /// [`Policy::plan`] for a report sent at `sent` that mesa received at `arrived`: clocks
    /// that start on `arrived` (the acknowledgement) count from there, the others from `sent`.
    pub fn plan_from(
        &self,
        ticket: &TicketFacts,
        sent: DateTime<Utc>,
        arrived: DateTime<Utc>,
        severity: Severity,
    ) -> Result<SlaPlan, PolicyError> {
        let mut facts = ticket.clone();
        facts.received_at = Some(sent);
        let defs = self.milestones(&facts, severity)?;
        let mut milestones = Vec::with_capacity(defs.len());
        for d in defs.iter() {
            let start = if d.start_on == ClockSignal::Arrived {
                arrived
            } else {
                sent
            };
            let due = self.due(start, d.target)?;
            milestones.push(PlannedMilestone {
                name: d.name.clone(),
                due: format_utc(due),
                due_local: self.format_local(due),
            });
        }
        Ok(SlaPlan {
            rules_version: self.version.clone(),
            severity,
            milestones,
        })
    }

    /// `from` plus `target` in the target's own time base.
    pub fn due(&self, from: DateTime<Utc>, target: Target) -> Result<DateTime<Utc>, PolicyError> {
        let d = target.duration(&self.calendar);
        if target.is_business() {
            self.calendar
                .add(from, d)
                .map_err(|source| PolicyError::Calendar {
                    file: BUSINESS_HOURS.into(),
                    source,
                })
        } else {
            Ok(from + d)
        }
    }

    /// An instant in the calendar's zone, RFC 3339 with its offset (e.g. `-06:00`).
    pub fn format_local(&self, t: DateTime<Utc>) -> String {
        self.calendar
            .local(t)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    /// Coverage of a diagnosed ticket: covered, third party, or attributable to the customer.
    pub fn assess(
        &self,
        ticket: &TicketFacts,
        diagnosis: &Diagnosis,
    ) -> Result<Assessment, PolicyError> {
        let a: Assessment = self.scripts.call(
            EXCLUSIONS,
            "assess",
            (Self::to_map(ticket)?, Self::to_map(diagnosis)?),
        )?;
        if a.billable && !a.coverage.may_be_billable() {
            return Err(bad_output(
                EXCLUSIONS,
                "assess",
                "only customer-attributable faults, support outside the contracted period and hardware out of warranty can be billable",
            ));
        }
        Ok(a)
    }

    /// The charge for billable work, in integer cents.
    pub fn charge(&self, work: Work) -> Result<Quote, PolicyError> {
        if work.minutes < 0 {
            return Err(PolicyError::BadInput(format!(
                "work time cannot be negative (got {} minutes)",
                work.minutes
            )));
        }
        let q: Quote = self
            .scripts
            .call(BILLING, "charge", (Self::to_map(&work)?,))?;
        let bad = |m: &str| bad_output(BILLING, "charge", m);
        let lines: i64 = q.lines.iter().map(|l| l.amount_cents).sum();
        if q.lines
            .iter()
            .any(|l| l.amount_cents < 0 || l.quantity * l.unit_cents != l.amount_cents)
        {
            return Err(bad("a line whose amount is not quantity × unit price"));
        }
        if lines != q.subtotal_cents
            || q.iva_cents < 0
            || q.subtotal_cents + q.iva_cents != q.total_cents
        {
            return Err(bad("totals that do not add up"));
        }
        if q.currency.len() != 3 || !q.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(bad("a currency that is not an ISO 4217 code"));
        }
        Ok(q)
    }
}

pub fn format_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
