//! What the JSON handlers answer when something is wrong: field errors, conflicts, and
//! store or desk failures, each with its status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mesa::desk::DeskError;
use mesa::lifecycle::ActionError;
use mesa::ports::StoreError;
use serde_json::{Value, json};

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
    pub(crate) fn field(name: &str, message: String) -> Self {
        let mut m = serde_json::Map::new();
        m.insert(name.to_string(), Value::String(message));
        ApiError::Fields(m)
    }

    pub(crate) fn bad_json(detail: &str) -> Self {
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
            DeskError::Action(ActionError::Illegal { .. }) | DeskError::ChangedSince(_) => {
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
            // Throttled or timed out: the same request may go through in a moment.
            DeskError::Store(StoreError::Busy(_)) => {
                tracing::warn!(error = %e, "store busy");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, "2")],
                    Json(json!({"error": "the help desk is busy; try again in a moment"})),
                )
                    .into_response();
            }
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
