//! `cargo run -p mesa-tests --bin local-aws`: the local AWS the tests use, for a person.
//!
//! Starts the emulators (moto: S3, SES, EventBridge, SQS; dynoxide: DynamoDB, both from
//! `.venv`, installed by `tests/run`), creates the stack's table from `infra/template.yaml`
//! and its buckets, puts the raw mail of `tests/fixtures/ses-receipt.json` where SES would,
//! writes the functions' environment to `.venv/local-aws.env`, and runs until Ctrl-C.

use mesa_tests::emulator::{LocalStack, clients};

#[tokio::main]
async fn main() {
    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa-local").await;
    stack.seed_fixture_mail(&clients).await;
    let env_file = mesa_tests::workspace().join(".venv/local-aws.env");
    stack.write_env_file(&env_file);
    let env_file = env_file.canonicalize().unwrap_or(env_file);
    println!(
        "local AWS is up; the functions' environment is in {}",
        env_file.display()
    );
    println!();
    for (k, v) in stack.process_env() {
        println!("  {k}={v}");
    }
    println!(
        "\nIn another terminal:\n\
         \n  cargo lambda watch --env-file {env}\
         \n  cargo lambda invoke intake-email --data-file tests/fixtures/ses-receipt.json\
         \n  cargo lambda invoke outbox --data-file tests/fixtures/dynamodb-stream.json\
         \n  cargo lambda invoke sla-sweep --data-file tests/fixtures/eventbridge-schedule.json\
         \n  cargo lambda invoke mail-feedback --data-file tests/fixtures/ses-delivery-event.json\
         \n  cargo lambda invoke http-api --data-file tests/fixtures/apigw-http-health.json\
         \n\nSent mail: {}/moto-api/data.json. Ctrl-C stops the emulators.",
        mesa_tests::emulator::endpoint(),
        env = env_file.display(),
    );
    tokio::signal::ctrl_c().await.expect("waiting for Ctrl-C");
}
