//! `/estado`: the public status page. Open major incidents with their cause, the actions in
//! course, the estimate and every update; those resolved in the last three days.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::Shared;

pub(super) async fn status_page(State(state): State<Shared>) -> Response {
    let incidents = match state.desk.store().incidents().await {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "status page: incidents not read");
            return state.message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Estado del servicio",
                "No pudimos consultar el estado del servicio. Intente de nuevo en unos minutos.",
            );
        }
    };
    let policy = state.desk.policy();
    let local = |t| mesa::outbox::human_time(&policy, t);
    let since = state.desk.now() - chrono::Duration::days(3);
    let mut open: Vec<Value> = Vec::new();
    let mut resolved: Vec<Value> = Vec::new();
    for i in incidents {
        match &i.resolved {
            None => open.push(json!({
                "id": i.id,
                "service": i.service,
                "cause": i.cause,
                "actions": i.actions,
                "declared": local(i.declared_at),
                "eta": i.current_estimate().map(local),
                "updates": i.updates.iter().map(|u| json!({"at": local(u.at), "text": u.text})).collect::<Vec<_>>(),
            })),
            Some(r) if r.at >= since => resolved.push(json!({
                "service": i.service,
                "cause": i.cause,
                "resolved": local(r.at),
                "summary": r.summary,
            })),
            Some(_) => {}
        }
    }
    state.page(
        "estado.html",
        json!({"company_name": state.company(), "open": open, "resolved": resolved}),
    )
}
