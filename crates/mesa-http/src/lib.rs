//! mesa's HTTP face, one axum [`Router`] served by `mesa serve` and by the http-api Lambda:
//! the customer form (`GET /`, `POST /tickets`), the satisfaction page (`/csat/{token}`),
//! the staff API under `/staff/…` (bearer token) and the staff workspace under `/panel/…`
//! (session cookie).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use mesa::desk::Desk;
use mesa::intake::{MAX_EMAIL_BYTES, MAX_TOTAL_ATTACHMENT_BYTES};
use serde_json::{Value, json};

mod bodies;
mod error;
mod form;
mod limits;
mod linger;
use limits::SubmissionLimit;
mod openapi;
mod panel;
pub mod report;
mod staff;
mod status;
mod survey;

pub use error::ApiError;
use form::{form_page, start_upload, submit};
pub use panel::{ExternalIdentity, ExternalSignIn};
use staff::{
    inbound_email, list_tickets, queue, require_staff, set_aside_mail, statistics, ticket_action,
    ticket_detail,
};
use survey::{csat_answer, csat_page};

/// What the router needs: the services and the staff credential.
pub struct AppState {
    pub desk: Arc<Desk>,
    /// Bearer token of the staff API; `None` when a gateway in front (API Gateway's JWT
    /// authorizer) has already authenticated every `/staff` request.
    pub staff_token: Option<String>,
    pages: minijinja::Environment<'static>,
    /// How often the workspace's queue refreshes itself.
    panel_refresh_seconds: u32,
    /// Sign-in through an identity provider (Cognito on AWS), instead of passwords here.
    external: Option<Arc<dyn ExternalSignIn>>,
    /// The workspace pages' Content-Security-Policy.
    csp: axum::http::HeaderValue,
    /// Customer submissions per client address; none: not limited here.
    submission_limit: Option<Arc<SubmissionLimit>>,
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
            ("estado.html", include_str!("../templates/estado.html")),
            (
                "panel/base.html",
                include_str!("../templates/panel/base.html"),
            ),
            (
                "panel/mensaje.html",
                include_str!("../templates/panel/mensaje.html"),
            ),
            (
                "panel/entrar.html",
                include_str!("../templates/panel/entrar.html"),
            ),
            (
                "panel/cola.html",
                include_str!("../templates/panel/cola.html"),
            ),
            (
                "panel/filas.html",
                include_str!("../templates/panel/filas.html"),
            ),
            (
                "panel/ticket.html",
                include_str!("../templates/panel/ticket.html"),
            ),
            (
                "panel/correo.html",
                include_str!("../templates/panel/correo.html"),
            ),
            (
                "panel/estadisticas.html",
                include_str!("../templates/panel/estadisticas.html"),
            ),
            (
                "panel/clientes.html",
                include_str!("../templates/panel/clientes.html"),
            ),
            (
                "panel/cliente.html",
                include_str!("../templates/panel/cliente.html"),
            ),
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
            panel_refresh_seconds: 30,
            external: None,
            csp: panel::content_security_policy(None),
            submission_limit: None,
        }
    }

    /// At most `per_minute` customer submissions a minute from one client address (429
    /// with `Retry-After` beyond): one machine, where the server sees its clients'
    /// addresses (`into_make_service_with_connect_info`).
    pub fn with_submission_limit(mut self, per_minute: std::num::NonZeroU32) -> Self {
        self.submission_limit = Some(SubmissionLimit::per_minute(per_minute));
        self
    }

    /// Staff sign in to the workspace through `provider` (AWS: the Cognito user pool's
    /// hosted sign-in) rather than with a password kept here.
    pub fn with_external_sign_in(mut self, provider: Arc<dyn ExternalSignIn>) -> Self {
        self.csp = panel::content_security_policy(Some(&provider.origin()));
        self.external = Some(provider);
        self
    }

    /// How often the workspace's queue refreshes itself (tests make it quick).
    pub fn with_panel_refresh_seconds(mut self, seconds: u32) -> Self {
        self.panel_refresh_seconds = seconds;
        self
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

/// One route of the JSON API. `/openapi.json` describes exactly the routes listed here.
struct JsonRoute {
    /// The handler's method, for the test that holds the document to these routes (the
    /// `MethodRouter` already routes by it).
    #[cfg_attr(not(test), allow(dead_code))]
    method: Method,
    path: &'static str,
    handler: MethodRouter<Shared>,
}

fn json_route(method: Method, path: &'static str, handler: MethodRouter<Shared>) -> JsonRoute {
    JsonRoute {
        method,
        path,
        handler,
    }
}

/// The JSON API open to anyone (the form's own `POST /tickets` takes JSON too).
fn public_json_routes() -> Vec<JsonRoute> {
    vec![
        json_route(
            Method::POST,
            "/tickets",
            post(submit).layer(DefaultBodyLimit::max(
                MAX_TOTAL_ATTACHMENT_BYTES + 256 * 1024,
            )),
        ),
        json_route(Method::POST, "/uploads", post(start_upload)),
        json_route(Method::GET, "/health", get(health)),
        json_route(Method::GET, "/openapi.json", get(openapi_document)),
    ]
}

/// The staff JSON API, under `/staff` (paths here without that prefix).
fn staff_json_routes() -> Vec<JsonRoute> {
    vec![
        json_route(Method::GET, "/queue", get(queue)),
        json_route(Method::GET, "/mail/set-aside", get(set_aside_mail)),
        json_route(Method::GET, "/stats", get(statistics)),
        json_route(Method::GET, "/tickets", get(list_tickets)),
        json_route(Method::GET, "/tickets/{folio}", get(ticket_detail)),
        json_route(
            Method::POST,
            "/tickets/{folio}/actions",
            post(ticket_action),
        ),
        json_route(
            Method::POST,
            "/inbound-email",
            post(inbound_email).layer(DefaultBodyLimit::max(MAX_EMAIL_BYTES + 1024)),
        ),
    ]
}

pub fn router(state: Arc<AppState>) -> Router {
    let staff = staff_json_routes()
        .into_iter()
        .fold(Router::new(), |r, route| r.route(route.path, route.handler))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_staff,
        ));
    public_json_routes()
        .into_iter()
        .fold(Router::new(), |r, route| r.route(route.path, route.handler))
        .route("/", get(form_page))
        .route("/csat/{token}", get(csat_page).post(csat_answer))
        .route("/estado", get(status::status_page))
        .nest("/staff", staff)
        .merge(panel::routes(&state))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_submissions,
        ))
        .layer(axum::middleware::from_fn(linger::drain_refused_bodies))
        .with_state(state)
}

/// `GET /openapi.json`: the JSON API's OpenAPI document, with today's support types.
async fn openapi_document(State(state): State<Shared>) -> Json<Value> {
    Json(openapi::document(&state.desk.policy()))
}

async fn health() -> Json<bodies::Health> {
    Json(bodies::Health { ok: true })
}
