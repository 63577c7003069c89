//! The customer's form: the page, its submission (HTML and JSON) and presigned uploads.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mesa::desk::{Desk, DeskError};
use mesa::intake::{FieldErrors, FormInput, MAX_TOTAL_ATTACHMENT_BYTES, Upload, YesNo};
use serde_json::{Value, json};

use super::bodies::{TicketCreated, UploadRequest};
use super::error::ApiError;
use super::{AppState, Shared};

fn response_hours(desk: &Desk) -> Vec<Value> {
    let policy = desk.policy();
    std::iter::once(Value::Null)
        .chain((1..=4).map(|level| {
            let hours = mesa::Severity::new(level)
                .ok()
                .and_then(|s| policy.milestones(&mesa::TicketFacts::default(), s).ok())
                .and_then(|defs| defs.iter().find(|d| d.name == "response").cloned())
                .map(|d| d.target.duration(policy.calendar()).num_hours());
            json!(hours)
        }))
        .collect()
}

/// The form's page context; `token` is the one it was sent with when shown again.
fn form_context(
    state: &AppState,
    values: &FormInput,
    errors: &FieldErrors,
    token: Option<&str>,
) -> Value {
    let policy = state.desk.policy();
    let form_token = match token {
        Some(previous) => state.desk.form_token_again(previous),
        None => state.desk.form_token(),
    };
    json!({
        "company_name": policy.settings().company_name,
        "time_zone_label": policy.settings().time_zone_label,
        "support_types": policy.support_types(),
        "form_token": form_token,
        "values": values,
        "errors": errors,
        "response_hours": response_hours(&state.desk),
    })
}

pub(super) async fn form_page(State(state): State<Shared>) -> Response {
    state.page(
        "form.html",
        form_context(&state, &FormInput::default(), &FieldErrors::new(), None),
    )
}

/// `POST /tickets`: the page (multipart) or an API client (JSON).
pub(super) async fn submit(State(state): State<Shared>, request: Request) -> Response {
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
            // Over the size limit: 413, as the limit layer promises, not a JSON error.
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(json!({"errors": {"body": "La solicitud excede el tamaño máximo (anexos hasta 20 MB en total)."}})),
            )
                .into_response(),
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

/// `POST /uploads` `{"filename","size"}`: where to PUT a file too large to go with the form
/// through the API gateway (201 with `url`, `method`, `token`); 404 where files simply go
/// with the form.
pub(super) async fn start_upload(
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
            Some(grant) => (StatusCode::CREATED, Json(grant)).into_response(),
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
    Ok((status, Json(TicketCreated::from(&s))).into_response())
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
                errors.insert("attachments".into(), receive_error(None, e.status()));
                let mut r = state.page(
                    "form.html",
                    form_context(&state, &input, &errors, Some(&token)),
                );
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
                        receive_error(Some(&filename), e.status()),
                    );
                    let mut r = state.page(
                        "form.html",
                        form_context(&state, &input, &errors, Some(&token)),
                    );
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
            "serial" => input.serial = value,
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
            // A token already used for another report is done: the page gets a fresh one.
            let used = errors
                .get("form_token")
                .is_some_and(|m| m == mesa::messages::FORM_ALREADY_SENT);
            let keep = (!used).then_some(token.as_str());
            let mut r = state.page("form.html", form_context(&state, &input, &errors, keep));
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

/// What the customer reads when the form's body could not be read whole: the limit they
/// went over when that is why, in Spanish (the multipart reader's own text is English).
fn receive_error(filename: Option<&str>, status: StatusCode) -> String {
    let what = match filename {
        Some(name) => format!("«{}»", mesa::intake::clean_filename(name)),
        None => "el formulario completo".to_string(),
    };
    let total_mb = MAX_TOTAL_ATTACHMENT_BYTES / 1024 / 1024;
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "No pudimos recibir {what}: los anexos suman más de {total_mb} MB, el máximo del formulario. Anexe menos archivos o más ligeros; puede enviar los demás respondiendo al correo de acuse."
        )
    } else {
        format!(
            "No pudimos recibir {what}: la conexión se interrumpió. Intente de nuevo (los anexos suman como máximo {total_mb} MB)."
        )
    }
}
