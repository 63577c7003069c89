//! A cold start that cannot complete (a missing or bad setting, built-in rules that do not
//! load) is reported to the Lambda Runtime API's init-error endpoint with its type, so the
//! invocation fails at once as `mesa.ConfigError` (or `mesa.RulesError`) with the message,
//! instead of a bare exit that Lambda reports as `Runtime.ExitError`.
//!
//! `lambda_runtime` reports handler errors but offers nothing for init; its own client crate
//! is used for the one request.

use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{PooledClient, build_request};
use serde_json::json;

/// The path of the Runtime API's init-error endpoint.
const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// Logs `error` and tells the Runtime API (when the process runs under one) that init
/// failed, with `error_type` (`mesa.ConfigError`, …) and the message. The caller exits
/// afterwards.
pub async fn report_init_error(error_type: &str, error: &dyn std::fmt::Display) {
    tracing::error!(error = %error, error_type, "the function cannot start");
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    // Lambda gives `host:port`; emulators (cargo lambda watch) a URL with a path.
    let base = if api.contains("://") {
        api.clone()
    } else {
        format!("http://{api}")
    };
    let Ok(base) = http::Uri::try_from(base) else {
        tracing::error!(
            api,
            "AWS_LAMBDA_RUNTIME_API is not an address; init error not reported"
        );
        return;
    };
    let body = json!({
        "errorMessage": error.to_string(),
        "errorType": error_type,
        "stackTrace": [],
    });
    let request = build_request()
        .method(http::Method::POST)
        .uri(INIT_ERROR_PATH)
        .header("Lambda-Runtime-Function-Error-Type", error_type)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()));
    let (Ok(request), Some(_)) = (request, base.authority()) else {
        return;
    };
    let client = PooledClient::builder().with_endpoint(base).build();
    match tokio::time::timeout(std::time::Duration::from_secs(2), client.call(request)).await {
        Ok(Ok(response)) if response.status().is_success() => {}
        Ok(Ok(response)) => {
            tracing::error!(
                status = response.status().as_u16(),
                "the Runtime API refused the init error"
            );
        }
        Ok(Err(e)) => tracing::error!(error = %e, "the init error could not be reported"),
        Err(_) => tracing::error!("the Runtime API did not answer the init error in time"),
    }
}
