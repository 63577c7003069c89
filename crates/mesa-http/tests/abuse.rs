//! The customer's pages against abuse, through the router in-process: a replayed page token,
//! the anti-bot fill time as a person meets it, oversized requests, and one customer's data
//! on another customer's pages.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use mesa::desk::{Desk, DeskConfig};
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa_conformance::memory::{MemoryBlobs, MemoryMailer, MemoryStore, TestClock};
use mesa_http::{AppState, router};
use tower::ServiceExt as _;

struct Site {
    clock: Arc<TestClock>,
    app: axum::Router,
    desk: Arc<Desk>,
    mailer: Arc<MemoryMailer>,
}

fn site() -> Site {
    site_with(|state| state)
}

fn site_with(configure: impl FnOnce(AppState) -> AppState) -> Site {
    site_on(Arc::new(MemoryStore::new()), configure)
}

fn site_on(
    store: Arc<dyn mesa::ports::Store>,
    configure: impl FnOnce(AppState) -> AppState,
) -> Site {
    let clock = Arc::new(TestClock::at(
        DateTime::parse_from_rfc3339("2026-11-10T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
    ));
    let mailer = Arc::new(MemoryMailer::default());
    let desk = Arc::new(Desk::new(
        store,
        mailer.clone(),
        Arc::new(MemoryBlobs::default()),
        Arc::new(LiveRules::new(
            Policy::activate(Bundle::built_in()).unwrap(),
        )),
        clock.clone(),
        DeskConfig::new(
            "http://127.0.0.1:8080",
            b"abuse-test-secret-0123456789abcdef",
        ),
    ));
    let app = router(Arc::new(configure(AppState::new(
        desk.clone(),
        "staff-token".into(),
    ))));
    Site {
        clock,
        app,
        desk,
        mailer,
    }
}

async fn text(r: Response) -> String {
    String::from_utf8(
        axum::body::to_bytes(r.into_body(), 4 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn hidden_token(html: &str) -> String {
    let at = html
        .find("name=\"form_token\" value=\"")
        .expect("a form token")
        + 25;
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

/// One customer as the form knows them.
struct Person {
    company: &'static str,
    name: &'static str,
    email: &'static str,
    phone: &'static str,
    report: &'static str,
}

/// The page's fields as a browser sends them (multipart).
fn multipart(token: &str, email: &str, description: &str) -> (String, Vec<u8>) {
    multipart_of(
        token,
        &Person {
            company: "Comercializadora del Bajío",
            name: "Ana Pérez Gómez",
            email: "",
            phone: "442 123 4567",
            report: "",
        },
        email,
        description,
    )
}

fn multipart_of(token: &str, who: &Person, email: &str, description: &str) -> (String, Vec<u8>) {
    let boundary = "----mesa-abuse-test";
    let fields = [
        ("form_token", token),
        ("website", ""),
        ("company", who.company),
        ("contact_name", who.name),
        ("email", email),
        ("phone", who.phone),
        ("support_type", "asistencia"),
        ("description", description),
        ("impact_scope", "one"),
        ("operation_continues", "si"),
        ("workaround", "si"),
    ];
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Site {
    async fn send(&self, req: Request<Body>) -> Response {
        self.app.clone().oneshot(req).await.unwrap()
    }

    async fn form_page(&self) -> String {
        let r = self
            .send(Request::get("/").body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        text(r).await
    }

    async fn post_form(&self, token: &str, email: &str, description: &str) -> (StatusCode, String) {
        self.post(multipart(token, email, description)).await
    }

    async fn post(&self, (content_type, body): (String, Vec<u8>)) -> (StatusCode, String) {
        let r = self
            .send(
                Request::post("/tickets")
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        let status = r.status();
        (status, text(r).await)
    }
}

const REPORT: &str = "El reporte de asistencias no exporta a Excel desde ayer.";

const ANA: Person = Person {
    company: "Tortillería La Esperanza",
    name: "Ana Pérez Gómez",
    email: "ana@bajio.com.mx",
    phone: "442 123 4567",
    report: "El lector de la entrada norte no enciende desde la mañana.",
};

const ROBERTO: Person = Person {
    company: "Ferretería León",
    name: "Roberto Ruiz Salas",
    email: "roberto@ferreterialeon.mx",
    phone: "477 765 4321",
    report: "No podemos descargar el reporte de retardos de octubre.",
};

impl Person {
    /// Everything of this customer that another customer must never see.
    fn data(&self) -> [&'static str; 5] {
        [self.company, self.name, self.email, self.phone, self.report]
    }
}

fn assert_shows_nothing_of(page: &str, other: &Person, other_folio: &str, what: &str) {
    for private in other.data().iter().chain([&other_folio]) {
        assert!(
            !page.contains(private),
            "{what} shows {private:?} of another customer:\n{page}"
        );
    }
}

#[tokio::test]
async fn no_customer_page_shows_another_customers_data() {
    let site = site();
    let mut folios = Vec::new();
    let mut pages = Vec::new();
    for who in [&ANA, &ROBERTO] {
        let token = hidden_token(&site.form_page().await);
        site.clock.advance(Duration::seconds(40));
        let (status, page) = site
            .post(multipart_of(&token, who, who.email, who.report))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{page}");
        let at = page.find("ING-2026-").expect("the folio is shown");
        folios.push(page[at..at + 15].to_string());
        pages.push(page);
    }
    // The form for the next customer is blank.
    let blank = site.form_page().await;
    assert_shows_nothing_of(&blank, &ANA, &folios[0], "the form");
    assert_shows_nothing_of(&blank, &ROBERTO, &folios[1], "the form");
    assert_shows_nothing_of(&pages[0], &ROBERTO, &folios[1], "Ana's confirmation");
    assert_shows_nothing_of(&pages[1], &ANA, &folios[0], "Roberto's confirmation");

    // Each ticket solved and closed: each customer's survey page is about their ticket only.
    let staff = mesa::model::Actor::staff("luisa");
    for folio in &folios {
        for action in [
            mesa::lifecycle::Action::Diagnose {
                summary: "Revisado".into(),
                cause: "software_defect".into(),
                vendor: None,
                under_warranty: None,
                replicated: None,
                serial: None,
            },
            mesa::lifecycle::Action::Answer {
                message: "Quedó corregido.".into(),
            },
            mesa::lifecycle::Action::Close {
                note: String::new(),
            },
        ] {
            site.desk.act(folio, &staff, &action).await.unwrap();
        }
    }
    site.desk.deliver_outbox().await.unwrap();
    let survey_of = |who: &Person| {
        let sent = site.mailer.sent();
        let text = sent
            .iter()
            .rev()
            .find(|m| m.to == who.email && m.text.contains("/csat/"))
            .map(|m| m.text.clone())
            .expect("a survey mail");
        let at = text.find("/csat/").unwrap();
        text[at..]
            .split(|c: char| c.is_whitespace() || c == '>')
            .next()
            .unwrap()
            .to_string()
    };
    let surveys = [survey_of(&ANA), survey_of(&ROBERTO)];
    assert_ne!(surveys[0], surveys[1]);
    for (i, (path, other)) in surveys.iter().zip([&ROBERTO, &ANA]).enumerate() {
        let r = site
            .send(Request::get(path.as_str()).body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let page = text(r).await;
        assert!(page.contains(&folios[i]), "{page}");
        assert_shows_nothing_of(&page, other, &folios[1 - i], "a survey page");
    }

    // The public status page names no customer.
    let r = site
        .send(Request::get("/estado").body(Body::empty()).unwrap())
        .await;
    let page = text(r).await;
    assert_shows_nothing_of(&page, &ANA, &folios[0], "the status page");
    assert_shows_nothing_of(&page, &ROBERTO, &folios[1], "the status page");
}

#[tokio::test]
async fn a_person_correcting_one_field_after_an_error_is_not_told_the_form_was_too_fast() {
    let site = site();
    let page = site.form_page().await;
    // A minute to fill in the form, with a typo in the address.
    site.clock.advance(Duration::seconds(60));
    let (status, page) = site
        .post_form(&hidden_token(&page), "ana@bajio", REPORT)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    // The address fixed and sent again a second later.
    site.clock.advance(Duration::seconds(1));
    let (status, page) = site
        .post_form(&hidden_token(&page), "ana@bajio.com.mx", REPORT)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert!(!page.contains("demasiado rápido"));
}

#[tokio::test]
async fn a_robot_posting_the_moment_the_page_loads_is_still_refused() {
    let site = site();
    let page = site.form_page().await;
    let (status, page) = site
        .post_form(&hidden_token(&page), "ana@bajio.com.mx", REPORT)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("demasiado rápido"), "{page}");
    // Posting the re-shown page at once again does not start a fresh clock either way.
    let (status, _) = site
        .post_form(&hidden_token(&page), "ana@bajio.com.mx", REPORT)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_replayed_page_token_with_another_report_is_refused_and_shows_nothing_of_the_first() {
    let site = site();
    let token = hidden_token(&site.form_page().await);
    site.clock.advance(Duration::seconds(30));
    let (status, first) = site.post_form(&token, "ana@bajio.com.mx", REPORT).await;
    assert_eq!(status, StatusCode::CREATED);
    let folio_at = first.find("ING-2026-").expect("the folio is shown");
    let folio = &first[folio_at..folio_at + 15];
    // Sent twice (a double click, a reload): the same ticket again.
    let (status, again) = site.post_form(&token, "ana@bajio.com.mx", REPORT).await;
    assert_eq!(status, StatusCode::OK);
    assert!(again.contains(folio));
    // The same token with someone else's report: refused, the first report not shown.
    let (status, replay) = site
        .post_form(
            &token,
            "intruso@otro.mx",
            "Quiero ver los datos de otro cliente.",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(replay.contains("ya se envió"), "{replay}");
    assert!(!replay.contains(folio) && !replay.contains("ana@bajio.com.mx"));
    // The page shown again carries a fresh token, so the other report can be sent with it.
    let fresh = hidden_token(&replay);
    assert_ne!(fresh, token);
    site.clock.advance(Duration::seconds(20));
    let (status, page) = site
        .post_form(
            &fresh,
            "intruso@otro.mx",
            "Quiero ver los datos de otro cliente.",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert!(!page.contains(folio));
}

#[tokio::test]
async fn a_forged_page_token_is_refused() {
    let site = site();
    let token = hidden_token(&site.form_page().await);
    site.clock.advance(Duration::seconds(30));
    let mut forged = token.clone();
    forged.replace_range(0..1, if token.starts_with('1') { "2" } else { "1" });
    for bad in [forged.as_str(), "", "1.abc.def"] {
        let (status, page) = site.post_form(bad, "ana@bajio.com.mx", REPORT).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(page.contains("recargue la página"), "{page}");
    }
}

#[tokio::test]
async fn an_oversized_submission_is_refused_with_413_without_being_read_whole() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let site = site();
    let read = Arc::new(AtomicUsize::new(0));
    let counter = read.clone();
    // An endless upload, 64 KiB at a time, counting what the server takes of it.
    let chunks = futures::stream::repeat_with(move || {
        counter.fetch_add(64 * 1024, Ordering::Relaxed);
        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 64 * 1024]))
    });
    let r = site
        .send(
            Request::post("/tickets")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(chunks))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let taken = read.load(Ordering::Relaxed);
    assert!(
        taken <= 25 * 1024 * 1024,
        "the server read {taken} bytes of an endless body"
    );
}

/// Three phone photos of 8 MB each go over the form's 20 MB: the customer reads the limit
/// they went over, in Spanish, and what to do, on the form again.
#[tokio::test]
async fn photos_over_the_forms_total_are_refused_with_the_limit_and_the_way_on() {
    let site = site();
    let token = hidden_token(&site.form_page().await);
    site.clock.advance(Duration::seconds(30));
    let (content_type, mut body) = multipart(&token, "ana@bajio.com.mx", REPORT);
    let end = format!("--{}--\r\n", "----mesa-abuse-test");
    body.truncate(body.len() - end.len());
    for n in 1..=3 {
        body.extend_from_slice(
            format!(
                "------mesa-abuse-test\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"foto{n}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(std::iter::repeat_n(0xffu8, 8 * 1024 * 1024));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(end.as_bytes());
    // In the network's pieces, as a browser's upload arrives.
    let pieces: Vec<Result<axum::body::Bytes, std::io::Error>> = body
        .chunks(64 * 1024)
        .map(|c| Ok(axum::body::Bytes::copy_from_slice(c)))
        .collect();
    let r = site
        .send(
            Request::post("/tickets")
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from_stream(futures::stream::iter(pieces)))
                .unwrap(),
        )
        .await;
    let status = r.status();
    let page = text(r).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        page.contains("los anexos suman más de 20 MB, el máximo del formulario"),
        "{page}"
    );
    assert!(!page.contains("too large"), "{page}");
    assert!(
        page.contains("Registrar ticket"),
        "the form again, to send it lighter"
    );
}

/// A JSON submission from `peer`, as `mesa serve`'s listener records it.
fn json_submission(peer: &str, n: usize) -> Request<Body> {
    json_submission_keyed(peer, n, None)
}

/// [`json_submission`] with the client's idempotency key.
fn json_submission_keyed(peer: &str, n: usize, idempotency_key: Option<&str>) -> Request<Body> {
    let mut body = serde_json::json!({
        "company": "Comercializadora del Bajío",
        "contact_name": "Ana Pérez Gómez",
        "email": "ana@bajio.com.mx",
        "phone": "442 123 4567",
        "support_type": "asistencia",
        "description": format!("Consulta número {n} sobre el reporte de asistencias."),
    });
    if let Some(key) = idempotency_key {
        body["idempotency_key"] = key.into();
    }
    let mut request = Request::post("/tickets")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(
            peer.parse().unwrap(),
        ));
    request
}

#[tokio::test]
async fn a_client_address_sending_too_many_submissions_is_told_when_to_come_back() {
    let site =
        site_with(|state| state.with_submission_limit(std::num::NonZeroU32::new(3).unwrap()));
    for n in 0..3 {
        let r = site.send(json_submission("203.0.113.7:50000", n)).await;
        assert_eq!(r.status(), StatusCode::CREATED, "submission {n}");
    }
    let r = site.send(json_submission("203.0.113.7:50001", 3)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    assert!(text(r).await.contains("Demasiados envíos"));
    // Another client is not held back by the first.
    let r = site.send(json_submission("198.51.100.2:40000", 4)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Nor is anyone reading pages.
    let mut page = Request::get("/").body(Body::empty()).unwrap();
    page.extensions_mut()
        .insert(axum::extract::ConnectInfo::<std::net::SocketAddr>(
            "203.0.113.7:50002".parse().unwrap(),
        ));
    assert_eq!(site.send(page).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_throttled_store_answers_503_with_retry_after_and_the_retry_makes_one_ticket() {
    use mesa_conformance::faults::{Fault, Faults, FaultyStore};
    let memory = Arc::new(MemoryStore::new());
    let outage = Faults::every_call(Fault::Refuse);
    let site = site_on(
        Arc::new(FaultyStore::new(memory.clone(), outage.clone())),
        |state| state,
    );
    let submission = || json_submission_keyed("192.0.2.7:50000", 1, Some("reintento-1"));
    let (status, headers, body) = {
        let r = site.send(submission()).await;
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, text(r).await)
    };
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    outage.stop();
    let r = site.send(submission()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = site.send(submission()).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the same key again is the same ticket"
    );
    assert_eq!(memory.ticket_count(), 1);
}
