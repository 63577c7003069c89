//! The staff JSON API under `/staff/…`: bearer token on one machine, the gateway's
//! verified identity on AWS; the actor is recorded on every action.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mesa::desk::{EmailOutcome, TicketDetail, TicketView};
use mesa::lifecycle::Action;
use mesa::model::{Actor, Stage};
use mesa::ports::{ListFilter, PageRequest};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Shared;
use super::bodies::{ListQuery, Queue, SetAsideMail, StatsQuery, TicketPage};
use super::error::ApiError;

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

pub(super) async fn require_staff(
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

pub(super) async fn queue(State(state): State<Shared>) -> Result<Json<Queue>, ApiError> {
    Ok(Json(Queue {
        tickets: state.desk.queue().await?,
    }))
}

/// Mail that became no ticket (robots, unregistered senders, unreadable), newest first.
pub(super) async fn set_aside_mail(
    State(state): State<Shared>,
) -> Result<Json<SetAsideMail>, ApiError> {
    Ok(Json(SetAsideMail {
        mail: state.desk.set_aside_mail().await?,
    }))
}

pub(super) async fn list_tickets(
    State(state): State<Shared>,
    Query(q): Query<ListQuery>,
) -> Result<Json<TicketPage>, ApiError> {
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
        ..ListFilter::default()
    };
    let page = PageRequest {
        after: q.after,
        limit: q.limit.unwrap_or(50).clamp(1, 200),
    };
    let p = state.desk.store().list(&filter, &page).await?;
    Ok(Json(TicketPage {
        tickets: p.items,
        next: p.next,
    }))
}

pub(super) async fn ticket_detail(
    State(state): State<Shared>,
    Path(folio): Path<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    Ok(Json(state.desk.detail(&folio).await?))
}

pub(super) async fn ticket_action(
    State(state): State<Shared>,
    Path(folio): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TicketView>, ApiError> {
    let action: Action = serde_json::from_slice(&body).map_err(|e| {
        ApiError::field(
            "action",
            format!("{e} (actions: {})", Action::NAMES.join(", ")),
        )
    })?;
    let actor = actor(&headers);
    let ticket = match (&action, &actor) {
        // Behind the gateway every member of the user pool has a token: who may give a
        // ticket to whom is the workspace's rule here too. (The one-machine bearer token
        // is the administrator's, for scripts.)
        (Action::Assign { .. }, Actor::Staff(who)) if state.staff_token.is_none() => {
            let Some(member) = state.desk.staff_member(who).await? else {
                return Err(ApiError::field(
                    "to",
                    "only staff with an account in the workspace assign tickets".into(),
                ));
            };
            state
                .desk
                .act_seen(&folio, &member, &action, u64::MAX)
                .await?
        }
        _ => state.desk.act(&folio, &actor, &action).await?,
    };
    Ok(Json(state.desk.view(ticket).await?))
}

/// `GET /staff/stats?from=&to=[&customer=]`: response times and SLA compliance of a period.
pub(super) async fn statistics(
    State(state): State<Shared>,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<mesa::stats::Statistics>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    let tz = state.desk.policy().calendar().time_zone();
    let period = mesa::stats::Period::days(q.from, q.to, &tz)
        .map_err(|e| ApiError::field("to", e.to_string()))?;
    Ok(Json(
        state.desk.statistics(period, q.customer.as_deref()).await?,
    ))
}

/// `POST /staff/inbound-email`: a raw RFC 5322 message, as a mail server would hand it over.
pub(super) async fn inbound_email(
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
