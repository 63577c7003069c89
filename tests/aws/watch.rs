//! Each function's release build (the `bootstrap` that `cargo lambda build --release` makes,
//! the artifact SAM deploys) answers an invocation with its fixture from `tests/fixtures/`,
//! under `cargo lambda watch`'s emulator of the Lambda control plane and runtime API, against
//! the local AWS, configured by the same env file a person passes to `cargo lambda watch`.
//!
//! The emulator runs with `--only-lambda-apis` and the test starts each bootstrap itself:
//! letting `cargo lambda watch` compile the functions (`cargo run --bin NAME`, each with its own
//! feature set, so nothing is shared with the test build) took a quarter of an hour of a fresh
//! CI run and timed out once; and the bootstrap is what runs on AWS.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mesa_tests::emulator::{LocalStack, clients};
use mesa_tests::{free_port, workspace};
use serde_json::Value;

/// A child process (and its process group) ended on drop.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: signals the process group this test created (the child is its leader).
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

const FUNCTIONS: [(&str, &str); 5] = [
    ("intake-email", "ses-receipt.json"),
    ("outbox", "dynamodb-stream.json"),
    ("sla-sweep", "eventbridge-schedule.json"),
    ("mail-feedback", "ses-delivery-event.json"),
    ("http-api", "apigw-http-health.json"),
];

fn bootstrap(function: &str) -> PathBuf {
    let path = workspace()
        .join("target/lambda")
        .join(function)
        .join("bootstrap");
    assert!(
        path.exists(),
        "{} is missing: run `cargo lambda build --release` (tests/run does)",
        path.display()
    );
    path
}

fn invoke(port: u16, function: &str, fixture: &str) -> Value {
    let body = std::fs::read_to_string(workspace().join("tests/fixtures").join(fixture)).unwrap();
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent
        .post(&format!(
            "http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations"
        ))
        .header("content-type", "application/json")
        .send(body.as_str())
        .unwrap_or_else(|e| panic!("invoking {function}: {e}"));
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status(), 200, "{function}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{function}: not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_released_function_answers_its_fixture_under_the_cargo_lambda_emulator() {
    let cargo_lambda = workspace().join(".venv/bin/cargo-lambda");
    assert!(
        cargo_lambda.exists(),
        "cargo-lambda is not installed: run tests/run once (it installs it into .venv)"
    );
    let bootstraps = FUNCTIONS.map(|(function, _)| bootstrap(function));
    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa-watch").await;
    stack.seed_fixture_mail(&clients).await;
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("local-aws.env");
    stack.write_env_file(&env_file);

    let port = free_port();
    let log_path = dir.path().join("watch.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let emulator = Command::new(&cargo_lambda)
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .arg("--env-file")
        .arg(&env_file)
        .current_dir(workspace())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log.try_clone().unwrap())
        .process_group(0)
        .spawn()
        .expect("cargo lambda watch starts");
    let _emulator = Running(emulator);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "cargo lambda watch did not listen: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Each bootstrap polls its own function's runtime API, with the env file's settings and
    // the variables Lambda itself sets.
    let _functions: Vec<Running> = FUNCTIONS
        .iter()
        .zip(&bootstraps)
        .map(|((function, _), path)| {
            let child = Command::new(path)
                .envs(stack.process_env())
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{port}/.rt/{function}"),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", function)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env(
                    "AWS_LAMBDA_LOG_GROUP_NAME",
                    format!("/aws/lambda/{function}"),
                )
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log.try_clone().unwrap())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("{function} starts: {e}"));
            Running(child)
        })
        .collect();

    // Blocking HTTP off the async workers.
    let log_for_panics = log_path.clone();
    let results = tokio::task::spawn_blocking(move || {
        FUNCTIONS.map(|(function, fixture)| invoke(port, function, fixture))
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}; the emulator's and functions' log:\n{}",
            std::fs::read_to_string(&log_for_panics).unwrap_or_default()
        )
    });
    let [intake, outbox, sweep, feedback, http] = results;
    assert_eq!(intake["outcomes"][0]["outcome"], "created", "{intake}");
    assert_eq!(
        outbox["batchItemFailures"],
        serde_json::json!([]),
        "{outbox}"
    );
    assert!(sweep.get("breaches").is_some(), "{sweep}");
    assert_eq!(feedback["reason"], "unknown mail", "{feedback}");
    assert_eq!(http["statusCode"], 200, "{http}");
    // The ack of the ticket the SES fixture created went out through the emulator's SES.
    assert_eq!(mesa_tests::emulator::sent_to("luis@norte.mx").len(), 1);
}

/// What a stub of the Lambda Runtime API was told at `/2018-06-01/runtime/init/error`:
/// (the `Lambda-Runtime-Function-Error-Type` header, the JSON body).
type InitErrors = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;

/// A Runtime API that takes init errors and has no invocation to give.
async fn runtime_api_stub() -> (u16, InitErrors) {
    use axum::routing::{get, post};
    let reported: InitErrors = Default::default();
    let seen = reported.clone();
    let app = axum::Router::new()
        .route(
            "/2018-06-01/runtime/init/error",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                    let error_type = headers
                        .get("lambda-runtime-function-error-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    seen.lock().unwrap().push((error_type, body));
                    (axum::http::StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/invocation/next",
            get(std::future::pending::<&'static str>),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, reported)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_function_missing_a_setting_reports_a_typed_init_error_to_the_runtime_api() {
    for (function, _) in FUNCTIONS {
        let (port, reported) = runtime_api_stub().await;
        // The template's settings but the signing key, as after a bad deployment.
        let env: Vec<(String, String)> =
            mesa_tests::emulator::function_env("mesa", "blobs", "inbound")
                .into_iter()
                .filter(|(k, _)| k != "MESA_SECRET")
                .collect();
        let mut child = Command::new(bootstrap(function))
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("{function} did not exit");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(!status.success(), "{function} exited successfully");
        let reported = reported.lock().unwrap().clone();
        assert_eq!(reported.len(), 1, "{function}: {reported:?}");
        let (header, body) = &reported[0];
        assert_eq!(header, "mesa.ConfigError", "{function}");
        assert_eq!(body["errorType"], "mesa.ConfigError", "{function}");
        assert!(
            body["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains("MESA_SECRET")),
            "{function}: {body}"
        );
    }
}
