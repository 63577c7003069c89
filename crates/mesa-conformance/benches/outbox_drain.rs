//! How fast the outbox drains acknowledgements after a burst, one message at a time against
//! several at a time, for mail servers that answer in 0, 20 and 60 ms (SES answers a send in
//! tens of milliseconds). In memory, so the figure is the desk's own delivery loop and the
//! mail server's wait, not a store: `cargo bench -p mesa-conformance --bench outbox_drain`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mesa::desk::{Desk, DeskConfig};
use mesa::intake::FormInput;
use mesa::outbox::{MailError, OutgoingMail};
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa::ports::{Mailer, SystemClock};
use mesa_conformance::memory::{MemoryMailer, MemoryStore};

/// A mail server that takes `latency` to answer each send.
struct SlowServer {
    inner: MemoryMailer,
    latency: Duration,
}

#[async_trait]
impl Mailer for SlowServer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Option<String>, MailError> {
        tokio::time::sleep(self.latency).await;
        self.inner.send(mail).await
    }
}

const TICKETS: usize = 300;

async fn drain(rules: Arc<LiveRules>, latency: Duration, concurrency: usize) -> (f64, usize) {
    let mut config = DeskConfig::new("https://soporte.test", b"bench-secret-0123456789abcdef012");
    config.delivery_concurrency = concurrency;
    let mailer = Arc::new(SlowServer {
        inner: MemoryMailer::default(),
        latency,
    });
    let desk = Desk::new(
        Arc::new(MemoryStore::new()),
        mailer.clone(),
        Arc::new(mesa_conformance::memory::MemoryBlobs::default()),
        rules,
        Arc::new(SystemClock),
        config,
    );
    for i in 0..TICKETS {
        let form = FormInput {
            company: "Comercializadora del Bajío".into(),
            contact_name: format!("Contacto {i}"),
            email: format!("contacto{i}@bajio.com.mx"),
            phone: "442 123 4567".into(),
            support_type: "asistencia".into(),
            description: "El reporte de asistencias no exporta a Excel.".into(),
            serial: String::new(),
            idempotency_key: Some(format!("bench-{i}")),
            upload_tokens: Vec::new(),
            impact_scope: None,
            operation_continues: None,
            workaround: None,
        };
        desk.submit_form(&form, &[], None, "").await.expect("taken");
    }
    let started = Instant::now();
    let mut sent = 0;
    while sent < TICKETS {
        let report = desk.deliver_outbox().await.expect("delivered");
        sent += report.sent;
        if report.sent == 0 {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    (sent as f64 / seconds, mailer.inner.sent().len())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let rules = Arc::new(LiveRules::new(
        Policy::activate(Bundle::built_in()).expect("the built-in rules"),
    ));
    println!("outbox drain: {TICKETS} acknowledgements after a burst, in memory");
    println!("| mail server answers in | one at a time | 8 at a time | speed-up |");
    println!("|---|---|---|---|");
    for latency_ms in [0u64, 20, 60] {
        let latency = Duration::from_millis(latency_ms);
        let (one, sent_one) = runtime.block_on(drain(rules.clone(), latency, 1));
        let (eight, sent_eight) = runtime.block_on(drain(rules.clone(), latency, 8));
        assert_eq!(
            (sent_one, sent_eight),
            (TICKETS, TICKETS),
            "every ack sent once"
        );
        println!(
            "| {latency_ms} ms | {one:.0}/s | {eight:.0}/s | {:.1}× |",
            eight / one
        );
    }
}
