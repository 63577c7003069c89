use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mesa_aws::init_tracing();
    let wiring = mesa_aws::Wiring::from_env().await?;
    let sign_in = http_api::cognito::Cognito::from_env()?
        .map(|c| std::sync::Arc::new(c) as std::sync::Arc<dyn mesa_http::ExternalSignIn>);
    lambda_http::run(http_api::app_with(wiring.desk.clone(), sign_in)).await
}
