//! An integrator's client built from `/openapi.json` works against the real router: every
//! request it sends as the document describes is accepted, and every answer the API gives —
//! successes and errors, along a ticket's whole life — is valid against the document's
//! schema for that answer. A request the document says is wrong (an unknown support type,
//! an unknown action) is one the API refuses too.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use mesa::desk::{Desk, DeskConfig};
use mesa::policy::{Bundle, LiveRules, Policy};
use mesa_conformance::memory::{MemoryBlobs, MemoryMailer, MemoryStore, TestClock};
use mesa_http::{AppState, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const TOKEN: &str = "bearer-for-scripts";

struct Api {
    app: axum::Router,
    desk: Arc<Desk>,
    doc: Value,
}

impl Api {
    async fn new() -> Self {
        let now: DateTime<Utc> = "2026-11-10T16:00:00Z".parse().unwrap();
        let desk = Arc::new(Desk::new(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryMailer::default()),
            Arc::new(MemoryBlobs::default()),
            Arc::new(LiveRules::new(
                Policy::activate(Bundle::built_in()).unwrap(),
            )),
            Arc::new(TestClock::at(now)),
            DeskConfig::new(
                "http://127.0.0.1:8080",
                b"openapi-test-secret-0123456789abcdef",
            ),
        ));
        let app = router(Arc::new(AppState::new(desk.clone(), TOKEN.into())));
        let mut api = Api {
            app,
            desk,
            doc: Value::Null,
        };
        let (status, doc) = api.call("GET", "/openapi.json", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["openapi"], "3.1.0");
        api.doc = doc;
        api
    }

    async fn call(&self, method: &str, path: &str, json: Option<&Value>) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if path.starts_with("/staff/") {
            req = req.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        let body = match json {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).unwrap()).await
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let r = self.app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 8 << 20).await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, value)
    }

    /// The schema the document gives for `status` of `method path` (the document's path
    /// template, e.g. `/staff/tickets/{folio}`).
    fn answer_schema(&self, method: &str, template: &str, status: StatusCode) -> Value {
        let pointer = format!(
            "/paths/{}/{}/responses/{}/content/application~1json/schema",
            template.replace('~', "~0").replace('/', "~1"),
            method.to_ascii_lowercase(),
            status.as_u16()
        );
        self.doc
            .pointer(&pointer)
            .unwrap_or_else(|| {
                panic!("the document has no answer {status} for {method} {template}")
            })
            .clone()
    }

    fn request_schema(&self, method: &str, template: &str) -> Value {
        let pointer = format!(
            "/paths/{}/{}/requestBody/content/application~1json/schema",
            template.replace('/', "~1"),
            method.to_ascii_lowercase(),
        );
        self.doc
            .pointer(&pointer)
            .unwrap_or_else(|| panic!("no request body for {method} {template}"))
            .clone()
    }

    /// Validates `instance` against `schema`, with the document's components in reach of
    /// its `$ref`s; the errors, if any.
    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        let validator = jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("the document's schema does not compile: {e}: {schema}"));
        validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    fn assert_valid(&self, what: &str, schema: &Value, instance: &Value) {
        let errors = self.errors(schema, instance);
        assert!(
            errors.is_empty(),
            "{what} is not valid against the document: {errors:#?}\n{instance:#}"
        );
    }

    /// Sends the request (checked against the document first) and checks the answer has
    /// the expected status and is valid against the document's schema for it.
    async fn expect(
        &self,
        method: &str,
        path: &str,
        template: &str,
        json: Option<Value>,
        status: StatusCode,
    ) -> Value {
        if let Some(body) = &json {
            let schema = self.request_schema(method, template);
            self.assert_valid(&format!("the request {method} {path}"), &schema, body);
        }
        let (got, answer) = self.call(method, path, json.as_ref()).await;
        assert_eq!(got, status, "{method} {path}: {answer:#}");
        let schema = self.answer_schema(method, template, status);
        self.assert_valid(
            &format!("the answer {status} to {method} {path}"),
            &schema,
            &answer,
        );
        answer
    }

    async fn act(&self, folio: &str, action: Value) -> Value {
        self.expect(
            "POST",
            &format!("/staff/tickets/{folio}/actions"),
            "/staff/tickets/{folio}/actions",
            Some(action),
            StatusCode::OK,
        )
        .await
    }
}

#[tokio::test]
async fn every_answer_along_a_tickets_life_is_valid_against_the_document() {
    let api = Api::new().await;
    let support_type = api.desk.policy().support_types()[0].id.clone();

    api.expect("GET", "/health", "/health", None, StatusCode::OK)
        .await;

    let report = json!({
        "company": "Maquiladora del Norte",
        "contact_name": "Luis Gómez",
        "email": "luis@norte.mx",
        "phone": "81 5555 1234",
        "support_type": support_type,
        "description": "Ningún lector registra entradas desde las 8:00, en ninguna planta.",
        "idempotency_key": "alta-0001",
        "impact_scope": "all",
        "operation_continues": false,
        "workaround": "no",
    });
    let created = api
        .expect(
            "POST",
            "/tickets",
            "/tickets",
            Some(report.clone()),
            StatusCode::CREATED,
        )
        .await;
    let folio = created["folio"].as_str().unwrap().to_string();
    let again = api
        .expect("POST", "/tickets", "/tickets", Some(report), StatusCode::OK)
        .await;
    assert_eq!(again["folio"], created["folio"]);
    assert_eq!(again["duplicate"], true);

    // One machine: files go with the form, there is nowhere to upload ahead.
    api.expect(
        "POST",
        "/uploads",
        "/uploads",
        Some(json!({"filename": "captura.png", "size": 1024})),
        StatusCode::NOT_FOUND,
    )
    .await;

    api.expect("GET", "/staff/queue", "/staff/queue", None, StatusCode::OK)
        .await;
    let page = api
        .expect(
            "GET",
            "/staff/tickets?open=true&limit=10&stage=received",
            "/staff/tickets",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(page["tickets"][0]["folio"], folio.as_str(), "{page:#}");

    for action in [
        json!({"action": "set_severity", "severity": 1, "reason": "Ninguna planta registra"}),
        json!({"action": "note", "text": "Llamé a Luis; confirma que es general."}),
        json!({"action": "reply", "message": "Estamos revisando los lectores.", "channel": "phone"}),
        json!({"action": "diagnose", "summary": "Certificado vencido en el servicio de sincronización", "replicated": true}),
        json!({"action": "escalate", "note": "Renovar el certificado"}),
        json!({"action": "log_work", "minutes": 45}),
        json!({"action": "wait", "note": "¿Nos confirma si ya registran?"}),
        json!({"action": "resume"}),
        json!({"action": "answer", "message": "Renovamos el certificado; ya registran."}),
        json!({"action": "close"}),
        json!({"action": "reopen", "reason": "Una planta sigue sin registrar"}),
        json!({"action": "deliver_root_cause", "report": "Alarma de vencimiento de certificados."}),
    ] {
        api.act(&folio, action).await;
    }

    let detail = api
        .expect(
            "GET",
            &format!("/staff/tickets/{folio}"),
            "/staff/tickets/{folio}",
            None,
            StatusCode::OK,
        )
        .await;
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(kinds.len() >= 12, "{kinds:?}");
    // The check bites: the same answer with an impossible severity is not valid.
    let mut wrong = detail.clone();
    wrong["ticket"]["severity"] = json!(7);
    let schema = api.answer_schema("GET", "/staff/tickets/{folio}", StatusCode::OK);
    assert!(!api.errors(&schema, &wrong).is_empty());
    wrong = detail.clone();
    wrong["events"][0]["at"] = json!(null);
    assert!(!api.errors(&schema, &wrong).is_empty());

    let stats = api
        .expect(
            "GET",
            "/staff/stats?from=2026-11-01&to=2026-11-30",
            "/staff/stats",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(stats["overall"]["received"], 1, "{stats:#}");
    api.expect(
        "GET",
        "/staff/stats?from=2026-11-30&to=2026-11-01",
        "/staff/stats",
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    api.expect(
        "GET",
        "/staff/stats?from=noviembre&to=2026-11-01",
        "/staff/stats",
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // Errors are answers too: a step the stage does not allow, an unknown folio.
    api.expect(
        "POST",
        &format!("/staff/tickets/{folio}/actions"),
        "/staff/tickets/{folio}/actions",
        Some(json!({"action": "resume"})),
        StatusCode::CONFLICT,
    )
    .await;
    api.expect(
        "GET",
        "/staff/tickets/ING-0000-999999",
        "/staff/tickets/{folio}",
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    api.expect(
        "POST",
        "/staff/tickets/ING-0000-999999/actions",
        "/staff/tickets/{folio}/actions",
        Some(json!({"action": "close"})),
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn mail_answers_are_valid_against_the_document() {
    let api = Api::new().await;
    let post_mail = |raw: &'static str| {
        Request::post("/staff/inbound-email")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "message/rfc822")
            .body(Body::from(raw))
            .unwrap()
    };
    for (raw, outcome) in [
        (
            "From: Luis Gómez <luis@norte.mx>\r\nTo: soporte@ingressio.com\r\n\
             Subject: Lectores sin registrar\r\nMessage-ID: <a1@norte.mx>\r\n\
             Date: Tue, 10 Nov 2026 09:50:00 -0600\r\n\r\n\
             Los lectores de la planta norte no registran entradas.\r\n",
            "created",
        ),
        (
            "From: luis@norte.mx\r\nTo: soporte@ingressio.com\r\nSubject: Fuera de la oficina\r\n\
             Auto-Submitted: auto-replied\r\nMessage-ID: <ooo@norte.mx>\r\n\r\nRegreso el lunes.\r\n",
            "ignored",
        ),
    ] {
        let (status, answer) = api.send(post_mail(raw)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["outcome"], outcome, "{answer}");
        let schema = api.answer_schema("POST", "/staff/inbound-email", StatusCode::OK);
        api.assert_valid("the mail outcome", &schema, &answer);
    }
    let set_aside = api
        .expect(
            "GET",
            "/staff/mail/set-aside",
            "/staff/mail/set-aside",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        set_aside["mail"].as_array().unwrap().len(),
        1,
        "{set_aside}"
    );

    // Without the staff credential.
    let (status, refused) = api
        .send(Request::get("/staff/queue").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let schema = api.answer_schema("GET", "/staff/queue", status);
    api.assert_valid("the 401", &schema, &refused);
}

#[tokio::test]
async fn what_the_document_calls_wrong_the_api_refuses() {
    let api = Api::new().await;
    let form = api.request_schema("POST", "/tickets");
    let mut report = json!({
        "company": "Maquiladora del Norte",
        "contact_name": "Luis Gómez",
        "email": "luis@norte.mx",
        "support_type": "inventado",
        "description": "No registran los lectores.",
    });
    assert!(
        !api.errors(&form, &report).is_empty(),
        "the document lets an unknown support type through"
    );
    let refused = api
        .expect_refusal(
            "POST",
            "/tickets",
            &report,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    // The answer lists the valid ones, as the document does.
    let message = refused["errors"]["support_type"].as_str().unwrap();
    for t in api.desk.policy().support_types() {
        assert!(message.contains(&t.id), "{message}");
    }
    report["support_type"] = json!(api.desk.policy().support_types()[0].id);
    report["impact_scope"] = json!("mucho");
    assert!(
        !api.errors(&form, &report).is_empty(),
        "the document lets an unknown impact answer through"
    );
    api.expect_refusal(
        "POST",
        "/tickets",
        &report,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let action = api.request_schema("POST", "/staff/tickets/{folio}/actions");
    for wrong in [
        json!({"action": "delete"}),
        json!({"action": "set_severity", "severity": 5, "reason": "x"}),
        json!({"action": "reply"}),
        json!({"action": "close", "color": "rojo"}),
    ] {
        assert!(
            !api.errors(&action, &wrong).is_empty(),
            "the document accepts {wrong}"
        );
    }

    // A body that is not JSON at all.
    let (status, answer) = api
        .send(
            Request::post("/tickets")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("hola"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let schema = api.answer_schema("POST", "/tickets", status);
    api.assert_valid("the 415", &schema, &answer);
}

impl Api {
    /// Sends a request the document calls wrong; the answer must be `status` and valid.
    async fn expect_refusal(
        &self,
        method: &str,
        path: &str,
        json: &Value,
        status: StatusCode,
    ) -> Value {
        let (got, answer) = self.call(method, path, Some(json)).await;
        assert_eq!(got, status, "{answer:#}");
        let schema = self.answer_schema(method, path, status);
        self.assert_valid("the refusal", &schema, &answer);
        answer
    }
}
