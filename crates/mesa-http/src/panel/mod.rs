//! The staff workspace: server-rendered pages under `/panel/…`, signed in with a session
//! cookie (the JSON API under `/staff/…` keeps its bearer token). Every page is escaped
//! HTML with no inline script or style, served with a strict Content-Security-Policy.
//!
//! | file | pages |
//! |---|---|
//! | `session.rs` | the session cookie, CSRF and origin checks |
//! | `sign_in.rs` | `/panel/entrar` (sign in), `/panel/salir` (sign out) |
//! | `queue.rs` | `/panel/` (the queue) and `/panel/cola/filas` (its rows, polled) |
//! | `ticket.rs` | `/panel/tickets/{folio}`: the ticket, its actions and its files |
//! | `mail.rs` | `/panel/correo`: mail set aside or quarantined, its original, release |
//! | `external.rs` | sign-in through an identity provider (Cognito on AWS) |
//! | `labels.rs` | Spanish names of actors, events and actions |

mod customers;
mod external;
pub(crate) mod labels;
mod mail;
mod queue;
mod session;
mod sign_in;
mod stats;
mod ticket;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mesa::desk::Session;
use serde_json::{Value, json};

pub use external::{ExternalIdentity, ExternalSignIn};

use crate::{AppState, Shared};

/// Scripts and styles only from our own `/static/`, no frames, forms only to us (and, with
/// an identity provider, to it: signing out redirects there).
pub(crate) fn content_security_policy(provider_origin: Option<&str>) -> HeaderValue {
    let form_action = match provider_origin {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".into(),
    };
    let text = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

pub(crate) fn routes(state: &Shared) -> Router<Shared> {
    Router::new()
        .route("/panel", get(|| async { Redirect::permanent("/panel/") }))
        .route("/panel/", get(queue::queue_page))
        .route("/panel/cola/filas", get(queue::queue_rows))
        .route(
            "/panel/entrar",
            get(sign_in::sign_in_page).post(sign_in::sign_in),
        )
        .route("/panel/entrar/cognito", get(sign_in::external_callback))
        .route("/panel/salir", post(sign_in::sign_out))
        .route(
            "/panel/tickets/{folio}",
            get(ticket::ticket_page).post(ticket::ticket_action),
        )
        .route("/panel/correo", get(mail::set_aside_page))
        .route("/panel/clientes", get(customers::customers_page))
        .route("/panel/clientes/{name}", get(customers::customer_page))
        .route("/panel/estadisticas", get(stats::stats_page))
        .route("/panel/informe", get(stats::report_page))
        .route("/panel/correo/{id}/original", get(mail::original))
        .route("/panel/correo/{id}/liberar", post(mail::release))
        .route(
            "/panel/tickets/{folio}/archivos/{index}",
            get(ticket::attachment),
        )
        .route(
            "/static/panel.css",
            get(|| asset("text/css", include_str!("../../static/panel.css"))),
        )
        .route(
            "/static/panel.js",
            get(|| asset("text/javascript", include_str!("../../static/panel.js"))),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
}

/// Staff names by address, to show a person where a ticket records an address; empty when
/// the accounts cannot be read (the addresses are shown then).
pub(crate) async fn staff_names(state: &Shared) -> std::collections::HashMap<String, String> {
    state
        .desk
        .staff_members()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.email, m.name))
        .collect()
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Headers of every workspace response: the CSP, no sniffing, no referrer to other sites,
/// no caching of pages that show customers' data.
async fn security_headers(
    axum::extract::State(state): axum::extract::State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let mut r = next.run(request).await;
    let h = r.headers_mut();
    // A response with a stricter policy of its own (a customer's file) keeps it.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, state.csp.clone());
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

impl AppState {
    /// Cookies are `Secure` when the public URL is HTTPS; over plain `http://127.0.0.1` a
    /// browser would drop them.
    pub(crate) fn secure_cookies(&self) -> bool {
        self.desk.config().public_url.starts_with("https://")
    }

    /// Where an identity provider sends the browser back after sign-in.
    pub(crate) fn redirect_uri(&self) -> String {
        format!("{}/panel/entrar/cognito", self.desk.config().public_url)
    }

    pub(crate) fn refresh_seconds(&self) -> u32 {
        self.panel_refresh_seconds
    }

    /// A workspace page for the signed-in `session`: its name and CSRF token join `context`.
    pub(crate) fn panel_page(&self, session: &Session, name: &str, mut context: Value) -> Response {
        if let Value::Object(map) = &mut context {
            map.insert("company_name".into(), json!(self.company()));
            map.insert(
                "me".into(),
                json!({
                    "email": session.member.email,
                    "name": session.member.name,
                    "role": session.member.role.label(),
                }),
            );
            map.insert("csrf".into(), json!(self.desk.csrf_token(session)));
        }
        self.page(name, context)
    }

    pub(crate) fn panel_message(&self, status: StatusCode, title: &str, message: &str) -> Response {
        let mut r = self.page(
            "panel/mensaje.html",
            json!({"title": title, "message": message, "company_name": self.company()}),
        );
        *r.status_mut() = status;
        r
    }
}
