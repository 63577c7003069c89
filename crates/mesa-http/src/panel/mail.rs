//! Mail that made no ticket: robots' mail and senders set aside on purpose, and messages
//! that could not be read (quarantine), each with its reason and its original; a lead can
//! make a ticket of one a person says is a customer's.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mesa::desk::DeskError;
use serde_json::json;

use super::labels;
use super::session::{Staff, forbidden, post_ok};
use super::sign_in::CsrfOnly;
use crate::Shared;

pub(crate) async fn set_aside_page(State(state): State<Shared>, Staff(session): Staff) -> Response {
    let records = match state.desk.set_aside_mail().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "set-aside mail list failed");
            return state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudo leer el correo apartado; intente de nuevo en un momento.",
            );
        }
    };
    let calendar = state.desk.policy().calendar().clone();
    let rows: Vec<_> = records
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": calendar.local(r.received_at).format("%d-%m-%Y %H:%M").to_string(),
                "kind": if r.ignored { "Apartado" } else { "Cuarentena" },
                "reason": labels::set_aside_reason(&r.reason),
                "released_as": r.released_as,
                "releasable": r.ignored,
            })
        })
        .collect();
    state.panel_page(
        &session,
        "panel/correo.html",
        json!({"rows": rows, "is_lead": session.member.is_lead()}),
    )
}

/// The message as received, as plain text to download (never rendered as HTML).
pub(crate) async fn original(
    State(state): State<Shared>,
    Staff(_session): Staff,
    Path(id): Path<String>,
) -> Response {
    match state.desk.set_aside_original(&id).await {
        Ok(Some((record, raw))) => {
            let mut r = raw.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            let name = format!(
                "attachment; filename=\"{}.eml\"",
                record.id.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            );
            if let Ok(v) = HeaderValue::from_str(&name) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            );
            r
        }
        Ok(None) => state.panel_message(
            StatusCode::NOT_FOUND,
            "Correo no encontrado",
            "No hay correo apartado con ese identificador.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "set-aside original failed");
            state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudo leer el mensaje; intente de nuevo en un momento.",
            )
        }
    }
}

/// A lead makes a ticket of set-aside mail.
pub(crate) async fn release(
    State(state): State<Shared>,
    Staff(session): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !post_ok(&state, &session, &headers, &form.csrf) {
        return forbidden(&state);
    }
    if !session.member.is_lead() {
        return state.panel_message(
            StatusCode::FORBIDDEN,
            "Solo un líder",
            "Solo un líder de soporte puede crear un ticket con correo apartado.",
        );
    }
    match state.desk.release_mail(&id, &session.member.actor()).await {
        Ok(outcome) => match outcome.folio {
            Some(folio) => {
                Redirect::to(&format!("/panel/tickets/{}?hecho=release", folio.as_str()))
                    .into_response()
            }
            None => state.panel_message(
                StatusCode::UNPROCESSABLE_ENTITY,
                "No se creó el ticket",
                outcome
                    .reason
                    .as_deref()
                    .unwrap_or("El mensaje no produjo un ticket."),
            ),
        },
        Err(DeskError::Invalid(errors)) => state.panel_message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "No se puede crear el ticket",
            &errors.values().cloned().collect::<Vec<_>>().join(" "),
        ),
        Err(e) => {
            tracing::error!(error = %e, "release failed");
            state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudo crear el ticket; intente de nuevo en un momento.",
            )
        }
    }
}
