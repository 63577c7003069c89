//! The bodies of the fuzz targets (`fuzz/`), here so that the seeds and every crash a fuzzer
//! found are replayed by an ordinary test (`tests/fuzz_replay.rs`) in `tests/run`. Each takes
//! arbitrary bytes and asserts what a customer or a support lead relies on; a panic is a
//! defect.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use mesa::desk::{Desk, DeskConfig, DeskError, EmailOutcomeKind};
use mesa::intake::FormInput;
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa::ticket::{Severity, TicketFacts};

use crate::memory::{MemoryBlobs, MemoryMailer, MemoryStore, TestClock};

/// The shipped rules, compiled once per process.
fn rules() -> Arc<LiveRules> {
    static RULES: OnceLock<Arc<LiveRules>> = OnceLock::new();
    RULES
        .get_or_init(|| {
            Arc::new(LiveRules::new(
                Policy::activate(Bundle::built_in()).expect("the shipped rules activate"),
            ))
        })
        .clone()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// Tuesday 10 November 2026, 10:00 in Mexico City: a working morning.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-10T16:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

struct Site {
    desk: Desk,
    store: Arc<MemoryStore>,
    mailer: Arc<MemoryMailer>,
}

fn site() -> Site {
    let store = Arc::new(MemoryStore::new());
    let mailer = Arc::new(MemoryMailer::default());
    let desk = Desk::new(
        store.clone(),
        mailer.clone(),
        Arc::new(MemoryBlobs::default()),
        rules(),
        Arc::new(TestClock::at(now())),
        DeskConfig::new("https://soporte.test", b"fuzz-secret-0123456789abcdef0123"),
    );
    Site {
        desk,
        store,
        mailer,
    }
}

/// Every header value of what mesa sends is one line.
fn assert_clean_headers(site: &Site) {
    for mail in site.mailer.sent() {
        for value in [&mail.to, &mail.subject, &mail.from_name, &mail.message_id] {
            assert!(
                !value.contains(['\r', '\n', '\0']),
                "a header value with a line break: {value:?}"
            );
        }
        assert!(
            mail.to_mime().is_ok(),
            "an outgoing message that cannot be encoded"
        );
    }
}

/// E-mail intake: any bytes are either a ticket (acknowledged, with clean headers), a reply
/// recorded on one, or set aside; never an error or a panic, never two tickets.
pub fn email_intake(raw: &[u8]) {
    let site = site();
    runtime().block_on(async {
        let outcome = site
            .desk
            .intake_email(raw, now())
            .await
            .expect("a message is taken in or set aside, never refused with an error");
        let tickets = site.store.ticket_count();
        assert!(tickets <= 1, "{tickets} tickets from one message");
        if outcome.outcome == EmailOutcomeKind::Created {
            assert_eq!(tickets, 1);
            assert!(outcome.folio.is_some());
        }
        site.desk.deliver_outbox().await.expect("the outbox runs");
        assert_clean_headers(&site);
        // The same bytes again are the same ticket.
        site.desk
            .intake_email(raw, now())
            .await
            .expect("a repeat is taken in or set aside");
        assert!(
            site.store.ticket_count() <= 1,
            "a repeat made a second ticket"
        );
    });
}

/// The JSON form API: any body either decodes into a form that is taken in (a ticket, an
/// acknowledgement with clean headers) or is refused with field errors; never a panic or
/// another error.
pub fn form_json(body: &[u8]) {
    let Ok(input) = serde_json::from_slice::<FormInput>(body) else {
        return;
    };
    let site = site();
    runtime().block_on(async {
        match site.desk.submit_form(&input, &[], None, "").await {
            Ok(submitted) => {
                assert!((1..=4).contains(&submitted.ticket.severity.level()));
                site.desk.deliver_outbox().await.expect("the outbox runs");
                assert_clean_headers(&site);
            }
            Err(DeskError::Invalid(errors)) => assert!(!errors.is_empty()),
            Err(e) => panic!("a form neither taken nor refused with field errors: {e}"),
        }
    });
}

/// The shipped rules on arbitrary facts: JSON ticket facts may be refused with a rules error
/// (a field no intake writes), but any text as intake passes it (cut to the longest
/// description it takes) gets a severity from 1 to 4 with a reason and milestones that plan:
/// a customer's words never leave a report unclassified. Never a panic.
pub fn rules_classify(data: &[u8]) {
    let policy = rules().current();
    if let Ok(facts) = serde_json::from_slice::<TicketFacts>(data) {
        if let Ok(class) = policy.classify(&facts) {
            assert!((1..=4).contains(&class.severity.level()));
            for severity in [class.severity, Severity::CRITICAL] {
                let _ = policy.plan(&facts, now(), severity);
            }
        }
        return;
    }
    let text: String = String::from_utf8_lossy(data)
        .chars()
        .take(mesa::intake::MAX_DESCRIPTION_CHARS)
        .collect();
    let facts = TicketFacts {
        subject: text
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect(),
        description: text,
        channel: "email".into(),
        ..TicketFacts::default()
    };
    let class = policy
        .classify(&facts)
        .expect("a customer's text is always classified");
    assert!((1..=4).contains(&class.severity.level()));
    assert!(!class.reason.trim().is_empty());
    for severity in [class.severity, Severity::CRITICAL] {
        let plan = policy
            .plan(&facts, now(), severity)
            .expect("a classified report always plans");
        assert!(!plan.milestones.is_empty());
    }
}
