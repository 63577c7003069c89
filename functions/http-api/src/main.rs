use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    mesa_aws::init_tracing();
    let wiring = mesa_aws::Wiring::from_env().await?;
    lambda_http::run(http_api::app(wiring.desk.clone())).await
}
