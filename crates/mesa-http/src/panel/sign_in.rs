//! Signing in and out of the workspace: on one machine with address and password (a
//! pre-session cookie against login CSRF, the same answer for an unknown address and a
//! wrong password); on AWS through the identity provider, whose answer comes back to
//! `/panel/entrar/cognito`. Either way the session is then mesa's own cookie.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mesa::desk::{Session, SignInError};
use mesa::model::StaffRole;
use mesa::tokens::SESSION_LIFETIME;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::session::{
    PRESESSION_COOKIE, Staff, cookie, forbidden, post_ok, same_origin, session_cookie_name,
    set_cookie,
};
use crate::Shared;

const PRESESSION_PATH: &str = "/panel/entrar";

/// The pre-session cookie. Lax, not Strict: on AWS it must come back with the identity
/// provider's redirect, a top-level navigation from another site.
fn presession_cookie(state: &Shared, value: &str, max_age: i64) -> axum::http::HeaderValue {
    set_cookie(
        PRESESSION_COOKIE,
        value,
        PRESESSION_PATH,
        max_age,
        "Lax",
        state.secure_cookies(),
    )
}

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
        presession_cookie(state, &presession, 3600),
    );
    r
}

/// On one machine the form; with an identity provider, straight to it, with a `state`
/// bound to this browser's pre-session cookie and a PKCE challenge.
pub(crate) async fn sign_in_page(State(state): State<Shared>) -> Response {
    let Some(provider) = state.external.clone() else {
        return page(&state, StatusCode::OK, "", None);
    };
    let (presession, oauth_state) = state.desk.presession();
    let verifier = state.desk.pkce_verifier(&presession).unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = provider.authorize_url(&state.redirect_uri(), &oauth_state, &challenge);
    let mut r = Redirect::to(&url).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        presession_cookie(&state, &presession, 600),
    );
    r
}

/// The answer to a sign-in: the session cookie, and the pre-session one cleared.
fn signed_in(state: &Shared, session: &Session) -> Response {
    tracing::info!(staff = %session.member.email, "signed in");
    let secure = state.secure_cookies();
    let mut r = Redirect::to("/panel/").into_response();
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
    h.append(header::SET_COOKIE, presession_cookie(state, "", 0));
    r
}

fn unavailable(state: &Shared, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "sign-in failed");
    state.panel_message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Servicio no disponible",
        "No se pudo iniciar la sesión; intente de nuevo en un momento.",
    )
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
    if state.external.is_some() {
        // People sign in at the identity provider; no password is checked here.
        return state.panel_message(
            StatusCode::NOT_FOUND,
            "No disponible",
            "Inicie sesión desde /panel/ con su cuenta de la empresa.",
        );
    }
    let presession = cookie(&headers, PRESESSION_COOKIE).unwrap_or_default();
    if !same_origin(&headers) || !state.desk.presession_csrf_ok(presession, &form.csrf) {
        return forbidden(&state);
    }
    match state.desk.sign_in(&form.email, &form.password).await {
        Ok(session) => signed_in(&state, &session),
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
        Err(SignInError::Desk(e)) => unavailable(&state, &e),
    }
}

/// What the identity provider sends the browser back with.
#[derive(Deserialize)]
pub(crate) struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// The identity provider's answer: the `state` must be this browser's, the code is
/// exchanged (with the PKCE verifier) for the verified identity, and the person gets a
/// session; the account is made on first sign-in and its role follows the provider's groups.
pub(crate) async fn external_callback(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let Some(provider) = state.external.clone() else {
        return state.panel_message(
            StatusCode::NOT_FOUND,
            "No disponible",
            "Aquí se inicia sesión con correo y contraseña.",
        );
    };
    let presession = cookie(&headers, PRESESSION_COOKIE).unwrap_or_default();
    if !state.desk.presession_csrf_ok(presession, &callback.state) {
        return forbidden(&state);
    }
    if !callback.error.is_empty() || callback.code.is_empty() {
        return state.panel_message(
            StatusCode::UNAUTHORIZED,
            "No se inició la sesión",
            "El inicio de sesión se canceló o fue rechazado. Vuelva a intentarlo desde /panel/.",
        );
    }
    let verifier = state.desk.pkce_verifier(presession).unwrap_or_default();
    let identity = match provider
        .exchange(&callback.code, &state.redirect_uri(), &verifier)
        .await
    {
        Ok(i) => i,
        Err(why) => {
            tracing::warn!(reason = %why, "identity provider's answer refused");
            return state.panel_message(
                StatusCode::UNAUTHORIZED,
                "No se inició la sesión",
                "No se pudo verificar su identidad. Vuelva a intentarlo desde /panel/.",
            );
        }
    };
    let role = if identity.lead {
        StaffRole::Lead
    } else {
        StaffRole::Agent
    };
    match state
        .desk
        .sign_in_external(&identity.email, &identity.name, role)
        .await
    {
        Ok(session) => signed_in(&state, &session),
        Err(SignInError::Refused) | Err(SignInError::Locked(_)) => state.panel_message(
            StatusCode::FORBIDDEN,
            "Cuenta desactivada",
            "Su cuenta está desactivada en la mesa de soporte; hable con un líder.",
        ),
        Err(SignInError::Desk(e)) => unavailable(&state, &e),
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default, rename = "_csrf")]
    pub(crate) csrf: String,
}

/// Signs out: every session of the account ends, here and in other browsers (and, with an
/// identity provider, the provider's own session too).
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
    let next = match &state.external {
        Some(provider) => {
            provider.logout_url(&format!("{}/panel/entrar", state.desk.config().public_url))
        }
        None => "/panel/entrar".to_string(),
    };
    let mut r = Redirect::to(&next).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(session_cookie_name(secure), "", "/", 0, "Lax", secure),
    );
    r
}
