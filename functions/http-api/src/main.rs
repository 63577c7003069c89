//! API Gateway HTTP API → the mesa-http Router (form, survey, staff API). Staff routes are
//! authenticated by the API's Cognito JWT authorizer before they reach this function.

use std::sync::Arc;

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mesa_aws::init_tracing();
    let wiring = mesa_aws::Wiring::from_env().await?;
    let state = Arc::new(mesa_http::AppState::behind_gateway(wiring.desk.clone()));
    lambda_http::run(mesa_http::router(state)).await
}
