use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mesa_aws::init_tracing();
    let wiring = mesa_aws::Wiring::for_function().await?;
    let cognito = match http_api::cognito::Cognito::from_env() {
        Ok(c) => c,
        Err(e) => {
            mesa_aws::report_init_error("mesa.ConfigError", &e).await;
            return Err(e.into());
        }
    };
    let sign_in =
        cognito.map(|c| std::sync::Arc::new(c) as std::sync::Arc<dyn mesa_http::ExternalSignIn>);
    lambda_http::run(http_api::app_with(
        wiring.desk.clone(),
        sign_in,
        wiring.rules.clone(),
    ))
    .await
}
