//! The statistics of a month, worked out by hand, from the same tickets on every store.
//!
//! Eight tickets, driven through the desk (the shipped rules; business hours Monday to
//! Friday 9:00–18:00 in Mexico City, Monday 16 November 2026 a holiday) and read on Monday
//! 30 November at 17:00. Times below are Mexico City's; "bh" is business hours.
//!
//! | ticket | customer | received | sev | what happens | counts in November |
//! |---|---|---|---|---|---|
//! | T0 | Norte | Mon 26 Oct 10:00 | 3 | ack 4 min, reply 11:00, answer 12:00, closed | nothing (all in October) |
//! | T1 | Norte | Fri 30 Oct 17:00 | 2 | ack 5 min; reply Tue 3 Nov 10:00 (1+9+1 = 11 bh of 12); answer Wed 4 Nov 10:00 (20 bh = 2.22 days) | response met 11 bh, resolution met 2.22 d (month boundary) |
//! | T2 | Norte | Tue 10 Nov 10:00 | 2 | ack 3 min, reply 12:00 (2 bh), diagnosed covered, 30 min logged, answer 15:00 (5 bh), closed, survey yes, answered again (refused) | ack met, response met, resolution met 0.56 d, satisfied |
//! | T3 | Norte | Wed 11 Nov 10:00 | 1 | ack 20 min; reply Thu 12 Nov 10:00 (8+1 = 9 bh of 6); answer 12:00 (11 bh = 1.22 d of 1) | ack breached, response breached, recovery breached; root cause still running, due in January |
//! | T4 | Bajío | Thu 12 Nov 9:00 | 3 | ack 10 min, diagnosed misuse (billable), waits 10:00 (its question to the customer is the response: 1 bh of 24), resumes Tue 17 Nov 10:00, reply 12:00, 90 min logged, answer 16:00 (resolution paused while waiting: 1+6 = 7 bh = 0.78 d) | paused: ack, response, resolution met; 90 billable minutes |
//! | T5 | Bajío | Fri 13 Nov 9:00 | 4 | ack 1 min, answer 11:00 (2 bh), closed, survey no (reopens 12:00), answer Wed 18 Nov 10:00 (2+6+9+1 = 18 bh = 2 d: the time closed is not counted), closed, survey yes | reopened: ack, response met 2 bh, resolution met 2.0 d, one unsatisfied and one satisfied closing |
//! | T6 | Norte | Fri 27 Nov 16:00 | 2 | ack 5 min | response still running (10 of 12 bh, due 1 Dec): not counted; at risk now |
//! | T7 | Bajío | Wed 25 Nov 10:00 | 2 | ack 2 min, never answered | response breached while running (due Thu 26 Nov 13:00); breached now |

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use mesa::Severity;
use mesa::desk::{Desk, DeskConfig, DeskError};
use mesa::intake::FormInput;
use mesa::lifecycle::Action;
use mesa::model::{Actor, ResponseChannel};
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa::stats::{MilestoneFigures, Period, Statistics};

use crate::Store;
use crate::memory::{MemoryBlobs, MemoryMailer, TestClock};

/// An instant given in Mexico City's time (UTC−6 all year since 2022).
fn mx(local: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M")
        .expect("YYYY-MM-DD HH:MM")
        .and_utc()
        + chrono::Duration::hours(6)
}

struct Month {
    desk: Desk,
    clock: Arc<TestClock>,
    mailer: Arc<MemoryMailer>,
}

impl Month {
    fn at(&self, local: &str) {
        self.clock.set(mx(local));
    }

    async fn report(&self, local: &str, n: u32, company: &str, severity: i64) -> String {
        self.at(local);
        let domain = if company.contains("Norte") {
            "norte.mx"
        } else {
            "bajio.com.mx"
        };
        let form = FormInput {
            company: company.into(),
            contact_name: format!("Contacto {n}"),
            email: format!("t{n}@{domain}"),
            phone: "81 5555 1234".into(),
            support_type: "asistencia".into(),
            description: format!("Reporte {n}: los empleados no pueden consultar su asistencia."),
            ..FormInput::default()
        };
        let folio = self
            .desk
            .submit_form(&form, &[], None, "")
            .await
            .expect("form taken in")
            .ticket
            .folio
            .to_string();
        self.act(
            &folio,
            Action::SetSeverity {
                severity: Severity::new(severity).unwrap(),
                reason: "Confirmada con el cliente".into(),
            },
        )
        .await;
        folio
    }

    /// Sends what is due now (acknowledgements, answers, surveys).
    async fn deliver(&self, local: &str) {
        self.at(local);
        self.desk.deliver_outbox().await.expect("delivered");
    }

    async fn act(&self, folio: &str, action: Action) {
        self.desk
            .act(folio, &Actor::staff("luisa"), &action)
            .await
            .unwrap_or_else(|e| panic!("{action:?} on {folio}: {e}"));
    }

    async fn act_at(&self, local: &str, folio: &str, action: Action) {
        self.at(local);
        self.act(folio, action).await;
    }

    async fn reply(&self, local: &str, folio: &str) {
        self.act_at(
            local,
            folio,
            Action::Reply {
                message: "Estamos revisándolo.".into(),
                channel: ResponseChannel::Phone,
            },
        )
        .await;
    }

    async fn diagnose(&self, local: &str, folio: &str, cause: &str) {
        self.act_at(
            local,
            folio,
            Action::Diagnose {
                summary: "Revisado con el cliente.".into(),
                cause: cause.into(),
                vendor: None,
                under_warranty: None,
                replicated: Some(true),
                serial: None,
            },
        )
        .await;
    }

    async fn answer(&self, local: &str, folio: &str) {
        self.act_at(
            local,
            folio,
            Action::Answer {
                message: "Quedó resuelto.".into(),
            },
        )
        .await;
    }

    async fn close(&self, local: &str, folio: &str) {
        self.act_at(
            local,
            folio,
            Action::Close {
                note: String::new(),
            },
        )
        .await;
    }

    async fn log(&self, local: &str, folio: &str, minutes: i64) {
        self.act_at(
            local,
            folio,
            Action::LogWork {
                minutes,
                note: String::new(),
            },
        )
        .await;
    }

    /// The link of the last survey sent to `email`.
    fn survey_token(&self, email: &str) -> String {
        let sent = self.mailer.sent();
        let mail = sent
            .iter()
            .rev()
            .find(|m| m.to == email && m.text.contains("/csat/"))
            .expect("a survey was sent");
        let at = mail.text.find("/csat/").unwrap() + "/csat/".len();
        mail.text[at..]
            .split(char::is_whitespace)
            .next()
            .unwrap()
            .to_string()
    }

    async fn survey(&self, local: &str, email: &str, satisfied: bool) -> Result<(), DeskError> {
        self.at(local);
        let token = self.survey_token(email);
        self.desk
            .record_satisfaction(&token, satisfied, "")
            .await
            .map(|_| ())
    }
}

fn milestone<'a>(s: &'a [MilestoneFigures], name: &str) -> &'a MilestoneFigures {
    s.iter()
        .find(|m| m.milestone == name)
        .unwrap_or_else(|| panic!("no milestone {name}: {s:?}"))
}

/// (count, p50, p90, max, met, breached, compliance) of one milestone.
type Row = (
    u64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    u64,
    u64,
    Option<f64>,
);

fn row(m: &MilestoneFigures) -> Row {
    (
        m.time.count,
        m.time.p50,
        m.time.p90,
        m.time.max,
        m.met,
        m.breached,
        m.compliance,
    )
}

/// Lives the month above on `store` and checks its statistics.
pub async fn statistics_of_a_month(store: Store) {
    let policy = Policy::activate(Bundle::built_in()).expect("the shipped rules activate");
    let tz = policy.calendar().time_zone();
    let clock = Arc::new(TestClock::at(mx("2026-10-26 10:00")));
    let mailer = Arc::new(MemoryMailer::default());
    let m = Month {
        desk: Desk::new(
            store,
            mailer.clone(),
            Arc::new(MemoryBlobs::default()),
            Arc::new(LiveRules::new(policy)),
            clock.clone(),
            DeskConfig::new("https://soporte.test", b"stats-test-secret-0123456789abcd"),
        ),
        clock,
        mailer,
    };
    let norte = "Maquiladora del Norte";
    let bajio = "Comercializadora del Bajío";

    // In the order it happened (the clock only moves forward).
    let t0 = m.report("2026-10-26 10:00", 0, norte, 3).await;
    m.deliver("2026-10-26 10:04").await;
    m.reply("2026-10-26 11:00", &t0).await;
    m.diagnose("2026-10-26 11:30", &t0, "software_defect").await;
    m.answer("2026-10-26 12:00", &t0).await;
    m.close("2026-10-26 12:30", &t0).await;

    let t1 = m.report("2026-10-30 17:00", 1, norte, 2).await;
    m.deliver("2026-10-30 17:05").await;
    m.reply("2026-11-03 10:00", &t1).await;
    m.diagnose("2026-11-04 09:30", &t1, "software_defect").await;
    m.answer("2026-11-04 10:00", &t1).await;
    m.close("2026-11-04 10:30", &t1).await;

    let t2 = m.report("2026-11-10 10:00", 2, norte, 2).await;
    m.deliver("2026-11-10 10:03").await;
    m.reply("2026-11-10 12:00", &t2).await;
    m.diagnose("2026-11-10 14:00", &t2, "software_defect").await;
    m.log("2026-11-10 14:30", &t2, 30).await;
    m.answer("2026-11-10 15:00", &t2).await;
    m.close("2026-11-10 15:30", &t2).await;
    m.deliver("2026-11-10 15:30").await;
    m.survey("2026-11-10 16:00", "t2@norte.mx", true)
        .await
        .expect("the survey answered");
    assert!(
        m.survey("2026-11-10 16:05", "t2@norte.mx", false)
            .await
            .is_err(),
        "a survey is answered once per closing"
    );

    let t3 = m.report("2026-11-11 10:00", 3, norte, 1).await;
    m.deliver("2026-11-11 10:20").await;

    let t4 = m.report("2026-11-12 09:00", 4, bajio, 3).await;
    m.deliver("2026-11-12 09:10").await;
    m.diagnose("2026-11-12 09:30", &t4, "misuse").await;
    m.reply("2026-11-12 10:00", &t3).await;
    m.act_at(
        "2026-11-12 10:00",
        &t4,
        Action::Wait {
            note: "¿Nos envía la bitácora del lector?".into(),
        },
    )
    .await;
    m.diagnose("2026-11-12 11:00", &t3, "software_defect").await;
    m.answer("2026-11-12 12:00", &t3).await;
    m.close("2026-11-12 12:30", &t3).await;

    let t5 = m.report("2026-11-13 09:00", 5, bajio, 4).await;
    m.deliver("2026-11-13 09:01").await;
    m.diagnose("2026-11-13 10:00", &t5, "software_defect").await;
    m.answer("2026-11-13 11:00", &t5).await;
    m.close("2026-11-13 11:30", &t5).await;
    m.deliver("2026-11-13 11:30").await;
    m.survey("2026-11-13 12:00", "t5@bajio.com.mx", false)
        .await
        .expect("the first survey answered: not satisfied reopens");

    m.act_at(
        "2026-11-17 10:00",
        &t4,
        Action::Resume {
            note: String::new(),
        },
    )
    .await;
    m.reply("2026-11-17 12:00", &t4).await;
    m.log("2026-11-17 12:30", &t4, 90).await;
    m.answer("2026-11-17 16:00", &t4).await;
    m.close("2026-11-17 16:30", &t4).await;

    m.answer("2026-11-18 10:00", &t5).await;
    m.close("2026-11-18 10:30", &t5).await;
    m.deliver("2026-11-18 10:30").await;
    m.survey("2026-11-18 11:00", "t5@bajio.com.mx", true)
        .await
        .expect("the second closing's survey answered");

    let t7 = m.report("2026-11-25 10:00", 7, bajio, 2).await;
    m.deliver("2026-11-25 10:02").await;
    let t6 = m.report("2026-11-27 16:00", 6, norte, 2).await;
    m.deliver("2026-11-27 16:05").await;

    m.at("2026-11-30 17:00");
    let november = Period::month("2026-11", &tz).unwrap();
    let s: Statistics = m.desk.statistics(november, None).await.unwrap();
    let o = &s.overall;
    assert_eq!(o.received, 6, "T2–T7");
    assert_eq!(o.received_by_channel.get("form"), Some(&6));
    assert_eq!(
        row(milestone(&o.milestones, "acknowledgement")),
        // Minutes: 1, 2, 3, 5, 10, 20 (T3's, over 15).
        (6, Some(3.0), Some(20.0), Some(20.0), 5, 1, Some(0.8333))
    );
    assert_eq!(milestone(&o.milestones, "acknowledgement").unit, "minutes");
    assert_eq!(
        row(milestone(&o.milestones, "response")),
        // Business hours: 1 (T4, its question), 2 (T2), 2 (T5), 9 (T3, breached), 11 (T1);
        // and T7 breached while running, with no time yet.
        (5, Some(2.0), Some(11.0), Some(11.0), 4, 2, Some(0.6667))
    );
    assert_eq!(milestone(&o.milestones, "response").unit, "business_hours");
    assert_eq!(
        row(milestone(&o.milestones, "resolution")),
        // Business days: 0.56 (T2), 0.78 (T4), 2.0 (T5), 2.22 (T1).
        (4, Some(0.78), Some(2.22), Some(2.22), 4, 0, Some(1.0))
    );
    assert_eq!(milestone(&o.milestones, "resolution").unit, "business_days");
    assert_eq!(
        row(milestone(&o.milestones, "recovery")),
        (1, Some(1.22), Some(1.22), Some(1.22), 0, 1, Some(0.0))
    );
    assert_eq!(
        row(milestone(&o.milestones, "root_cause")),
        (0, None, None, None, 0, 0, None)
    );
    assert_eq!(
        (
            o.satisfaction.answered,
            o.satisfaction.satisfied,
            o.satisfaction.share
        ),
        (3, 2, Some(0.6667)),
        "T2 yes (its second answer refused), T5 no then yes"
    );

    let s2 = &s.by_severity["2"];
    assert_eq!(s2.received, 3, "T2, T6, T7");
    assert_eq!(
        row(milestone(&s2.milestones, "response")),
        (2, Some(2.0), Some(11.0), Some(11.0), 2, 1, Some(0.6667))
    );
    assert_eq!(s.by_severity["1"].received, 1);
    assert_eq!(
        s.by_customer
            .iter()
            .map(|c| (c.customer.as_str(), c.figures.received))
            .collect::<Vec<_>>(),
        vec![(bajio, 3), (norte, 3)]
    );

    let b = &s.billing;
    assert_eq!(
        (b.tickets, b.billable_minutes, b.logged_minutes),
        (1, 90, 120),
        "T4's 90 minutes are billable, T2's 30 are not"
    );
    // Two hours started: USD 65 + 45, plus 16 % IVA.
    assert_eq!(
        (
            b.subtotal_cents,
            b.iva_cents,
            b.total_cents,
            b.currency.as_str()
        ),
        (11_000, 1_760, 12_760, "USD")
    );
    assert_eq!(s.exclusions.by_coverage.get("covered"), Some(&4));
    assert_eq!(
        s.exclusions.by_coverage.get("customer_attributable"),
        Some(&1)
    );
    assert_eq!(s.exclusions.causes_not_covered.get("misuse"), Some(&1));
    assert_eq!(
        (s.backlog.open, s.backlog.at_risk, s.backlog.breached),
        (2, 1, 1),
        "T6 at risk, T7 breached"
    );
    assert_eq!(s.backlog.open_by_severity.get("2"), Some(&2));
    assert_eq!(s.definitions.len(), mesa::stats::DEFINITIONS.len());

    // One customer, by its mail domain.
    let norte_only = m.desk.statistics(november, Some("norte.mx")).await.unwrap();
    assert_eq!(norte_only.overall.received, 3, "T2, T3, T6");
    assert_eq!(
        row(milestone(&norte_only.overall.milestones, "response")),
        (3, Some(9.0), Some(11.0), Some(11.0), 2, 1, Some(0.6667))
    );
    assert_eq!(norte_only.by_customer.len(), 1);

    // October ends where November begins: T0 and T1 received, T1's response not counted
    // (it ran on into November, not yet due).
    let october = Period::month("2026-10", &tz).unwrap();
    let s = m.desk.statistics(october, None).await.unwrap();
    assert_eq!(s.overall.received, 2);
    assert_eq!(
        row(milestone(&s.overall.milestones, "acknowledgement")),
        (2, Some(4.0), Some(5.0), Some(5.0), 2, 0, Some(1.0))
    );
    assert_eq!(
        row(milestone(&s.overall.milestones, "response")),
        (1, Some(1.0), Some(1.0), Some(1.0), 1, 0, Some(1.0))
    );
    assert_eq!(
        row(milestone(&s.overall.milestones, "resolution")),
        (1, Some(0.22), Some(0.22), Some(0.22), 1, 0, Some(1.0))
    );

    // What-if: the same month under rules that give severity 2 eight business hours to
    // respond instead of twelve. Exactly the severity-2 tickets' response deadlines move
    // (T1's too: its response counts in November), and T1 (11 h) and T6 (10 h so far)
    // become breached.
    let built_in = Bundle::built_in();
    let severity = built_in.text("severity.rhai").expect("severity.rhai");
    let twelve = "fn response_hours() { [0, 6, 12, 24, 36] }";
    assert!(
        severity.contains(twelve),
        "the shipped S2 response time is 12 h"
    );
    let edited = severity.replace(twelve, "fn response_hours() { [0, 6, 8, 24, 36] }");
    let candidate = Bundle::from_files(built_in.files().map(|(path, bytes)| {
        if path == "severity.rhai" {
            (path.to_string(), edited.as_bytes().to_vec())
        } else {
            (path.to_string(), bytes.to_vec())
        }
    }))
    .unwrap();
    let candidate = Policy::compile(candidate).unwrap();
    let r = m.desk.replay(&candidate, november, |_| {}).await.unwrap();
    let mut moved: Vec<(String, Vec<String>)> = r
        .differences
        .iter()
        .map(|d| {
            assert_eq!(d.severity_before, d.severity_after);
            (
                d.folio.to_string(),
                d.deadlines.iter().map(|m| m.milestone.clone()).collect(),
            )
        })
        .collect();
    moved.sort();
    let mut expected: Vec<(String, Vec<String>)> = [&t1, &t2, &t6, &t7]
        .iter()
        .map(|f| (f.to_string(), vec!["response".to_string()]))
        .collect();
    expected.sort();
    assert_eq!(moved, expected);
    let t6_move = r
        .differences
        .iter()
        .find(|d| d.folio.as_str() == t6)
        .unwrap();
    assert_eq!(t6_move.deadlines[0].before, Some(mx("2026-12-01 10:00")));
    assert_eq!(t6_move.deadlines[0].after, Some(mx("2026-11-30 15:00")));
    let response = r
        .compliance
        .iter()
        .find(|c| c.milestone == "response")
        .unwrap();
    assert_eq!(
        (
            response.met_before,
            response.breached_before,
            response.compliance_before,
            response.met_after,
            response.breached_after,
            response.compliance_after
        ),
        (4, 2, Some(0.6667), 3, 4, Some(0.4286))
    );
    assert_eq!(
        (r.billed_before_cents, r.billed_after_cents),
        (12_760, 12_760)
    );
}
