//! The workspace's session: a signed cookie (see `mesa::tokens`), checked on every page,
//! and the CSRF and origin checks every form post passes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use mesa::desk::Session;

use crate::Shared;

/// The session cookie's name: with the `__Host-` prefix when served over HTTPS, so that
/// the browser only takes it Secure, for the whole host and from this host alone.
pub(crate) fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-mesa_sesion"
    } else {
        "mesa_sesion"
    }
}

pub(crate) const PRESESSION_COOKIE: &str = "mesa_previo";

/// The value of cookie `name` in the request, if sent.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value. Values are our own tokens (URL-safe base64 and dots), never
/// anything a client sent.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: &str,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    );
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("mesa_invalid=; Max-Age=0"))
}

/// Someone signed in to the workspace. Pages that take this redirect strangers to the
/// sign-in page.
pub(crate) struct Staff(pub Session);

impl FromRequestParts<Shared> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let name = session_cookie_name(state.secure_cookies());
        let Some(token) = cookie(&parts.headers, name) else {
            return Err(Redirect::to("/panel/entrar").into_response());
        };
        match state.desk.session(token).await {
            Ok(s) => Ok(Staff(s)),
            Err(mesa::desk::SessionError::Desk(e)) => {
                tracing::error!(error = %e, "session check failed");
                Err(state.panel_message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Servicio no disponible",
                    "No se pudo comprobar la sesión; intente de nuevo en un momento.",
                ))
            }
            Err(e) => {
                tracing::info!(reason = %e, "session refused");
                let mut r = Redirect::to("/panel/entrar").into_response();
                r.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(name, "", "/", 0, "Lax", state.secure_cookies()),
                );
                Err(r)
            }
        }
    }
}

/// Whether a form post comes from our own pages: the browser's `Sec-Fetch-Site`, else the
/// `Origin` against the `Host` it was sent to. Absent both (old clients, scripts), the CSRF
/// token alone decides.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| !host.is_empty() && authority == host)
}

/// The answer to a post that fails the origin or CSRF check.
pub(crate) fn forbidden(state: &Shared) -> Response {
    state.panel_message(
        StatusCode::FORBIDDEN,
        "Formulario no válido",
        "El formulario no vino de esta página o caducó. Vuelva a cargar la página e intente de nuevo.",
    )
}

/// Whether a signed-in post passes: same origin and the session's own CSRF token.
pub(crate) fn post_ok(state: &Shared, session: &Session, headers: &HeaderMap, csrf: &str) -> bool {
    same_origin(headers) && state.desk.csrf_ok(session, csrf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_found_among_others_and_in_several_headers() {
        let h = headers(&[("cookie", "a=1; mesa_sesion=abc.def"), ("cookie", "b=2")]);
        assert_eq!(cookie(&h, "mesa_sesion"), Some("abc.def"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "mesa"), None);
    }

    #[test]
    fn posts_from_another_site_are_refused() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[])));
    }

    #[test]
    fn the_session_cookie_is_http_only_lax_and_secure_only_over_https() {
        let c = set_cookie("mesa_sesion", "t", "/", 43200, "Lax", false);
        assert_eq!(
            c.to_str().unwrap(),
            "mesa_sesion=t; Path=/; Max-Age=43200; HttpOnly; SameSite=Lax"
        );
        let c = set_cookie(session_cookie_name(true), "t", "/", 43200, "Lax", true);
        assert!(
            c.to_str()
                .unwrap()
                .starts_with("__Host-mesa_sesion=t; Path=/;")
        );
        assert!(c.to_str().unwrap().ends_with("; Secure"));
    }
}
