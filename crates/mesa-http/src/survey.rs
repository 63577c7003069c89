//! The satisfaction survey a customer answers after each closing (`/csat/{token}`).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mesa::desk::DeskError;
use mesa::lifecycle::ActionError;
use mesa::model::Stage;
use serde::Deserialize;
use serde_json::json;

use super::Shared;

pub(super) async fn csat_page(State(state): State<Shared>, Path(token): Path<String>) -> Response {
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
pub(super) struct CsatForm {
    satisfied: String,
    #[serde(default)]
    comment: String,
}

pub(super) async fn csat_answer(
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
        Err(DeskError::Action(ActionError::Illegal { hint, .. })) => {
            // The customer who changed their mind must know how to be heard (a ticket no
            // longer closed is being followed up already).
            let way_on = if hint != "this survey was already answered" {
                ""
            } else if state.desk.policy().settings().reopen_closed_on_reply {
                "Si el problema sigue, responda al correo de cierre de su ticket y reabriremos el seguimiento."
            } else {
                "Si el problema sigue, escríbanos un correo nuevo y le daremos seguimiento."
            };
            state.message(
                StatusCode::CONFLICT,
                "Encuesta ya respondida",
                format!("No se registró: {} {way_on}", spanish_hint(hint)).trim_end(),
            )
        }
        Err(DeskError::Action(ActionError::Invalid { message, .. })) => state.message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Respuesta no válida",
            &format!("El comentario {}.", crate::panel::labels::refusal(&message)),
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
