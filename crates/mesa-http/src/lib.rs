//! mesa's HTTP face, one axum [`Router`] served by `mesa serve` and by the http-api Lambda:
//! the customer form (`GET /`, `POST /tickets`), the satisfaction page (`/csat/{token}`),
//! and the staff API under `/staff/…` (bearer token).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use mesa::desk::{Desk, DeskError, EmailOutcome, Submitted, TicketDetail, TicketView};
use mesa::intake::{
    FieldErrors, FormInput, MAX_EMAIL_BYTES, MAX_TOTAL_ATTACHMENT_BYTES, Upload, YesNo,
};
use mesa::lifecycle::{Action, ActionError};
use mesa::model::{Actor, Stage};
use mesa::ports::{ListFilter, PageRequest, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What the router needs: the services and the staff credential.
pub struct AppState {
    pub desk: Arc<Desk>,
    /// Bearer token of the staff API; `None` when a gateway in front (API Gateway's JWT
    /// authorizer) has already authenticated every `/staff` request.
    pub staff_token: Option<String>,
    pages: minijinja::Environment<'static>,
}

impl AppState {
    /// Staff authenticate with `Authorization: Bearer <staff_token>` (one machine).
    pub fn new(desk: Arc<Desk>, staff_token: String) -> Self {
        Self::build(desk, Some(staff_token))
    }

    /// Staff are authenticated by the gateway in front (AWS: Cognito JWT authorizer).
    pub fn behind_gateway(desk: Arc<Desk>) -> Self {
        Self::build(desk, None)
    }

    fn build(desk: Arc<Desk>, staff_token: Option<String>) -> Self {
        let mut pages = minijinja::Environment::new();
        for (name, source) in [
            ("base.html", include_str!("../templates/base.html")),
            ("form.html", include_str!("../templates/form.html")),
            (
                "submitted.html",
                include_str!("../templates/submitted.html"),
            ),
            ("csat.html", include_str!("../templates/csat.html")),
            ("message.html", include_str!("../templates/message.html")),
        ] {
            if let Err(e) = pages.add_template(name, source) {
                // The pages are compiled into the binary and covered by tests.
                panic!("built-in page {name} does not parse: {e}");
            }
        }
        Self {
            desk,
            staff_token,
            pages,
        }
    }

    fn page(&self, name: &str, context: Value) -> Response {
        match self
            .pages
            .get_template(name)
            .and_then(|t| t.render(context))
        {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(page = name, error = %e, "page did not render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error interno al mostrar la página.",
                )
                    .into_response()
            }
        }
    }

    fn message(&self, status: StatusCode, title: &str, message: &str) -> Response {
        let mut r = self.page(
            "message.html",
            json!({"title": title, "message": message, "company_name": self.company()}),
        );
        *r.status_mut() = status;
        r
    }

    fn company(&self) -> String {
        self.desk.policy().settings().company_name.clone()
    }
}

type Shared = Arc<AppState>;

pub fn router(state: Arc<AppState>) -> Router {
    let staff = Router::new()
        .route("/queue", get(queue))
        .route("/mail/set-aside", get(set_aside_mail))
        .route("/tickets", get(list_tickets))
        .route("/tickets/{folio}", get(ticket_detail))
        .route("/tickets/{folio}/actions", post(ticket_action))
        .route(
            "/inbound-email",
            post(inbound_email).layer(DefaultBodyLimit::max(MAX_EMAIL_BYTES + 1024)),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_staff,
        ));
    Router::new()
        .route("/", get(form_page))
        .route(
            "/tickets",
            post(submit).layer(DefaultBodyLimit::max(
                MAX_TOTAL_ATTACHMENT_BYTES + 256 * 1024,
            )),
        )
        .route("/uploads", post(start_upload))
        .route("/csat/{token}", get(csat_page).post(csat_answer))
        .route("/health", get(health))
        .nest("/staff", staff)
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({"ok": true}))
}

// ------------------------------------------------------------------ customer form

fn response_hours(desk: &Desk) -> Vec<Value> {
    let policy = desk.policy();
    std::iter::once(Value::Null)
        .chain((1..=4).map(|level| {
            let hours = mesa::Severity::new(level)
                .ok()
                .and_then(|s| policy.milestones(&mesa::TicketFacts::default(), s).ok())
                .and_then(|defs| defs.into_iter().find(|d| d.name == "response"))
                .map(|d| d.target.duration(policy.calendar()).num_hours());
            json!(hours)
        }))
        .collect()
}

fn form_context(state: &AppState, values: &FormInput, errors: &FieldErrors) -> Value {
    let policy = state.desk.policy();
    json!({
        "company_name": policy.settings().company_name,
        "time_zone_label": policy.settings().time_zone_label,
        "support_types": policy.support_types(),
        "form_token": state.desk.form_token(),
        "values": values,
        "errors": errors,
        "response_hours": response_hours(&state.desk),
    })
}

async fn form_page(State(state): State<Shared>) -> Response {
    state.page(
        "form.html",
        form_context(&state, &FormInput::default(), &FieldErrors::new()),
    )
}

/// `POST /tickets`: the page (multipart) or an API client (JSON).
async fn submit(State(state): State<Shared>, request: Request) -> Response {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        match Multipart::from_request(request, &state).await {
            Ok(multipart) => submit_page(state, multipart).await,
            Err(e) => state.message(
                e.status(),
                "Solicitud no válida",
                &format!("No pudimos leer el formulario: {e}"),
            ),
        }
    } else if content_type.starts_with("application/json") {
        match Json::<FormInput>::from_request(request, &state).await {
            Ok(Json(input)) => submit_json(state, input).await.into_response(),
            Err(e) => ApiError::bad_json(&e.body_text()).into_response(),
        }
    } else {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(json!({"errors": {"body": "Envíe multipart/form-data (formulario) o application/json."}})),
        )
            .into_response()
    }
}

fn api_body(s: &Submitted) -> Value {
    json!({
        "folio": s.ticket.folio,
        "ticket_id": s.ticket.id,
        "severity": s.ticket.severity,
        "severity_reason": s.ticket.severity_reason,
        "milestones": s.plan.milestones,
        "duplicate": s.duplicate,
    })
}

#[derive(serde::Deserialize)]
struct UploadRequest {
    filename: String,
    size: u64,
}

/// `POST /uploads` `{"filename","size"}`: where to PUT a file too large to go with the form
/// through the API gateway (201 with `url`, `method`, `token`); 404 where files simply go
/// with the form.
async fn start_upload(
    State(state): State<Shared>,
    body: Result<Json<UploadRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::bad_json(&e.body_text()))?;
    Ok(
        match state
            .desk
            .start_upload(&request.filename, request.size)
            .await?
        {
            Some(grant) => (StatusCode::CREATED, Json(json!(grant))).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "Aquí los anexos se envían con el formulario."})),
            )
                .into_response(),
        },
    )
}

async fn submit_json(state: Shared, input: FormInput) -> Result<Response, ApiError> {
    let s = state.desk.submit_form(&input, &[], None, "").await?;
    let status = if s.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(api_body(&s))).into_response())
}

async fn submit_page(state: Shared, mut multipart: Multipart) -> Response {
    let mut input = FormInput::default();
    let mut uploads = Vec::new();
    let mut token = String::new();
    let mut honeypot = String::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let mut errors = FieldErrors::new();
                errors.insert(
                    "attachments".into(),
                    format!("No pudimos recibir el formulario completo ({}). Los anexos suman como máximo 20 MB.", e.body_text()),
                );
                let mut r = state.page("form.html", form_context(&state, &input, &errors));
                *r.status_mut() = e.status();
                return r;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "attachments" {
            let filename = field.file_name().unwrap_or_default().to_string();
            match field.bytes().await {
                Ok(bytes) => uploads.push(Upload {
                    filename,
                    bytes: bytes.to_vec(),
                }),
                Err(e) => {
                    let mut errors = FieldErrors::new();
                    errors.insert(
                        "attachments".into(),
                        format!("No pudimos recibir «{filename}»: {}", e.body_text()),
                    );
                    let mut r = state.page("form.html", form_context(&state, &input, &errors));
                    *r.status_mut() = e.status();
                    return r;
                }
            }
            continue;
        }
        let value = field.text().await.unwrap_or_default();
        match name.as_str() {
            "company" => input.company = value,
            "contact_name" => input.contact_name = value,
            "email" => input.email = value,
            "phone" => input.phone = value,
            "support_type" => input.support_type = value,
            "description" => input.description = value,
            "impact_scope" => input.impact_scope = Some(value),
            "operation_continues" => input.operation_continues = Some(YesNo::Text(value)),
            "workaround" => input.workaround = Some(YesNo::Text(value)),
            "form_token" => token = value,
            "upload_token" if !value.trim().is_empty() => input.upload_tokens.push(value),
            "website" => honeypot = value,
            _ => {}
        }
    }
    match state
        .desk
        .submit_form(&input, &uploads, Some(&token), &honeypot)
        .await
    {
        Ok(s) => {
            let policy = state.desk.policy();
            let due = s
                .plan
                .milestones
                .iter()
                .find(|m| m.name == "response")
                .and_then(|m| chrono::DateTime::parse_from_rfc3339(&m.due).ok())
                .map(|d| mesa::outbox::human_time(&policy, d.with_timezone(&chrono::Utc)))
                .unwrap_or_default();
            let status = if s.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut r = state.page(
                "submitted.html",
                json!({
                    "company_name": policy.settings().company_name,
                    "folio": s.ticket.folio,
                    "severity": s.ticket.severity,
                    "severity_reason": s.ticket.severity_reason,
                    "response_due_local": due,
                    "email": s.ticket.customer.email,
                    "duplicate": s.duplicate,
                }),
            );
            *r.status_mut() = status;
            r
        }
        Err(DeskError::Invalid(errors)) => {
            let mut r = state.page("form.html", form_context(&state, &input, &errors));
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "form submission failed");
            state.message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No pudimos registrar su ticket",
                "Ocurrió un error de nuestro lado. Intente de nuevo en unos minutos o escriba a soporte por correo.",
            )
        }
    }
}

// ------------------------------------------------------------------ satisfaction

async fn csat_page(State(state): State<Shared>, Path(token): Path<String>) -> Response {
    match state.desk.survey(&token).await {
        Ok((t, open)) => {
            let message = match &open {
                Ok(()) => "",
                Err(ActionError::Illegal { hint, .. })
                    if *hint == "this survey was already answered" =>
                {
                    "Ya recibimos su respuesta. ¡Gracias!"
                }
                Err(_) if t.stage != Stage::Closed => {
                    "Este ticket ya no está cerrado: seguimos atendiéndolo."
                }
                Err(_) => {
                    "Esta encuesta es de un cierre anterior del ticket; use el enlace del correo más reciente."
                }
            };
            state.page(
                "csat.html",
                json!({
                    "company_name": state.company(),
                    "folio": t.folio,
                    "subject": t.subject,
                    "open": open.is_ok(),
                    "message": message,
                }),
            )
        }
        Err(_) => state.message(
            StatusCode::NOT_FOUND,
            "Enlace no válido",
            "Este enlace de encuesta no es válido.",
        ),
    }
}

#[derive(Deserialize)]
struct CsatForm {
    satisfied: String,
    #[serde(default)]
    comment: String,
}

async fn csat_answer(
    State(state): State<Shared>,
    Path(token): Path<String>,
    Form(form): Form<CsatForm>,
) -> Response {
    let satisfied = match form.satisfied.as_str() {
        "si" => true,
        "no" => false,
        _ => {
            return state.message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Respuesta no válida",
                "Elija «Sí» o «No».",
            );
        }
    };
    match state
        .desk
        .record_satisfaction(&token, satisfied, &form.comment)
        .await
    {
        Ok(t) => {
            let text = if satisfied {
                format!(
                    "Gracias. Registramos su satisfacción con el ticket {}.",
                    t.folio
                )
            } else {
                format!(
                    "Gracias. Reabrimos el ticket {} y le daremos seguimiento.",
                    t.folio
                )
            };
            state.message(StatusCode::OK, "Gracias por su respuesta", &text)
        }
        Err(DeskError::Token(_)) => state.message(
            StatusCode::NOT_FOUND,
            "Enlace no válido",
            "Este enlace de encuesta no es válido.",
        ),
        Err(DeskError::Action(ActionError::Illegal { hint, .. })) => state.message(
            StatusCode::CONFLICT,
            "Encuesta ya respondida",
            &format!("No se registró: {}", spanish_hint(hint)),
        ),
        Err(DeskError::Action(ActionError::Invalid { message, .. })) => state.message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Respuesta no válida",
            &message,
        ),
        Err(e) => {
            tracing::error!(error = %e, "survey answer failed");
            state.message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "No pudimos registrar su respuesta; intente más tarde.",
            )
        }
    }
}

fn spanish_hint(hint: &str) -> &str {
    match hint {
        "this survey was already answered" => "esta encuesta ya fue respondida.",
        "the survey is for closed tickets" => {
            "el ticket ya no está cerrado, o la encuesta es de un cierre anterior."
        }
        other => other,
    }
}

// ------------------------------------------------------------------ staff API

/// Constant-time comparison of the bearer token (by hashing both sides first).
fn token_matches(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
        && !expected.is_empty()
}

async fn require_staff(
    State(state): State<Shared>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(expected) = state.staff_token.as_deref() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !token_matches(given.trim(), expected) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "missing or wrong staff token (Authorization: Bearer …)"})),
        )
            .into_response();
    }
    next.run(request).await
}

/// Who acts: `X-Mesa-Actor: <name>` (recorded on every event), else "staff".
fn actor(headers: &HeaderMap) -> Actor {
    let name = headers
        .get("x-mesa-actor")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c))
        })
        .unwrap_or("staff");
    Actor::staff(name)
}

/// An error of the JSON API, rendered with its status: 422 with field errors for bad
/// input, 404 for an unknown ticket or link, 409 for an illegal step, 503 when the ticket
/// kept changing, 500 (logged, not shown) for the rest.
#[derive(Debug)]
pub enum ApiError {
    Desk(DeskError),
    /// Field → message.
    Fields(serde_json::Map<String, Value>),
}

impl ApiError {
    fn field(name: &str, message: String) -> Self {
        let mut m = serde_json::Map::new();
        m.insert(name.to_string(), Value::String(message));
        ApiError::Fields(m)
    }

    fn bad_json(detail: &str) -> Self {
        Self::field("body", format!("JSON no válido: {detail}"))
    }
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        ApiError::Desk(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Desk(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = match self {
            ApiError::Fields(errors) => {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(json!({"errors": errors})),
                )
                    .into_response();
            }
            ApiError::Desk(e) => e,
        };
        let (status, body) = match &e {
            DeskError::Invalid(errors) => {
                (StatusCode::UNPROCESSABLE_ENTITY, json!({"errors": errors}))
            }
            DeskError::UnknownFolio(_) | DeskError::Store(StoreError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, json!({"error": e.to_string()}))
            }
            DeskError::Action(ActionError::Illegal { .. }) => {
                (StatusCode::CONFLICT, json!({"error": e.to_string()}))
            }
            DeskError::Action(ActionError::Invalid { field, message }) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": {*field: message}}),
            ),
            DeskError::Action(ActionError::Policy(p)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": p.to_string()}),
            ),
            DeskError::Token(_) => (StatusCode::NOT_FOUND, json!({"error": e.to_string()})),
            DeskError::TooManyConflicts => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": e.to_string()}),
            ),
            _ => {
                tracing::error!(error = %e, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal error; it has been logged"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}

async fn queue(State(state): State<Shared>) -> Result<Json<Value>, ApiError> {
    let views = state.desk.queue().await?;
    Ok(Json(json!({"tickets": views})))
}

/// Mail that became no ticket (robots, unregistered senders, unreadable), newest first.
async fn set_aside_mail(State(state): State<Shared>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"mail": state.desk.set_aside_mail().await?})))
}

#[derive(Deserialize)]
struct ListQuery {
    stage: Option<String>,
    #[serde(default)]
    open: bool,
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_tickets(
    State(state): State<Shared>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let stage = match q.stage.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            Stage::parse(s)
                .ok_or_else(|| ApiError::field("stage", format!("unknown stage {s:?}")))?,
        ),
    };
    let filter = ListFilter {
        stage,
        open_only: q.open,
    };
    let page = PageRequest {
        after: q.after,
        limit: q.limit.unwrap_or(50).clamp(1, 200),
    };
    let p = state.desk.store().list(&filter, &page).await?;
    Ok(Json(json!({"tickets": p.items, "next": p.next})))
}

async fn ticket_detail(
    State(state): State<Shared>,
    Path(folio): Path<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    Ok(Json(state.desk.detail(&folio).await?))
}

async fn ticket_action(
    State(state): State<Shared>,
    Path(folio): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TicketView>, ApiError> {
    let action: Action = serde_json::from_slice(&body).map_err(|e| {
        ApiError::field(
            "action",
            format!("{e} (actions: set_severity, diagnose, escalate, reply, answer, wait, resume, log_work, close, reopen, deliver_root_cause, update_contact)"),
        )
    })?;
    let ticket = state.desk.act(&folio, &actor(&headers), &action).await?;
    Ok(Json(state.desk.view(ticket).await?))
}

/// `POST /staff/inbound-email`: a raw RFC 5322 message, as a mail server would hand it over.
async fn inbound_email(
    State(state): State<Shared>,
    body: Bytes,
) -> Result<Json<EmailOutcome>, ApiError> {
    let now = state.desk.now();
    Ok(Json(state.desk.intake_email(&body, now).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abd", "abc"));
        assert!(!token_matches("", ""));
    }

    #[test]
    fn actor_names_are_sanitised() {
        let mut h = HeaderMap::new();
        assert_eq!(actor(&h).to_string(), "staff:staff");
        h.insert("x-mesa-actor", "luis.garcia".parse().unwrap());
        assert_eq!(actor(&h).to_string(), "staff:luis.garcia");
        h.insert(
            "x-mesa-actor",
            "luis garcía; drop"
                .parse()
                .unwrap_or(axum::http::HeaderValue::from_static("x y")),
        );
        assert_eq!(actor(&h).to_string(), "staff:staff");
    }
}
