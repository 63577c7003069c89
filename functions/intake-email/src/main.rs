use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    mesa_aws::init_tracing();
    let wiring = mesa_aws::Wiring::for_function().await?;
    let wiring = &wiring;
    lambda_runtime::run(service_fn(move |event| {
        intake_email::handle_raw(wiring, event)
    }))
    .await
}
