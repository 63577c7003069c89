//! Each function under `cargo lambda watch` (the Lambda runtime emulator of cargo-lambda,
//! installed by `tests/run` into `.venv`) answers an invocation with its fixture from
//! `tests/fixtures/`, against the local AWS: what a person does with `local-aws`.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mesa_tests::emulator::{LocalStack, clients};
use mesa_tests::{free_port, workspace};
use serde_json::Value;

/// `cargo lambda watch` and the functions it starts; the whole process group is ended on drop.
struct Watch(std::process::Child);

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: signals the process group this test created (the child is its leader).
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn invoke(port: u16, function: &str, fixture: &str) -> Value {
    let body = std::fs::read_to_string(workspace().join("tests/fixtures").join(fixture)).unwrap();
    let agent = ureq::Agent::config_builder()
        // The first invocation of each function compiles it.
        .timeout_global(Some(Duration::from_secs(900)))
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
async fn every_function_answers_its_fixture_under_cargo_lambda_watch() {
    let cargo_lambda = workspace().join(".venv/bin/cargo-lambda");
    assert!(
        cargo_lambda.exists(),
        "cargo-lambda is not installed: run tests/run once (it installs it into .venv)"
    );
    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa-watch").await;
    stack.seed_fixture_mail(&clients).await;
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("local-aws.env");
    stack.write_env_file(&env_file);

    let port = free_port();
    let log = std::fs::File::create(dir.path().join("watch.log")).unwrap();
    let child = Command::new(&cargo_lambda)
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .arg("--env-file")
        .arg(&env_file)
        .current_dir(workspace())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("cargo lambda watch starts");
    let _watch = Watch(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "cargo lambda watch did not listen: {}",
            std::fs::read_to_string(dir.path().join("watch.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Blocking HTTP off the async workers.
    let results = tokio::task::spawn_blocking(move || {
        [
            ("intake-email", "ses-receipt.json"),
            ("outbox", "dynamodb-stream.json"),
            ("sla-sweep", "eventbridge-schedule.json"),
            ("mail-feedback", "ses-delivery-event.json"),
            ("http-api", "apigw-http-health.json"),
        ]
        .map(|(function, fixture)| invoke(port, function, fixture))
    })
    .await
    .unwrap();
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
