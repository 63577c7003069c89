//! The staff workspace and the customer's pages in a real browser: headless Chromium
//! driven through chromedriver (WebDriver) against `mesa serve`, as a customer and a
//! support agent use them. Screenshots of each page go to `target/test-output/browser/`.
//!
//! Without chromedriver on the PATH the test says so and passes, unless `CI` or
//! `MESA_REQUIRE_BROWSER` is set (`tests/run` sets it and installs Chromium).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use mesa_tests::{Server, free_port, intake, mesa_with_stdin, outbox, wait_for_outbox, workspace};
use serde_json::{Value, json};

const PASSWORD: &str = "una contraseña larga y segura";
const STAFF: &str = "luisa@ingressio.com";

/// chromedriver on a free port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<Driver> {
    let found = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let required =
            std::env::var_os("CI").is_some() || std::env::var_os("MESA_REQUIRE_BROWSER").is_some();
        assert!(
            !required,
            "chromedriver is required here (CI / MESA_REQUIRE_BROWSER) but not installed"
        );
        eprintln!("skipped: no chromedriver (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromedriver did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver { child, url })
}

/// A headless Chromium session with a fresh profile.
async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("pageLoadStrategy".into(), json!("normal"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn shots_dir() -> PathBuf {
    let dir = workspace().join("target/test-output/browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Polls `f` every 50 ms for up to 30 s (a sign-in hashes a password and an upload is
/// scanned while the other browser test generates tickets on the same two cores).
async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn path_of(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Clicks `css` and waits until the browser has loaded the page the click leads to (the
/// old document, marked first, is gone).
async fn click_and_load(c: &Client, css: &str) {
    js(c, "window.__old_page = true; return null").await;
    click(c, css).await;
    let c2 = c.clone();
    wait_until(&format!("the page after {css}"), move || {
        let c = c2.clone();
        async move {
            c.execute(
                "return window.__old_page === undefined && document.readyState === 'complete'",
                vec![],
            )
            .await
            .is_ok_and(|v| v == json!(true))
        }
    })
    .await;
}

/// Submits the action form `id` of the ticket page and checks the page says it is done.
async fn act(c: &Client, form: &str) {
    click_and_load(c, &format!("#{form} button[type=submit]")).await;
    assert!(
        c.find(Locator::Css("#hecho")).await.is_ok(),
        "{form} was not done: {}",
        text_of(c, "main").await
    );
}

async fn sign_in(c: &Client, base: &str, email: &str, password: &str) {
    c.goto(&format!("{base}/panel/entrar")).await.unwrap();
    fill(c, "#email", email).await;
    fill(c, "#password", password).await;
    click_and_load(c, "#entrar button[type=submit]").await;
}

/// What a customer fills in the form, in the browser; gives the folio the page shows.
async fn customer_submits(
    c: &Client,
    base: &str,
    company: &str,
    description: &str,
    file: Option<&Path>,
) -> String {
    c.goto(&format!("{base}/")).await.unwrap();
    let started = Instant::now();
    fill(c, "#company", company).await;
    fill(c, "#contact_name", "Ana Pérez Gómez").await;
    fill(c, "#email", "ana@bajio.com.mx").await;
    fill(c, "#phone", "442 123 4567").await;
    c.find(Locator::Css("#support_type"))
        .await
        .unwrap()
        .select_by_index(1)
        .await
        .unwrap();
    fill(c, "#description", description).await;
    click(c, "input[name=impact_scope][value=one]").await;
    click(c, "input[name=operation_continues][value=si]").await;
    if let Ok(w) = c
        .find(Locator::Css("input[name=workaround][value=no]"))
        .await
    {
        w.click().await.unwrap();
    }
    if let Some(f) = file {
        c.find(Locator::Css("input[type=file]"))
            .await
            .unwrap()
            .send_keys(f.to_str().unwrap())
            .await
            .unwrap();
    }
    // The form refuses what is sent faster than a person can (3 s).
    if let Some(left) = Duration::from_millis(3200).checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    click_and_load(c, "form button[type=submit]").await;
    text_of(c, ".folio").await.trim().to_string()
}

/// Runs `script` in the page and gives its JSON result.
async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Payloads that would run if customer text reached the page as markup.
const XSS: &[&str] = &[
    "<script>window.__xss=1</script>",
    "<img src=x onerror=\"window.__xss=1\">",
    "\"><svg onload=window.__xss=1>",
    "<iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe>",
    "<math><style><img src=x onerror=window.__xss=1></style></math>",
    "</textarea><script>window.__xss=1</script>",
    "<a href=\"javascript:window.__xss=1\">clic</a>",
    "{{7*7}}",
];

/// Customer text is inert in the DOM: nothing ran, no element came from it, and it reads
/// back exactly as typed.
async fn assert_inert(c: &Client, page: &str) {
    let found = js(
        c,
        r#"
        const bad = document.querySelectorAll(
          '[data-customer] script, [data-customer] svg, [data-customer] iframe, [data-customer] img, [data-customer] math, [data-customer] a[href^="javascript:"]');
        const handlers = [...document.querySelectorAll('[data-customer] *')]
          .filter(e => [...e.attributes].some(a => a.name.startsWith('on')));
        return { ran: window.__xss !== undefined, elements: bad.length, handlers: handlers.length,
                 texts: [...document.querySelectorAll('[data-customer]')].map(e => e.textContent) };
        "#,
    )
    .await;
    assert_eq!(found["ran"], false, "{page}: a payload ran");
    assert_eq!(
        found["elements"], 0,
        "{page}: customer text became elements"
    );
    assert_eq!(
        found["handlers"], 0,
        "{page}: customer text became event handlers"
    );
    let texts = found["texts"].to_string();
    assert!(
        texts.contains("window.__xss=1</script>"),
        "{page}: the payload reads back as text: {texts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_reports_and_an_agent_works_the_ticket_to_closing_in_a_real_browser() {
    let Some(driver) = chromedriver() else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let add = mesa_with_stdin(
        &[
            "staff",
            "add",
            "--email",
            STAFF,
            "--name",
            "Luisa Méndez",
            "--password-stdin",
            "--data",
            data.to_str().unwrap(),
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    // A total outage reported by e-mail a week ago: its response clock is long past due.
    let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
    let late = intake(
        &data,
        "late",
        &format!(
            "From: Pedro <pedro@norte.mx>\nTo: soporte@ingressio.com\nSubject: Sistema caido\nDate: {}\nMessage-ID: <late@norte.mx>\n\nNingun checador funciona en toda la empresa, nadie ha podido checar.\n",
            week_ago.to_rfc2822()
        ),
        Some(&week_ago.to_rfc3339()),
    );
    let late = late["folio"].as_str().expect("the late ticket").to_string();
    let server = Server::start_with_env(&data, &[("MESA_PANEL_REFRESH_SECONDS", "1")]);
    let base = server.base.clone();
    let profile = dir.path().join("chromium");
    let c = browser(&driver, &profile).await;

    // The customer reports with a screenshot attached and sees the folio.
    let png = dir.path().join("lector.png");
    std::fs::write(&png, PNG_1X1).unwrap();
    let folio = customer_submits(
        &c,
        &base,
        "Comercializadora del Bajío",
        "El lector de la entrada principal no registra huellas desde esta mañana.",
        Some(&png),
    )
    .await;
    assert!(folio.starts_with("ING-"), "{folio}");
    shot(&c, "01-cliente-folio").await;

    // A stranger is sent to sign in; a wrong password is refused.
    c.goto(&format!("{base}/panel/")).await.unwrap();
    assert_eq!(path_of(&c).await, "/panel/entrar");
    sign_in(&c, &base, STAFF, "no es la contraseña").await;
    assert!(
        text_of(&c, "#error")
            .await
            .contains("Correo o contraseña incorrectos")
    );
    shot(&c, "02-entrar-error").await;

    // Signed in: the queue, the outage first and red, the new ticket with its countdown.
    sign_in(&c, &base, STAFF, PASSWORD).await;
    assert_eq!(path_of(&c).await, "/panel/");
    let rows = js(&c, "return [...document.querySelectorAll('#filas tr[data-folio]')].map(r => [r.dataset.folio, r.className, r.querySelector('.clock').textContent])").await;
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows[0][0],
        late.as_str(),
        "the overdue outage leads the queue: {rows:?}"
    );
    assert_eq!(rows[0][1], "vencido", "{rows:?}");
    let mine = rows
        .iter()
        .find(|r| r[0] == folio.as_str())
        .expect("the new ticket is in the queue");
    assert!(mine[2].as_str().unwrap().contains("quedan"), "{mine:?}");
    shot(&c, "03-cola").await;
    // The queue refreshes itself (every second here).
    let c2 = c.clone();
    wait_until("the queue to refresh", move || {
        let c = c2.clone();
        async move {
            js(
                &c,
                "return document.getElementById('filas').dataset.refreshedAt || ''",
            )
            .await
                != ""
        }
    })
    .await;

    // The ticket page; the screenshot is previewed and opens.
    click_and_load(&c, &format!("a[href='/panel/tickets/{folio}']")).await;
    let preview = js(
        &c,
        "const i = document.querySelector('img.preview'); return i && i.complete && i.naturalWidth",
    )
    .await;
    assert_eq!(preview, json!(1), "the attached image is previewed");
    assert!(
        c.find(Locator::Css("#f-close")).await.is_err(),
        "closing is not offered before the answer"
    );

    let mails_before = outbox(&data).len();
    c.find(Locator::Css("#assign-to"))
        .await
        .unwrap()
        .select_by_value(STAFF)
        .await
        .unwrap();
    act(&c, "f-assign").await;
    assert!(text_of(&c, "#responsable").await.contains("Luisa Méndez"));
    fill(
        &c,
        "#note-text",
        "Llamé al cliente: revisar el cable de red del lector.",
    )
    .await;
    act(&c, "f-note").await;
    fill(
        &c,
        "#diag-summary",
        "El lector perdió la red: cable dañado.",
    )
    .await;
    click(&c, "input[name=replicated][value=si]").await;
    act(&c, "f-diagnose").await;
    assert!(
        text_of(&c, "#historial")
            .await
            .contains("(error replicado)")
    );
    fill(
        &c,
        "#reply-message",
        "Buen día, ya identificamos la falla del lector.",
    )
    .await;
    act(&c, "f-reply").await;
    fill(
        &c,
        "#answer-message",
        "Cambie el cable de red del lector y reinícielo.",
    )
    .await;
    act(&c, "f-answer").await;
    shot(&c, "04-ticket").await;
    act(&c, "f-close").await;
    assert_eq!(text_of(&c, "#etapa").await, "Cerrado");
    let history = text_of(&c, "#historial").await;
    assert!(
        history.contains(STAFF),
        "every step names who did it: {history}"
    );

    // The customer got the reply, the answer and the survey; never the internal note.
    let mails = wait_for_outbox(&data, "the survey", |m| {
        m.iter().any(|m| m.text.contains("/csat/"))
    });
    assert!(mails.len() >= mails_before + 3);
    assert!(
        mails
            .iter()
            .all(|m| !m.text.contains("revisar el cable de red")),
        "an internal note was mailed"
    );
    let survey = mails.iter().find(|m| m.text.contains("/csat/")).unwrap();
    let at = survey.text.find("/csat/").unwrap();
    let token: String = survey.text[at + 6..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    // The customer answers the survey.
    c.goto(&format!("{base}/csat/{token}")).await.unwrap();
    fill(&c, "#comment", "Muy rápido, gracias.").await;
    click(&c, "button[name=satisfied][value=si]").await;
    let c2 = c.clone();
    wait_until("the survey's thanks", move || {
        let c = c2.clone();
        async move {
            c.find(Locator::Css("h1")).await.is_ok() && path_of(&c).await.starts_with("/csat/")
        }
    })
    .await;
    shot(&c, "05-encuesta").await;

    // A form whose CSRF token was removed is refused.
    c.goto(&format!("{base}/panel/tickets/{late}"))
        .await
        .unwrap();
    js(
        &c,
        "document.querySelector('#f-note input[name=_csrf]').remove(); return null",
    )
    .await;
    fill(&c, "#note-text", "sin token").await;
    click_and_load(&c, "#f-note button[type=submit]").await;
    assert_eq!(text_of(&c, "h1").await, "Formulario no válido");

    // Signed out, the workspace is closed again.
    c.goto(&format!("{base}/panel/")).await.unwrap();
    click_and_load(&c, "form[action='/panel/salir'] button").await;
    assert_eq!(path_of(&c).await, "/panel/entrar");
    c.goto(&format!("{base}/panel/tickets/{folio}"))
        .await
        .unwrap();
    assert_eq!(path_of(&c).await, "/panel/entrar");

    // Hostile text from a customer is inert in the queue and on the ticket page.
    let hostile = XSS.join(" ");
    let xss_folio = customer_submits(
        &c,
        &base,
        &hostile,
        &format!("Ayuda con el reporte {hostile}"),
        None,
    )
    .await;
    assert_eq!(
        js(&c, "return window.__xss === undefined").await,
        json!(true),
        "a payload ran on the folio page"
    );
    sign_in(&c, &base, STAFF, PASSWORD).await;
    assert_inert(&c, "the queue").await;
    c.goto(&format!("{base}/panel/tickets/{xss_folio}"))
        .await
        .unwrap();
    assert_inert(&c, "the ticket page").await;

    // At a phone's width nothing scrolls sideways.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/panel/")).await.unwrap();
    let wide = js(
        &c,
        "return document.documentElement.scrollWidth > window.innerWidth + 1",
    )
    .await;
    assert_eq!(wide, json!(false), "the queue scrolls sideways on a phone");
    shot(&c, "06-cola-telefono").await;

    c.close().await.unwrap();
    drop(server);
    eprintln!("browser journey: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_monthly_report_prints_with_its_charts_from_the_workspace() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let horizon = chrono::DateTime::parse_from_rfc3339("2026-11-10T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let g = mesa_tests::generate::generate_month(&data, "2026-10", 150, 11, horizon)
        .await
        .unwrap();
    assert!(g.refused.is_empty(), "{:#?}", g.refused);
    let add = mesa_with_stdin(
        &[
            "staff",
            "add",
            "--email",
            STAFF,
            "--name",
            "Luisa Méndez",
            "--password-stdin",
            "--data",
            data.to_str().unwrap(),
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(add.status.success());
    let server = Server::start(&data);
    let base = server.base.clone();
    let c = browser(&driver, &dir.path().join("chromium")).await;
    sign_in(&c, &base, STAFF, PASSWORD).await;

    // The statistics of October for one customer, and from there its report.
    c.goto(&format!(
        "{base}/panel/estadisticas?desde=2026-10-01&hasta=2026-10-31&cliente=norte.mx"
    ))
    .await
    .unwrap();
    assert!(text_of(&c, "main").await.contains("Maquiladora del Norte"));
    shot(&c, "estadisticas").await;
    click_and_load(&c, "a[href^='/panel/informe']").await;
    assert!(path_of(&c).await.starts_with("/panel/informe"));
    let page = text_of(&c, "body").await;
    assert!(page.contains("Informe de nivel de servicio"), "{page}");
    assert!(page.contains("octubre de 2026"));
    // The charts are drawn (bars in the DOM), and the page's own style applies under its
    // CSP (the style element is allowed by its hash, so the body is laid out at 60rem).
    let bars = js(
        &c,
        "return document.querySelectorAll('figure svg rect').length",
    )
    .await;
    assert!(bars.as_u64().unwrap() >= 12, "bars: {bars}");
    let width = js(&c, "return getComputedStyle(document.body).maxWidth").await;
    assert_eq!(width, json!("960px"));
    let scripts = js(&c, "return document.scripts.length").await;
    assert_eq!(scripts, json!(0));
    c.set_window_size(1280, 2400).await.unwrap();
    shot(&c, "informe").await;
    c.close().await.unwrap();
}
