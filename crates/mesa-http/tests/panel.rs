//! The staff workspace through the router in-process (the same router `mesa serve` and the
//! http-api function run), over in-memory adapters: signing in and out, what a forged or
//! stale request gets, and the queue page with its order, countdowns and filters.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use mesa::desk::{Desk, DeskConfig};
use mesa::intake::FormInput;
use mesa::model::StaffRole;
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa_conformance::memory::{MemoryBlobs, MemoryMailer, MemoryStore, TestClock};
use mesa_http::{AppState, router};
use tower::ServiceExt as _;

const PASSWORD: &str = "una contraseña larga";
const STAFF_TOKEN: &str = "bearer-for-scripts";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct Panel {
    desk: Arc<Desk>,
    clock: Arc<TestClock>,
    mailer: Arc<MemoryMailer>,
    app: axum::Router,
}

fn rules() -> Arc<LiveRules> {
    static RULES: std::sync::OnceLock<Arc<LiveRules>> = std::sync::OnceLock::new();
    RULES
        .get_or_init(|| {
            Arc::new(LiveRules::new(
                Policy::activate(Bundle::built_in()).unwrap(),
            ))
        })
        .clone()
}

async fn panel_at(public_url: &str, now: &str) -> Panel {
    let clock = Arc::new(TestClock::at(t(now)));
    let mailer = Arc::new(MemoryMailer::default());
    let desk = Arc::new(Desk::new(
        Arc::new(MemoryStore::new()),
        mailer.clone(),
        Arc::new(MemoryBlobs::default()),
        rules(),
        clock.clone(),
        DeskConfig::new(public_url, b"panel-test-secret-0123456789abcdef"),
    ));
    desk.add_staff(
        "luisa@ingressio.com",
        "Luisa Méndez",
        StaffRole::Agent,
        Some(PASSWORD),
    )
    .await
    .unwrap();
    let app = router(Arc::new(AppState::new(desk.clone(), STAFF_TOKEN.into())));
    Panel {
        desk,
        clock,
        mailer,
        app,
    }
}

/// Tuesday 10 November 2026, 10:00 in Mexico City.
async fn panel() -> Panel {
    panel_at("http://127.0.0.1:8080", "2026-11-10T16:00:00Z").await
}

async fn body(r: Response) -> String {
    String::from_utf8(
        axum::body::to_bytes(r.into_body(), 4 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// `name=value` of the cookie `name` that `r` sets.
fn cookie_pair(r: &Response, name: &str) -> Option<String> {
    set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_string())
}

fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    html[at..].split('"').next().unwrap().to_string()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Panel {
    async fn send(&self, req: Request<Body>) -> Response {
        self.app.clone().oneshot(req).await.unwrap()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut b = Request::get(path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Response {
        let form = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut b = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:8080");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        self.send(b.body(Body::from(form)).unwrap()).await
    }

    /// Opens the sign-in page and posts `email`/`password` from it, as a browser would.
    async fn try_sign_in(&self, email: &str, password: &str) -> Response {
        let page = self.get("/panel/entrar", None).await;
        let pre = cookie_pair(&page, "mesa_previo").expect("a pre-session cookie");
        let csrf = hidden_csrf(&body(page).await);
        self.post(
            "/panel/entrar",
            Some(&pre),
            &[("email", email), ("password", password), ("_csrf", &csrf)],
            Some("http://127.0.0.1:8080"),
        )
        .await
    }

    /// Signs in; gives the session cookie (`name=value`).
    async fn sign_in(&self) -> String {
        let r = self.try_sign_in("luisa@ingressio.com", PASSWORD).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "sign-in answered {}",
            r.status()
        );
        cookie_pair(&r, "mesa_sesion").expect("a session cookie")
    }

    async fn submit(&self, company: &str, subject_words: &str) -> String {
        self.submit_with_files(company, subject_words, &[]).await
    }

    async fn submit_with_files(
        &self,
        company: &str,
        subject_words: &str,
        files: &[(&str, &[u8])],
    ) -> String {
        let uploads: Vec<mesa::intake::Upload> = files
            .iter()
            .map(|(name, bytes)| mesa::intake::Upload {
                filename: name.to_string(),
                bytes: bytes.to_vec(),
            })
            .collect();
        let input = FormInput {
            company: company.into(),
            contact_name: "Ana Pérez Gómez".into(),
            email: "ana@bajio.com.mx".into(),
            phone: "442 123 4567".into(),
            support_type: "asistencia".into(),
            description: subject_words.into(),
            serial: String::new(),
            idempotency_key: None,
            upload_tokens: Vec::new(),
            impact_scope: None,
            operation_continues: None,
            workaround: None,
        };
        let s = self
            .desk
            .submit_form(&input, &uploads, None, "")
            .await
            .unwrap();
        s.ticket.folio.as_str().to_string()
    }
}

fn location(r: &Response) -> &str {
    r.headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_stranger_is_sent_to_sign_in_and_staff_with_the_password_get_the_queue() {
    let p = panel().await;
    let r = p.get("/panel/", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/panel/entrar");

    let r = p.try_sign_in("LUISA@ingressio.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/panel/");
    let cookie = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("mesa_sesion="))
        .unwrap();
    assert!(
        cookie.ends_with("; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let r = p.get("/panel/", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = body(r).await;
    assert!(html.contains("Luisa Méndez"), "{html}");
    assert!(html.contains("Cola de tickets"));
}

#[tokio::test]
async fn over_https_the_session_cookie_is_secure_and_host_only() {
    let p = panel_at("https://soporte.ingressio.com", "2026-11-10T16:00:00Z").await;
    let r = p.try_sign_in("luisa@ingressio.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("__Host-mesa_sesion="))
        .expect("a __Host- cookie");
    assert!(
        cookie.ends_with("; Secure") && cookie.contains("; Path=/;"),
        "{cookie}"
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_get_the_same_answer() {
    let p = panel().await;
    let wrong = p
        .try_sign_in("luisa@ingressio.com", "otra contraseña larga")
        .await;
    let unknown = p.try_sign_in("nadie@ingressio.com", PASSWORD).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_pair(&wrong, "mesa_sesion").is_none());
    let (a, b) = (body(wrong).await, body(unknown).await);
    assert!(a.contains("Correo o contraseña incorrectos."));
    assert!(b.contains("Correo o contraseña incorrectos."));
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_and_the_page_says_until_when() {
    let p = panel().await;
    for _ in 0..5 {
        p.try_sign_in("luisa@ingressio.com", "no es la contraseña")
            .await;
    }
    let r = p.try_sign_in("luisa@ingressio.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Locked at 10:00 for 15 minutes, said in Mexico City time.
    assert!(body(r).await.contains("bloqueada hasta las 10:15"));
}

#[tokio::test]
async fn a_sign_in_without_the_pages_token_or_from_another_site_is_refused() {
    let p = panel().await;
    let page = p.get("/panel/entrar", None).await;
    let pre = cookie_pair(&page, "mesa_previo").unwrap();
    let csrf = hidden_csrf(&body(page).await);
    let fields = [("email", "luisa@ingressio.com"), ("password", PASSWORD)];
    let r = p.post("/panel/entrar", Some(&pre), &fields, None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let with_token = [fields[0], fields[1], ("_csrf", csrf.as_str())];
    // The token without this browser's pre-session cookie (login CSRF).
    let r = p.post("/panel/entrar", None, &with_token, None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = p
        .post(
            "/panel/entrar",
            Some(&pre),
            &with_token,
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = p.post("/panel/entrar", Some(&pre), &with_token, None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_out_needs_the_sessions_token_and_ends_the_session() {
    let p = panel().await;
    let mine = p.sign_in().await;
    let other = p.sign_in().await;
    let other_csrf = hidden_csrf(&body(p.get("/panel/", Some(&other)).await).await);
    let r = p.post("/panel/salir", Some(&mine), &[], None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = p
        .post("/panel/salir", Some(&mine), &[("_csrf", &other_csrf)], None)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let csrf = hidden_csrf(&body(p.get("/panel/", Some(&mine)).await).await);
    let r = p
        .post("/panel/salir", Some(&mine), &[("_csrf", &csrf)], None)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/panel/entrar");
    for cookie in [&mine, &other] {
        let r = p.get("/panel/", Some(cookie)).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "a signed-out session still works"
        );
    }
}

#[tokio::test]
async fn a_tampered_or_day_old_cookie_is_sent_to_sign_in() {
    let p = panel().await;
    let session = p.sign_in().await;
    let tampered = format!("{}x", session);
    assert_eq!(
        p.get("/panel/", Some(&tampered)).await.status(),
        StatusCode::SEE_OTHER
    );
    p.clock.advance(Duration::hours(12) + Duration::seconds(1));
    let r = p.get("/panel/", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/panel/entrar");
}

#[tokio::test]
async fn the_bearer_api_is_unchanged_and_takes_no_cookie() {
    let p = panel().await;
    let session = p.sign_in().await;
    let r = p.get("/staff/queue", Some(&session)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = p
        .send(
            Request::get("/staff/queue")
                .header(header::AUTHORIZATION, format!("Bearer {STAFF_TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The folios in the order the page lists them.
fn listed_folios(html: &str) -> Vec<String> {
    html.split("data-folio=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_queue_page_lists_tickets_in_the_desks_order_with_their_countdowns() {
    let p = panel().await;
    p.submit(
        "Bajío",
        "Necesito ayuda para dar de alta a un empleado nuevo.",
    )
    .await;
    p.clock.advance(Duration::minutes(5));
    p.submit(
        "Norte",
        "Ningún checador funciona en toda la empresa, nadie puede checar.",
    )
    .await;
    p.clock.advance(Duration::minutes(5));
    // Unacknowledged, the nearest clock is the 15-minute acknowledgement, in wall time.
    let session = p.sign_in().await;
    let html = body(p.get("/panel/", Some(&session)).await).await;
    assert!(
        html.contains("Acuse de recibo") && html.contains("quedan 5 min"),
        "{html}"
    );
    p.desk.deliver_outbox().await.unwrap();
    let html = body(p.get("/panel/", Some(&session)).await).await;
    let expected: Vec<String> = p
        .desk
        .queue()
        .await
        .unwrap()
        .iter()
        .map(|v| v.ticket.folio.as_str().to_string())
        .collect();
    assert_eq!(listed_folios(&html), expected);
    assert_eq!(expected.len(), 2);
    // The outage is first; with the acknowledgements sent, its nearest clock is the
    // response, counted down in business time (severity 1: 6 business hours, 5 min used).
    let first = html.split("data-folio=").nth(1).unwrap();
    assert!(
        first.contains("Respuesta") && first.contains("quedan 5 h 55 min hábiles"),
        "{first}"
    );
    assert!(html.contains("data-refresh=\"30\""));
}

#[tokio::test]
async fn a_breached_clock_is_red_and_one_past_the_warning_share_is_amber() {
    let p = panel().await;
    let late = p
        .submit("Bajío", "Necesito ayuda con un reporte de asistencia.")
        .await;
    // Nobody acknowledged it (no outbox worker here): its 15-minute clock runs on.
    p.clock.advance(Duration::minutes(14));
    let session = p.sign_in().await;
    let html = body(p.get("/panel/", Some(&session)).await).await;
    let row = html
        .split(&format!("data-folio=\"{late}\""))
        .nth(1)
        .unwrap();
    assert!(row.trim_start().starts_with("class=\"riesgo\""), "{row}");
    p.clock.advance(Duration::minutes(2));
    let html = body(p.get("/panel/cola/filas", Some(&session)).await).await;
    let row = html
        .split(&format!("data-folio=\"{late}\""))
        .nth(1)
        .unwrap();
    assert!(row.trim_start().starts_with("class=\"vencido\""), "{row}");
    assert!(row.contains("vencido hace 1 min"), "{row}");
}

#[tokio::test]
async fn the_queue_filters_by_company_severity_clock_and_words() {
    let p = panel().await;
    let bajio = p
        .submit(
            "Comercializadora del Bajío",
            "Necesito ayuda con el reporte de nómina.",
        )
        .await;
    let norte = p
        .submit(
            "Grupo Norte",
            "Ningún checador funciona en toda la empresa, nadie puede checar.",
        )
        .await;
    let session = p.sign_in().await;
    let q = |query: &'static str| {
        let session = session.clone();
        let p = &p;
        async move {
            listed_folios(&body(p.get(&format!("/panel/?{query}"), Some(&session)).await).await)
        }
    };
    assert_eq!(q("empresa=bajio").await, vec![bajio.clone()]);
    assert_eq!(q("severidad=1").await, vec![norte.clone()]);
    assert_eq!(q("q=nomina").await, vec![bajio.clone()]);
    assert_eq!(
        q(Box::leak(
            format!("q={}", norte.to_lowercase()).into_boxed_str()
        ))
        .await,
        vec![norte.clone()]
    );
    assert_eq!(q("reloj=vencidos").await, Vec::<String>::new());
    let html = body(p.get("/panel/?severidad=9", Some(&session)).await).await;
    assert!(html.contains("no es válido"), "{html}");
    assert_eq!(listed_folios(&html).len(), 2);
}

#[tokio::test]
async fn customer_text_in_the_queue_comes_out_escaped() {
    let p = panel().await;
    let payloads = [
        "<script>window.__xss=1</script>",
        "<img src=x onerror=alert(1)>",
        "\"><svg onload=alert(1)>",
        "{{7*7}}",
    ];
    for payload in payloads {
        p.submit(payload, &format!("Ayuda con {payload} en el reporte."))
            .await;
    }
    let session = p.sign_in().await;
    let html = body(p.get("/panel/", Some(&session)).await).await;
    assert!(!html.contains("<script>window"), "{html}");
    assert!(!html.contains("<img src=x"));
    assert!(!html.contains("<svg"));
    assert!(
        html.contains("&lt;script&gt;window.__xss=1&lt;&#x2f;script&gt;")
            || html.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("{{7*7}}"),
        "template syntax in data is not evaluated"
    );
}

/// Escaping is on for every page only because every template's name ends in `.html`; a
/// `|safe` or an `autoescape false` would let customer text through as markup.
#[test]
fn every_template_escapes_and_none_turns_escaping_off() {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, found);
            } else {
                found.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        &mut files,
    );
    assert!(files.len() >= 10, "{files:?}");
    for f in files {
        assert_eq!(
            f.extension().and_then(|e| e.to_str()),
            Some("html"),
            "{}",
            f.display()
        );
        let text = std::fs::read_to_string(&f).unwrap();
        for banned in ["|safe", "| safe", "autoescape false", "<script>", "style="] {
            if banned == "<script>" || banned == "style=" {
                // Inline script and style would need 'unsafe-inline' in the workspace's CSP.
                if !f.to_string_lossy().contains("/panel/") {
                    continue;
                }
            }
            assert!(
                !text.contains(banned),
                "{} contains {banned:?}",
                f.display()
            );
        }
    }
}

fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).expect("the field") + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

impl Panel {
    /// Posts action `fields` from the ticket page as it is now (its CSRF token and version).
    async fn act(&self, session: &str, folio: &str, fields: &[(&str, &str)]) -> Response {
        let html = body(
            self.get(&format!("/panel/tickets/{folio}"), Some(session))
                .await,
        )
        .await;
        let csrf = hidden_csrf(&html);
        let seen = hidden_value(&html, "visto");
        let mut all = vec![("_csrf", csrf.as_str()), ("visto", seen.as_str())];
        all.extend_from_slice(fields);
        self.post(
            &format!("/panel/tickets/{folio}"),
            Some(session),
            &all,
            None,
        )
        .await
    }

    async fn page(&self, session: &str, folio: &str) -> String {
        body(
            self.get(&format!("/panel/tickets/{folio}"), Some(session))
                .await,
        )
        .await
    }
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
];

/// Staff pick the diagnosis' cause from the rules' categories; a mistyped one is refused
/// with the rules' own words (which list the valid ones), not a script's error, and their
/// diagnosis is kept to correct.
#[tokio::test]
async fn a_mistyped_cause_is_refused_in_the_rules_words_with_the_diagnosis_kept() {
    let p = panel().await;
    let folio = p
        .submit_with_files("Bajío", "El lector de la entrada no registra huellas.", &[])
        .await;
    let session = p.sign_in().await;
    let html = p.page(&session, &folio).await;
    assert!(
        html.contains("<option value=\"third_party\">de terceros</option>"),
        "the causes are offered"
    );
    let r = p
        .act(
            &session,
            &folio,
            &[
                ("accion", "diagnose"),
                ("summary", "El antivirus del cliente bloquea el servicio."),
                ("cause", "antivirus"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = body(r).await;
    assert!(
        html.contains("Las reglas no lo aceptan: causa desconocida"),
        "{html}"
    );
    assert!(html.contains("third_party"), "the valid causes are named");
    assert!(!html.contains("Runtime error"), "{html}");
    assert!(!html.contains("assess()"), "{html}");
    assert!(html.contains("El antivirus del cliente bloquea el servicio."));
}

/// A refused action is told in the workspace's language: which field and why, or why not
/// at this stage.
#[tokio::test]
async fn a_refused_action_is_told_in_spanish() {
    let p = panel().await;
    let folio = p
        .submit_with_files("Bajío", "El lector de la entrada no registra huellas.", &[])
        .await;
    let session = p.sign_in().await;
    let r = p
        .act(&session, &folio, &[("accion", "reply"), ("message", "  ")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = body(r).await;
    assert!(html.contains("Mensaje: no puede quedar vacío"), "{html}");
    let wait = [("accion", "wait"), ("note", "¿Qué lector es?")];
    let r = p.act(&session, &folio, &wait).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", body(r).await);
    let r = p.act(&session, &folio, &wait).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = body(r).await;
    assert!(
        html.contains("solo un ticket abierto que no esté ya esperando puede esperar al cliente"),
        "{html}"
    );
    assert!(!html.contains("only an open ticket"), "{html}");
}

#[tokio::test]
async fn staff_work_a_ticket_from_its_page_to_closing_and_each_step_names_them() {
    let p = panel().await;
    let folio = p
        .submit_with_files(
            "Bajío",
            "El lector de la entrada no registra las huellas desde ayer.",
            &[("lector.png", PNG)],
        )
        .await;
    p.desk.deliver_outbox().await.unwrap();
    let acks = p.mailer.sent().len();
    let session = p.sign_in().await;

    let html = p.page(&session, &folio).await;
    assert!(
        html.contains("id=\"f-diagnose\""),
        "a new ticket can be diagnosed: {html}"
    );
    assert!(
        !html.contains("id=\"f-close\""),
        "it cannot be closed before the answer"
    );
    assert!(
        !html.contains("id=\"f-answer\""),
        "nor answered before a diagnosis"
    );
    assert!(html.contains("lector.png"));

    let steps: &[&[(&str, &str)]] = &[
        &[("accion", "assign"), ("to", "luisa@ingressio.com")],
        &[
            ("accion", "note"),
            ("text", "Llamé al cliente; revisa el cable del lector."),
        ],
        &[
            ("accion", "diagnose"),
            ("summary", "Lector sin red por cable dañado."),
            ("replicated", "si"),
            ("under_warranty", ""),
        ],
        &[
            ("accion", "reply"),
            ("message", "Estamos revisando su lector."),
            ("channel", "email"),
        ],
        &[
            ("accion", "answer"),
            ("message", "Cambie el cable de red del lector."),
        ],
        &[("accion", "close"), ("note", "")],
    ];
    for fields in steps {
        let r = p.act(&session, &folio, fields).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{fields:?}: {}",
            body(r).await
        );
        assert!(location(&r).starts_with(&format!("/panel/tickets/{folio}?hecho=")));
    }
    let html = p.page(&session, &folio).await;
    assert!(html.contains("Cerrado"), "{html}");
    assert!(html.contains("(error replicado)"));
    assert!(html.contains("Nota interna (no se envía al cliente)"));
    let detail = p.desk.detail(&folio).await.unwrap();
    assert_eq!(
        detail.view.ticket.owner.as_deref(),
        Some("luisa@ingressio.com")
    );
    for e in detail.events.iter().filter(|e| e.seq > 3) {
        assert_eq!(
            e.actor,
            mesa::model::Actor::staff("luisa@ingressio.com"),
            "{e:?}"
        );
    }
    // Reply, answer and survey went to the customer; the note did not.
    p.desk.deliver_outbox().await.unwrap();
    let sent = p.mailer.sent();
    assert_eq!(
        sent.len(),
        acks + 3,
        "{:#?}",
        sent.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(
        sent.iter()
            .all(|m| !m.text.contains("revisa el cable del lector"))
    );
}

#[tokio::test]
async fn an_action_the_stage_does_not_allow_is_refused_with_the_reason() {
    let p = panel().await;
    let folio = p.submit("Bajío", "Necesito ayuda con un reporte.").await;
    let session = p.sign_in().await;
    let r = p
        .act(&session, &folio, &[("accion", "close"), ("note", "")])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(body(r).await.contains("no se puede hacer en esta etapa"));
    let r = p
        .act(&session, &folio, &[("accion", "reply"), ("message", "  ")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = p.act(&session, &folio, &[("accion", "borrar")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = p
        .get("/panel/tickets/ING-2026-999999", Some(&session))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_change_by_someone_else_since_the_page_was_opened_is_shown_and_the_text_kept() {
    let p = panel().await;
    let folio = p.submit("Bajío", "Necesito ayuda con un reporte.").await;
    let session = p.sign_in().await;
    let html = p.page(&session, &folio).await;
    let (csrf, seen) = (hidden_csrf(&html), hidden_value(&html, "visto"));
    // A colleague replies meanwhile.
    p.desk
        .act(
            &folio,
            &mesa::model::Actor::staff("pablo@ingressio.com"),
            &mesa::lifecycle::Action::Note {
                text: "Yo lo atiendo.".into(),
            },
        )
        .await
        .unwrap();
    let typed = "Buen día, ya revisamos su reporte.";
    let r = p
        .post(
            &format!("/panel/tickets/{folio}"),
            Some(&session),
            &[
                ("_csrf", &csrf),
                ("visto", &seen),
                ("accion", "reply"),
                ("message", typed),
                ("channel", "email"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = body(r).await;
    assert!(html.contains("Otra persona cambió este ticket"));
    assert!(html.contains(typed), "the typed reply is kept");
    assert!(
        html.contains("Yo lo atiendo."),
        "the colleague's change is shown"
    );
    // The sweep's and the transport's events are not someone else's change.
    p.clock.advance(Duration::minutes(20));
    p.desk.sweep(p.desk.now()).await.unwrap();
    let r = p
        .act(
            &session,
            &folio,
            &[
                ("accion", "reply"),
                ("message", typed),
                ("channel", "phone"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn only_a_lead_gives_a_ticket_to_someone_else() {
    let p = panel().await;
    p.desk
        .add_staff(
            "pablo@ingressio.com",
            "Pablo",
            StaffRole::Agent,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    p.desk
        .add_staff("ana@ingressio.com", "Ana", StaffRole::Lead, Some(PASSWORD))
        .await
        .unwrap();
    let folio = p.submit("Bajío", "Necesito ayuda con un reporte.").await;
    let agent = p.sign_in().await;
    let r = p
        .act(
            &agent,
            &folio,
            &[("accion", "assign"), ("to", "pablo@ingressio.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = p
        .act(
            &agent,
            &folio,
            &[("accion", "assign"), ("to", "nadie@ingressio.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let page = p.get("/panel/entrar", None).await;
    let pre = cookie_pair(&page, "mesa_previo").unwrap();
    let csrf = hidden_csrf(&body(page).await);
    let r = p
        .post(
            "/panel/entrar",
            Some(&pre),
            &[
                ("email", "ana@ingressio.com"),
                ("password", PASSWORD),
                ("_csrf", &csrf),
            ],
            None,
        )
        .await;
    let lead = cookie_pair(&r, "mesa_sesion").unwrap();
    let r = p
        .act(
            &lead,
            &folio,
            &[("accion", "assign"), ("to", "pablo@ingressio.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(p.page(&lead, &folio).await.contains("pablo@ingressio.com"));
}

#[tokio::test]
async fn files_are_addressed_by_place_images_previewed_and_anything_else_downloaded() {
    let p = panel().await;
    // Markup a browser would run if it were shown in our origin (the form takes it as text).
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    let folio = p
        .submit_with_files(
            "Bajío",
            "Adjunto capturas del error del lector.",
            &[("captura.png", PNG), ("dibujo.txt", svg)],
        )
        .await;
    let other = p.submit("Norte", "Necesito ayuda con un reporte.").await;
    let session = p.sign_in().await;
    let r = p
        .get(
            &format!("/panel/tickets/{folio}/archivos/0"),
            Some(&session),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/png");
    assert!(
        r.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    for i in [1] {
        let r = p
            .get(
                &format!("/panel/tickets/{folio}/archivos/{i}"),
                Some(&session),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/octet-stream"
        );
        assert!(
            r.headers()[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        assert!(
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("sandbox")
        );
    }
    for path in [
        format!("/panel/tickets/{folio}/archivos/2"),
        format!("/panel/tickets/{other}/archivos/0"),
    ] {
        assert_eq!(
            p.get(&path, Some(&session)).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        p.get(&format!("/panel/tickets/{folio}/archivos/0"), None)
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "files need a session"
    );
}

#[tokio::test]
async fn set_aside_mail_is_listed_with_its_original_and_only_a_lead_releases_it() {
    let p = panel().await;
    p.desk
        .add_staff("ana@ingressio.com", "Ana", StaffRole::Lead, Some(PASSWORD))
        .await
        .unwrap();
    let raw = "From: ana@bajio.com.mx\r\nTo: soporte@ingressio.com\r\nSubject: <b>Fuera</b>\r\n\
               Auto-Submitted: auto-replied\r\nMessage-ID: <ooo@bajio.com.mx>\r\n\r\n\
               <script>alert(1)</script> Ningún lector registra.\r\n";
    p.desk
        .intake_email(raw.as_bytes(), p.desk.now())
        .await
        .unwrap();
    let id = p.desk.set_aside_mail().await.unwrap()[0].id.clone();

    let agent = p.sign_in().await;
    let html = body(p.get("/panel/correo", Some(&agent)).await).await;
    assert!(
        html.contains("Mensaje automático ("),
        "the reason, in Spanish: {html}"
    );
    assert!(
        !html.contains("Crear ticket"),
        "an agent is not offered the release"
    );
    let r = p
        .get(&format!("/panel/correo/{id}/original"), Some(&agent))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert!(
        body(r).await.contains("<script>alert(1)</script>"),
        "the original, byte for byte"
    );
    let csrf = hidden_csrf(&html);
    let release = format!("/panel/correo/{id}/liberar");
    let r = p
        .post(&release, Some(&agent), &[("_csrf", &csrf)], None)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let page = p.get("/panel/entrar", None).await;
    let pre = cookie_pair(&page, "mesa_previo").unwrap();
    let login = hidden_csrf(&body(page).await);
    let r = p
        .post(
            "/panel/entrar",
            Some(&pre),
            &[
                ("email", "ana@ingressio.com"),
                ("password", PASSWORD),
                ("_csrf", &login),
            ],
            None,
        )
        .await;
    let lead = cookie_pair(&r, "mesa_sesion").unwrap();
    let html = body(p.get("/panel/correo", Some(&lead)).await).await;
    assert!(html.contains("Crear ticket"));
    let r = p
        .post(
            &release,
            Some(&lead),
            &[("_csrf", &hidden_csrf(&html))],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let folio = location(&r)
        .split('/')
        .nth(3)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let html = body(p.get(&format!("/panel/tickets/{folio}"), Some(&lead)).await).await;
    assert!(html.contains("Ningún lector registra"), "{html}");
    assert!(!html.contains("<script>alert(1)</script>"));
    let html = body(p.get("/panel/correo", Some(&lead)).await).await;
    assert!(
        html.contains(&format!("href=\"/panel/tickets/{folio}\"")),
        "the list links the ticket"
    );
}

#[tokio::test]
async fn the_queue_shows_mine_or_the_unassigned_and_who_has_each_ticket() {
    let p = panel().await;
    let mine = p.submit("Bajío", "Necesito ayuda con un reporte.").await;
    let free = p.submit("Norte", "Necesito ayuda con otro reporte.").await;
    let session = p.sign_in().await;
    let r = p
        .act(
            &session,
            &mine,
            &[("accion", "assign"), ("to", "luisa@ingressio.com")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = |q: &'static str| {
        let s = session.clone();
        let p = &p;
        async move { listed_folios(&body(p.get(&format!("/panel/?{q}"), Some(&s)).await).await) }
    };
    assert_eq!(list("ver=mios").await, vec![mine.clone()]);
    assert_eq!(list("ver=sin_asignar").await, vec![free.clone()]);
    assert_eq!(list("ver=").await.len(), 2);
    let html = body(p.get("/panel/", Some(&session)).await).await;
    let row = html
        .split(&format!("data-folio=\"{mine}\""))
        .nth(1)
        .unwrap();
    // By the name staff know each other by.
    assert!(
        row.contains("<td class=\"owner\">Luisa Méndez</td>"),
        "{row}"
    );
    let page = p.page(&session, &mine).await;
    assert!(
        page.contains("<span title=\"luisa@ingressio.com\">Luisa Méndez</span>"),
        "{page}"
    );
}

#[tokio::test]
async fn a_canned_reply_fills_the_reply_box_with_the_tickets_facts_escaped() {
    let p = panel().await;
    let input = FormInput {
        company: "Bajío".into(),
        contact_name: "Ana <b>Pérez</b>".into(),
        email: "ana@bajio.com.mx".into(),
        phone: "442 123 4567".into(),
        support_type: "asistencia".into(),
        description: "Necesito ayuda con un reporte.".into(),
        serial: String::new(),
        idempotency_key: None,
        upload_tokens: Vec::new(),
        impact_scope: None,
        operation_continues: None,
        workaround: None,
    };
    let folio = p
        .desk
        .submit_form(&input, &[], None, "")
        .await
        .unwrap()
        .ticket
        .folio;
    let session = p.sign_in().await;
    let html = body(
        p.get(&format!("/panel/tickets/{folio}"), Some(&session))
            .await,
    )
    .await;
    assert!(
        html.contains("?plantilla=en_revision"),
        "the bundle's replies are offered"
    );
    let html = body(
        p.get(
            &format!("/panel/tickets/{folio}?plantilla=en_revision"),
            Some(&session),
        )
        .await,
    )
    .await;
    let textarea = html.split("id=\"reply-message\"").nth(1).unwrap();
    let text = textarea.split("</textarea>").next().unwrap();
    assert!(
        text.contains("Buen día, Ana &lt;b&gt;Pérez&lt;&#x2f;b&gt;:"),
        "{text}"
    );
    assert!(text.contains(folio.as_str()));
    let html = body(
        p.get(
            &format!("/panel/tickets/{folio}?plantilla=no-existe"),
            Some(&session),
        )
        .await,
    )
    .await;
    assert!(html.contains("No existe esa plantilla"));
}

/// Behind the gateway every member of the user pool can call the JSON API; giving a
/// ticket to someone else is still a lead's.
#[tokio::test]
async fn through_the_gateways_json_api_only_a_lead_gives_a_ticket_to_someone_else() {
    let p = panel().await;
    p.desk
        .add_staff("pablo@ingressio.com", "Pablo", StaffRole::Agent, None)
        .await
        .unwrap();
    p.desk
        .add_staff("ana@ingressio.com", "Ana", StaffRole::Lead, None)
        .await
        .unwrap();
    let folio = p.submit("Bajío", "Necesito ayuda con un reporte.").await;
    let app = router(Arc::new(AppState::behind_gateway(p.desk.clone())));
    let assign = |who: &str, to: &str| {
        Request::post(format!("/staff/tickets/{folio}/actions"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-mesa-actor", who)
            .body(Body::from(
                serde_json::json!({"action": "assign", "to": to}).to_string(),
            ))
            .unwrap()
    };
    let r = app
        .clone()
        .oneshot(assign("luisa@ingressio.com", "pablo@ingressio.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .clone()
        .oneshot(assign("ana@ingressio.com", "pablo@ingressio.com"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .oneshot(assign("desconocido@x.mx", "desconocido@x.mx"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_statistics_page_shows_the_months_figures_with_their_definitions() {
    let p = panel().await;
    let cookie = p.sign_in().await;
    p.submit("Maquiladora del Norte", "No registran los lectores.")
        .await;
    // Signed out, the page is not shown.
    let r = p.get("/panel/estadisticas", None).await;
    assert_ne!(r.status(), StatusCode::OK);

    // This month so far by default: the ticket just received, per severity and customer.
    let r = p.get("/panel/estadisticas", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = body(r).await;
    assert!(html.contains("value=\"2026-11-01\""), "{html}");
    assert!(html.contains("value=\"2026-11-10\""), "{html}");
    assert!(html.contains("1 recibidos (formulario 1)"), "{html}");
    assert!(html.contains("Maquiladora del Norte"), "{html}");
    assert!(html.contains("Definiciones"));
    assert!(html.contains("cumplidos ÷ (cumplidos + incumplidos)"));

    // Another customer's filter leaves nothing received.
    let r = p
        .get(
            "/panel/estadisticas?desde=2026-11-01&hasta=2026-11-30&cliente=otro.mx",
            Some(&cookie),
        )
        .await;
    let html = body(r).await;
    assert!(html.contains("0 recibidos"), "{html}");
    assert!(
        html.contains("informe?mes=2026-11&amp;cliente=otro.mx\""),
        "a link to the customer's monthly report: {html}"
    );

    // The report itself: its own CSP (no script, its style by hash), the customer's tickets.
    let r = p
        .get(
            "/panel/informe?mes=2026-11&cliente=maquiladora%20del%20norte",
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("style-src 'sha256-") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = body(r).await;
    assert!(html.contains("Maquiladora del Norte") && html.contains("noviembre de 2026"));
    for query in ["mes=2026-11", "mes=noviembre&cliente=norte"] {
        let r = p
            .get(&format!("/panel/informe?{query}"), Some(&cookie))
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }

    // A reversed or unreadable period is refused with a reason.
    for query in [
        "desde=2026-11-30&hasta=2026-11-01",
        "desde=ayer&hasta=2026-11-01",
    ] {
        let r = p
            .get(&format!("/panel/estadisticas?{query}"), Some(&cookie))
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(body(r).await.contains("Periodo no válido"));
    }
}

#[tokio::test]
async fn a_companys_page_shows_its_periods_contacts_and_tickets_and_the_ticket_links_to_it() {
    use mesa::desk::{CompanyImport, RegistryImport};
    use mesa::model::{ContractPeriod, CustomerRecord};
    let p = panel().await;
    let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    p.desk
        .import_registry(RegistryImport {
            companies: vec![(
                "companies[0]".into(),
                CompanyImport {
                    company: "Bajío <b>S.A.</b>".into(),
                    periods: Some(vec![ContractPeriod {
                        start: day("2025-01-01"),
                        end: day("2025-12-31"),
                        plan: "Nube 50".into(),
                    }]),
                    terms: None,
                },
            )],
            contacts: vec![(
                "companies[0].contacts[0]".into(),
                CustomerRecord {
                    company: "Bajío <b>S.A.</b>".into(),
                    email: String::new(),
                    domain: "bajio.com.mx".into(),
                    contact_name: String::new(),
                    phone: "442 123 4567".into(),
                },
            )],
        })
        .await
        .unwrap();
    let folio = p.submit("Bajío", "El reporte semanal sale vacío.").await;
    let session = p.sign_in().await;

    // Without a session, the registry is not shown.
    let r = p.get("/panel/clientes", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // minijinja escapes "/" too; a browser reads "&#x2f;" as "/".
    let unescape = |html: String| html.replace("&#x2f;", "/");
    let list = unescape(body(p.get("/panel/clientes", Some(&session)).await).await);
    assert!(list.contains("Bajío &lt;b&gt;S.A.&lt;"), "{list}");
    assert!(
        list.contains("Fuera del periodo contratado (terminó el 31/12/2025)"),
        "{list}"
    );
    let href = "/panel/clientes/Baj%C3%ADo%20%3Cb%3ES.A.%3C%2Fb%3E";
    assert!(list.contains(href), "{list}");

    let page = p.get(href, Some(&session)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = unescape(body(page).await);
    assert!(
        page.contains("01/01/2025") && page.contains("Nube 50"),
        "{page}"
    );
    assert!(page.contains("todo @bajio.com.mx"), "{page}");
    assert!(page.contains(&folio), "{page}");
    assert!(page.contains("fuera de periodo"), "{page}");
    assert!(!page.contains("<b>S.A."), "customer text escaped: {page}");

    let ticket = unescape(
        body(
            p.get(&format!("/panel/tickets/{folio}"), Some(&session))
                .await,
        )
        .await,
    );
    assert!(
        ticket.contains("id=\"contrato\"") && ticket.contains(href),
        "{ticket}"
    );

    let missing = p.get("/panel/clientes/Nadie", Some(&session)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
