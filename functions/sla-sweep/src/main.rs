use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let wiring = mesa_aws::Wiring::from_env().await?;
    let wiring = &wiring;
    lambda_runtime::run(service_fn(move |event| sla_sweep::handle(wiring, event))).await
}
