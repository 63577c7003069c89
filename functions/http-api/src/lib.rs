//! API Gateway HTTP API → the mesa-http Router (form, survey, staff API, workspace). Staff
//! API routes are authenticated by the API's Cognito JWT authorizer before they reach this
//! function; the staff member recorded on every event is the one the token names. The
//! workspace's pages sign people in through the user pool's hosted sign-in (`cognito`).

pub mod cognito;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::HeaderValue;
use lambda_http::request::RequestContext;
use mesa::desk::Desk;
use mesa_aws::S3RulesSource;

/// The header mesa-http records as the acting staff member.
const ACTOR_HEADER: &str = "x-mesa-actor";

/// The Router the function serves, without workspace sign-in.
pub fn app(desk: Arc<Desk>) -> axum::Router {
    app_with(desk, None, None)
}

/// The Router the function serves, the workspace signing people in through `sign_in`; with
/// `rules`, a newly published bundle is picked up like the other functions do (looked for
/// before a request, at most once per the source's interval).
pub fn app_with(
    desk: Arc<Desk>,
    sign_in: Option<Arc<dyn mesa_http::ExternalSignIn>>,
    rules: Option<Arc<S3RulesSource>>,
) -> axum::Router {
    let mut state = mesa_http::AppState::behind_gateway(desk.clone());
    if let Some(provider) = sign_in {
        state = state.with_external_sign_in(provider);
    }
    let router =
        mesa_http::router(Arc::new(state)).layer(axum::middleware::map_request(staff_from_jwt));
    match rules {
        Some(source) => router.layer(axum::middleware::from_fn(
            move |request: Request, next: axum::middleware::Next| {
                let (source, desk) = (source.clone(), desk.clone());
                async move {
                    mesa_aws::refresh_rules(&source, &desk).await;
                    next.run(request).await
                }
            },
        )),
        None => router,
    }
}

/// Who acts is who the gateway's authorizer verified, never what the client says: a
/// client's own `X-Mesa-Actor` is dropped and replaced by the token's claim.
async fn staff_from_jwt(mut request: Request) -> Request {
    let name = staff_name(request.extensions().get::<RequestContext>());
    let headers = request.headers_mut();
    headers.remove(ACTOR_HEADER);
    if let Some(value) = name.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(ACTOR_HEADER, value);
    }
    request
}

/// The staff member named by the JWT claims: e-mail (ID tokens), else the user name
/// (access tokens), else the subject.
pub fn staff_name(context: Option<&RequestContext>) -> Option<String> {
    let Some(RequestContext::ApiGatewayV2(context)) = context else {
        return None;
    };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    ["email", "cognito:username", "username", "sub"]
        .iter()
        .find_map(|k| claims.get(*k).filter(|v| !v.is_empty()).cloned())
}
