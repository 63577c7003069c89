//! A month of tickets with realistic spreads, lived through the desk on a SQLite data
//! directory that `mesa report`, `mesa stats` and `mesa serve --data` then read: six
//! customers, most reports in business hours, severities mostly 3 and 4, acknowledgements in
//! minutes (a few late), responses spread around each severity's target (some breached),
//! waits on the customer, diagnoses (some billable, with work logged), answers, closings and
//! surveys; the last days' tickets partly still open. Seeded, so the same month comes out
//! every time.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use mesa::desk::{Desk, DeskConfig};
use mesa::intake::FormInput;
use mesa::lifecycle::Action;
use mesa::model::{Actor, ResponseChannel};
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa::{BusinessCalendar, Severity};
use mesa_conformance::memory::{MemoryMailer, TestClock};
use mesa_local::{DirBlobs, SqliteStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The customers, with how often each reports.
const CUSTOMERS: [(&str, &str, u32); 6] = [
    ("Maquiladora del Norte", "norte.mx", 30),
    ("Comercializadora del Bajío", "bajio.com.mx", 22),
    ("Hospital San Rafael", "sanrafael.org.mx", 16),
    ("Grupo Logístico Pacífico", "glpacifico.mx", 14),
    ("Colegio Hidalgo", "colegiohidalgo.edu.mx", 10),
    ("Farmacias La Salud", "lasalud.mx", 8),
];

const DESCRIPTIONS: [&str; 8] = [
    "Los lectores de la entrada principal no registran las checadas desde la mañana.",
    "El reporte de asistencia semanal sale vacío para el turno nocturno.",
    "Un empleado nuevo no aparece en el lector biométrico.",
    "El sistema está muy lento al consultar las incidencias del mes.",
    "No podemos exportar la nómina a Excel, marca error.",
    "¿Cómo configuro un horario con dos descansos?",
    "La huella de varios empleados ya no la reconoce el lector de la planta 2.",
    "El portal no abre para ningún usuario, nadie puede checar.",
];

#[derive(Debug, Clone)]
enum Step {
    Report {
        customer: usize,
        description: usize,
        severity: i64,
    },
    Deliver,
    Reply,
    Diagnose(&'static str),
    Wait,
    Resume,
    Log(i64),
    Answer,
    Close,
    Survey(bool),
    RootCause,
}

/// What was generated.
#[derive(Debug, Default)]
pub struct Generated {
    pub tickets: usize,
    pub steps: usize,
    /// Steps the desk refused (should be none: each ticket's steps are in a legal order).
    pub refused: Vec<String>,
}

fn business_day(calendar: &BusinessCalendar, d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !calendar.is_holiday(d)
}

/// Lives `tickets` tickets received in `month` (`YYYY-MM`) on the data directory `data`,
/// with the shipped rules; steps later than `horizon` are left undone.
pub async fn generate_month(
    data: &Path,
    month: &str,
    tickets: usize,
    seed: u64,
    horizon: DateTime<Utc>,
) -> Result<Generated, String> {
    std::fs::create_dir_all(data).map_err(|e| e.to_string())?;
    let policy = Policy::activate(Bundle::built_in()).map_err(|e| e.to_string())?;
    let calendar = policy.calendar().clone();
    let tz = calendar.time_zone();
    let (y, m) = month
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
        .ok_or_else(|| format!("{month} is not YYYY-MM"))?;
    let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or("no such month")?;
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| d.month() == m).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let response_hours = [0, 6, 12, 24, 36];
    let business = |t: DateTime<Utc>, hours: f64| {
        calendar
            .add(t, Duration::seconds((hours * 3600.0) as i64))
            .unwrap_or(t)
    };

    let mut plan: Vec<(DateTime<Utc>, usize, Step)> = Vec::new();
    for n in 0..tickets {
        let weight_total: u32 = CUSTOMERS.iter().map(|c| c.2).sum();
        let mut pick = rng.random_range(0..weight_total);
        let customer = CUSTOMERS
            .iter()
            .position(|c| {
                if pick < c.2 {
                    true
                } else {
                    pick -= c.2;
                    false
                }
            })
            .unwrap_or(0);
        // Mostly in business hours on business days; some early, late or on a weekend.
        let in_hours = rng.random_bool(0.85);
        let day = loop {
            let d = days[rng.random_range(0..days.len())];
            if !in_hours || business_day(&calendar, d) {
                break d;
            }
        };
        let minute = if in_hours {
            rng.random_range(9 * 60..18 * 60)
        } else {
            rng.random_range(6 * 60..23 * 60)
        };
        let local = day
            .and_hms_opt(minute / 60, minute % 60, rng.random_range(0..60))
            .unwrap();
        let received = tz
            .from_local_datetime(&local)
            .earliest()
            .unwrap()
            .with_timezone(&Utc);
        let severity = match rng.random_range(0..100) {
            0..4 => 1,
            4..20 => 2,
            20..70 => 3,
            _ => 4,
        };
        let description = if severity == 1 {
            7
        } else {
            rng.random_range(0..DESCRIPTIONS.len() - 1)
        };
        let mut steps = vec![(
            received,
            Step::Report {
                customer,
                description,
                severity,
            },
        )];
        let ack = received
            + Duration::minutes(if rng.random_bool(0.95) {
                rng.random_range(1..13)
            } else {
                rng.random_range(16..46)
            });
        steps.push((ack, Step::Deliver));
        // The last days' tickets are partly still being worked on.
        let unfinished = day.day() + 5 > days.len() as u32 && rng.random_bool(0.4);
        let target = f64::from(response_hours[severity as usize]);
        let share = if rng.random_bool(0.88) {
            rng.random_range(0.05..1.0)
        } else {
            rng.random_range(1.0..1.8)
        };
        let responded = business(received.max(ack), target * share);
        steps.push((responded, Step::Reply));
        if unfinished && rng.random_bool(0.5) {
            plan.extend(steps.into_iter().map(|(t, s)| (t, n, s)));
            continue;
        }
        let cause = match rng.random_range(0..100) {
            0..80 => "software_defect",
            80..90 => "misuse",
            90..95 => "infrastructure",
            _ => "third_party",
        };
        let mut t = business(responded, rng.random_range(0.5..3.0));
        steps.push((t, Step::Diagnose(cause)));
        if rng.random_bool(0.2) {
            t += Duration::minutes(10);
            steps.push((t, Step::Wait));
            t = business(t, rng.random_range(4.0..30.0));
            steps.push((t, Step::Resume));
        }
        if matches!(cause, "misuse" | "infrastructure") {
            t += Duration::minutes(20);
            steps.push((t, Step::Log(rng.random_range(30..241))));
        }
        if unfinished {
            plan.extend(steps.into_iter().map(|(t, s)| (t, n, s)));
            continue;
        }
        let days_to_answer = if severity == 1 {
            rng.random_range(0.05..0.8)
        } else {
            let longest = if rng.random_bool(0.9) { 9.0 } else { 13.0 };
            rng.random_range(0.2..longest)
        };
        t = business(t, days_to_answer * 9.0);
        steps.push((t, Step::Answer));
        t = business(t, rng.random_range(0.5..4.0));
        steps.push((t, Step::Close));
        steps.push((t + Duration::minutes(1), Step::Deliver));
        if rng.random_bool(0.6) {
            let answered = t + Duration::hours(rng.random_range(1..48));
            steps.push((answered, Step::Survey(rng.random_bool(0.85))));
        }
        if severity == 1 {
            steps.push((
                business(received, rng.random_range(40.0..250.0)),
                Step::RootCause,
            ));
        }
        plan.extend(steps.into_iter().map(|(t, s)| (t, n, s)));
    }
    plan.retain(|(t, _, _)| *t <= horizon);
    // In the order it happens, so the clock only moves forward.
    plan.sort_by_key(|(t, n, _)| (*t, *n));

    let store = Arc::new(SqliteStore::open(&data.join("mesa.sqlite")).map_err(|e| e.to_string())?);
    let blobs = Arc::new(DirBlobs::create(&data.join("blobs")).map_err(|e| e.to_string())?);
    let mailer = Arc::new(MemoryMailer::default());
    let clock = Arc::new(TestClock::at(plan.first().map_or(horizon, |p| p.0)));
    let desk = Desk::new(
        store,
        mailer.clone(),
        blobs,
        Arc::new(LiveRules::new(policy)),
        clock.clone(),
        DeskConfig::new(
            "http://127.0.0.1:8080",
            b"generated-month-secret-0123456789",
        ),
    );
    let staff = Actor::staff("generador");
    let mut folios: Vec<Option<String>> = vec![None; tickets];
    let mut out = Generated {
        tickets,
        ..Generated::default()
    };
    for (at, n, step) in plan {
        clock.set(at);
        out.steps += 1;
        let email = |customer: usize| format!("contacto{n}@{}", CUSTOMERS[customer].1);
        let result: Result<(), String> = async {
            if let Step::Report {
                customer,
                description,
                severity,
            } = &step
            {
                let form = FormInput {
                    company: CUSTOMERS[*customer].0.into(),
                    contact_name: format!("Contacto {n}"),
                    email: email(*customer),
                    phone: "55 5555 0000".into(),
                    support_type: "asistencia".into(),
                    description: DESCRIPTIONS[*description].into(),
                    ..FormInput::default()
                };
                let s = desk
                    .submit_form(&form, &[], None, "")
                    .await
                    .map_err(|e| e.to_string())?;
                let folio = s.ticket.folio.to_string();
                desk.act(
                    &folio,
                    &staff,
                    &Action::SetSeverity {
                        severity: Severity::new(*severity).unwrap(),
                        reason: "Confirmada con el cliente.".into(),
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
                folios[n] = Some(folio);
                return Ok(());
            }
            if let Step::Deliver = step {
                desk.deliver_outbox().await.map_err(|e| e.to_string())?;
                return Ok(());
            }
            let folio = folios[n].clone().ok_or("no folio yet")?;
            let action = match &step {
                Step::Reply => Action::Reply {
                    message: "Estamos revisando su reporte.".into(),
                    channel: ResponseChannel::Email,
                },
                Step::Diagnose(cause) => Action::Diagnose {
                    summary: "Revisado con el cliente.".into(),
                    cause: (*cause).into(),
                    vendor: (*cause == "third_party").then(|| "el proveedor de red".into()),
                    under_warranty: None,
                    replicated: Some(true),
                    serial: None,
                },
                Step::Wait => Action::Wait {
                    note: "¿Nos comparte la bitácora del lector?".into(),
                },
                Step::Resume => Action::Resume {
                    note: String::new(),
                },
                Step::Log(minutes) => Action::LogWork {
                    minutes: *minutes,
                    note: "Revisión remota.".into(),
                },
                Step::Answer => Action::Answer {
                    message: "Quedó resuelto; le explicamos la causa.".into(),
                },
                Step::Close => Action::Close {
                    note: String::new(),
                },
                Step::RootCause => Action::DeliverRootCause {
                    report: "Causa raíz y medidas para que no se repita.".into(),
                },
                Step::Survey(satisfied) => {
                    let sent = mailer.sent();
                    let to = desk
                        .ticket_by_folio(&folio)
                        .await
                        .map_err(|e| e.to_string())?
                        .customer
                        .email;
                    let mail = sent
                        .iter()
                        .rev()
                        .find(|m| m.to == to && m.text.contains("/csat/"))
                        .ok_or("no survey sent")?;
                    let at = mail.text.find("/csat/").unwrap() + "/csat/".len();
                    let token = mail.text[at..]
                        .split(char::is_whitespace)
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    desk.record_satisfaction(&token, *satisfied, "")
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(());
                }
                Step::Report { .. } | Step::Deliver => unreachable!(),
            };
            desk.act(&folio, &staff, &action)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = result {
            out.refused
                .push(format!("ticket {n} {step:?} at {at}: {e}"));
        }
    }
    Ok(out)
}
