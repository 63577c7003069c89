//! Signing in and out of the workspace on one machine: address and password, a
//! pre-session cookie against login CSRF, the same answer for an unknown address and a
//! wrong password.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mesa::desk::SignInError;
use mesa::tokens::SESSION_LIFETIME;
use serde::Deserialize;
use serde_json::json;

use super::session::{
    PRESESSION_COOKIE, Staff, cookie, forbidden, post_ok, same_origin, session_cookie_name,
    set_cookie,
};
use crate::Shared;

const PRESESSION_PATH: &str = "/panel/entrar";

/// The sign-in page with a fresh pre-session cookie, an optional error and status.
fn page(state: &Shared, status: StatusCode, email: &str, error: Option<String>) -> Response {
    let (presession, csrf) = state.desk.presession();
    let mut r = state.page(
        "panel/entrar.html",
        json!({
            "company_name": state.company(),
            "email": email,
            "error": error,
            "csrf": csrf,
        }),
    );
    *r.status_mut() = status;
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            PRESESSION_COOKIE,
            &presession,
            PRESESSION_PATH,
            3600,
            "Strict",
            state.secure_cookies(),
        ),
    );
    r
}

pub(crate) async fn sign_in_page(State(state): State<Shared>) -> Response {
    page(&state, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

pub(crate) async fn sign_in(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let presession = cookie(&headers, PRESESSION_COOKIE).unwrap_or_default();
    if !same_origin(&headers) || !state.desk.presession_csrf_ok(presession, &form.csrf) {
        return forbidden(&state);
    }
    match state.desk.sign_in(&form.email, &form.password).await {
        Ok(session) => {
            tracing::info!(staff = %session.member.email, "signed in");
            let mut r = Redirect::to("/panel/").into_response();
            let secure = state.secure_cookies();
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(
                    session_cookie_name(secure),
                    &session.token,
                    "/",
                    SESSION_LIFETIME.num_seconds(),
                    "Lax",
                    secure,
                ),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(PRESESSION_COOKIE, "", PRESESSION_PATH, 0, "Strict", secure),
            );
            r
        }
        Err(SignInError::Refused) => page(
            &state,
            StatusCode::UNAUTHORIZED,
            &form.email,
            Some("Correo o contraseña incorrectos.".into()),
        ),
        Err(SignInError::Locked(until)) => {
            let local = state.desk.policy().calendar().local(until);
            page(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                &form.email,
                Some(format!(
                    "Demasiados intentos fallidos: la cuenta está bloqueada hasta las {} (hora de la Ciudad de México).",
                    local.format("%H:%M")
                )),
            )
        }
        Err(SignInError::Desk(e)) => {
            tracing::error!(error = %e, "sign-in failed");
            state.panel_message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Servicio no disponible",
                "No se pudo iniciar la sesión; intente de nuevo en un momento.",
            )
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default, rename = "_csrf")]
    pub(crate) csrf: String,
}

/// Signs out: every session of the account ends, here and in other browsers.
pub(crate) async fn sign_out(
    State(state): State<Shared>,
    Staff(session): Staff,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !post_ok(&state, &session, &headers, &form.csrf) {
        return forbidden(&state);
    }
    if let Err(e) = state.desk.sign_out(&session).await {
        tracing::error!(error = %e, "sign-out failed");
        return state.panel_message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Servicio no disponible",
            "No se pudo cerrar la sesión; intente de nuevo.",
        );
    }
    tracing::info!(staff = %session.member.email, "signed out");
    let secure = state.secure_cookies();
    let mut r = Redirect::to("/panel/entrar").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie_name(secure), "", "/", 0, "Lax", secure),
    );
    r
}
