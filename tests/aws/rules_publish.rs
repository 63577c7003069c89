//! `mesa rules publish` / `rollback` through the real binary against S3 on the emulator,
//! and the functions picking the published bundle up.

use std::path::Path;

use mesa::policy::Bundle;
use mesa_aws::Wiring;
use mesa_tests::{mesa, rules_dir};
use serde_json::Value;

use mesa_tests::emulator::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs `mesa --rules DIR rules ARGS…`; (success, stdout JSON or Null, stderr).
fn rules_cmd(dir: &Path, args: &[&str]) -> (bool, Value, String) {
    let mut all = vec!["--rules", dir.to_str().unwrap(), "rules"];
    all.extend_from_slice(args);
    let out = mesa(&all);
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn object_versions(clients: &mesa_aws::Clients, bucket: &str, key: &str) -> usize {
    let out = clients
        .s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    out.versions().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_published_checked_first_and_rolled_back() {
    let clients = clients().await;
    let bucket = unique("mesa-rules");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let key = "rules/bundle.json";
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("good");
    copy_dir(&rules_dir(), &good);

    // Without versioning a bad bundle could not be rolled back: the operator is told.
    let (ok, _, err) = rules_cmd(&good, &["publish", "--yes", "--bucket", &bucket]);
    assert!(!ok);
    assert!(err.contains("does not keep versions"), "{err}");
    set_versioning(
        &clients,
        &bucket,
        aws_sdk_s3::types::BucketVersioningStatus::Enabled,
    )
    .await;

    // Nothing to roll back to yet.
    let (ok, _, err) = rules_cmd(&good, &["rollback", "--bucket", &bucket]);
    assert!(!ok);
    assert!(err.contains("no earlier version"), "{err}");

    let (ok, first, err) = rules_cmd(&good, &["publish", "--yes", "--bucket", &bucket]);
    assert!(ok, "{err}");
    let v1 = Bundle::from_dir(&good).unwrap().version().to_string();
    assert_eq!(first["rules_version"], v1.as_str());
    assert!(first["object_version"].is_string(), "{first}");
    assert!(first["vectors_passed"].as_u64().unwrap() > 0);

    // A bundle that does not compile is never uploaded.
    let broken = work.path().join("broken");
    copy_dir(&good, &broken);
    std::fs::write(broken.join("severity.rhai"), "fn classify(t) { let x = ; }").unwrap();
    let (ok, _, err) = rules_cmd(&broken, &["publish", "--yes", "--bucket", &bucket]);
    assert!(!ok);
    assert!(
        err.contains("not published") && err.contains("severity.rhai"),
        "{err}"
    );
    assert_eq!(object_versions(&clients, &bucket, key).await, 2);

    // A second, valid edition becomes current; the functions load it at start.
    let second = work.path().join("second");
    copy_dir(&good, &second);
    let billing = std::fs::read_to_string(second.join("billing.rhai")).unwrap();
    std::fs::write(
        second.join("billing.rhai"),
        format!("{billing}\n// Revisado por operaciones.\n"),
    )
    .unwrap();
    let (ok, published, err) = rules_cmd(&second, &["publish", "--yes", "--bucket", &bucket]);
    assert!(ok, "{err}");
    let v2 = Bundle::from_dir(&second).unwrap().version().to_string();
    assert_ne!(v1, v2);
    assert_eq!(published["rules_version"], v2.as_str());
    let mut config = config("unused-table", "unused-blobs", "unused-inbound");
    config.rules_bucket = Some(bucket.clone());
    let wiring = Wiring::new(config.clone(), clients.clone()).await.unwrap();
    assert_eq!(wiring.desk.rules().current().version().as_str(), v2);

    // Rollback makes the first edition current again, as a new version (history kept).
    let (ok, rolled, err) = rules_cmd(&good, &["rollback", "--bucket", &bucket]);
    assert!(ok, "{err}");
    assert_eq!(rolled["rules_version"], v1.as_str());
    assert_eq!(object_versions(&clients, &bucket, key).await, 4);
    let wiring = Wiring::new(config, clients.clone()).await.unwrap();
    assert_eq!(wiring.desk.rules().current().version().as_str(), v1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_first_shows_what_the_bundle_would_change_in_the_tables_last_30_days() {
    let clients = clients().await;
    let stack = LocalStack::create(&clients, "mesa-replay").await;
    let wiring = Wiring::new(stack.config(), clients.clone()).await.unwrap();
    // A severity-2 ticket of today, in the stack's table.
    let s = wiring
        .desk
        .submit_form(
            &mesa::intake::FormInput {
                company: "Maquiladora del Norte".into(),
                contact_name: "Luis Gómez".into(),
                email: "luis@norte.mx".into(),
                phone: "81 5555 1234".into(),
                support_type: "asistencia".into(),
                description: "El reporte semanal sale vacío.".into(),
                ..Default::default()
            },
            &[],
            None,
            "",
        )
        .await
        .unwrap();
    wiring
        .desk
        .act(
            s.ticket.folio.as_str(),
            &mesa::model::Actor::staff("luisa"),
            &mesa::lifecycle::Action::SetSeverity {
                severity: mesa::Severity::new(2).unwrap(),
                reason: "Confirmada".into(),
            },
        )
        .await
        .unwrap();

    let work = tempfile::tempdir().unwrap();
    let candidate = work.path().join("candidate");
    copy_dir(&rules_dir(), &candidate);
    let severity = std::fs::read_to_string(candidate.join("severity.rhai")).unwrap();
    std::fs::write(
        candidate.join("severity.rhai"),
        severity.replace(
            "fn response_hours() { [0, 6, 12, 24, 36] }",
            "fn response_hours() { [0, 6, 8, 24, 36] }",
        ),
    )
    .unwrap();
    // Without --yes and without a terminal to ask on, nothing is published; the replay of
    // the table's last 30 days against the live (here built-in) rules is shown first.
    let (ok, _, err) = rules_cmd(
        &candidate,
        &["publish", "--bucket", &stack.rules, "--table", &stack.table],
    );
    assert!(!ok);
    assert!(err.contains("Reglas en vigor"), "{err}");
    assert!(
        err.contains(s.ticket.folio.as_str()),
        "the ticket whose deadline moves: {err}"
    );
    assert!(err.contains("response:"), "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(
        object_versions(&clients, &stack.rules, "rules/bundle.json").await,
        0
    );
}

/// A fresh rules bucket that keeps versions, as the stack's is.
async fn versioned_rules_bucket(clients: &mesa_aws::Clients) -> String {
    let bucket = unique("mesa-rules");
    clients
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    set_versioning(
        clients,
        &bucket,
        aws_sdk_s3::types::BucketVersioningStatus::Enabled,
    )
    .await;
    bucket
}

/// Sends one request to the http-api function's router.
async fn page(app: &axum::Router, path: &str) -> String {
    use tower::ServiceExt as _;
    let r = app
        .clone()
        .oneshot(
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    String::from_utf8(
        axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_http_api_picks_up_a_newly_published_bundle_like_the_other_functions() {
    let clients = clients().await;
    let bucket = versioned_rules_bucket(&clients).await;
    let mut config = config("unused-table", "unused-blobs", "unused-inbound");
    config.rules_bucket = Some(bucket.clone());
    // Asks at every request rather than once a minute, so the test need not wait.
    config.rules_refresh = std::time::Duration::ZERO;
    let wiring = Wiring::new(config.clone(), clients.clone()).await.unwrap();
    let app = http_api::app_with(wiring.desk.clone(), None, wiring.rules.clone());
    assert!(page(&app, "/").await.contains("Ingressio en la Nube"));

    // Support operations publish a bundle with the company's new name.
    let work = tempfile::tempdir().unwrap();
    let renamed = work.path().join("renamed");
    copy_dir(&rules_dir(), &renamed);
    let intake = std::fs::read_to_string(renamed.join("intake.rhai")).unwrap();
    std::fs::write(
        renamed.join("intake.rhai"),
        intake.replace(
            "company_name: \"Ingressio en la Nube\"",
            "company_name: \"Ingressio Asistencia\"",
        ),
    )
    .unwrap();
    mesa_aws::s3::publish::publish(
        &clients.s3,
        &bucket,
        &config.rules_key,
        Bundle::from_dir(&renamed).unwrap(),
    )
    .await
    .unwrap();
    // The same running function, next request.
    let form = page(&app, "/").await;
    assert!(form.contains("Ingressio Asistencia"), "{form}");
    assert_eq!(
        wiring.desk.rules().current().version().as_str(),
        Bundle::from_dir(&renamed).unwrap().version().as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_with_s3_out_of_reach_runs_on_the_built_in_rules_within_the_stated_wait() {
    // A rules bucket behind an address nothing answers on (a black-holed network).
    let unreachable = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = unreachable.local_addr().unwrap();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(mesa_aws::https_client())
        .endpoint_url(format!("http://{addr}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::for_tests())
        .load()
        .await;
    let mut clients = clients().await;
    clients.s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    let mut config = config("unused-table", "unused-blobs", "unused-inbound");
    config.rules_bucket = Some("mesa-rules".into());
    config.rules_wait = mesa_aws::INIT_RULES_WAIT;
    let started = std::time::Instant::now();
    let wiring = Wiring::new(config, clients).await.unwrap();
    let took = started.elapsed();
    // The wait, then the built-in rules (a debug build, on a machine running the
    // emulators and other tests): far less than the SDK's own timeouts and retries.
    assert!(
        took < mesa_aws::INIT_RULES_WAIT + std::time::Duration::from_secs(5),
        "init waited {took:?}"
    );
    assert_eq!(
        wiring.desk.rules().current().version(),
        mesa_aws::built_in_rules().unwrap().version()
    );
    drop(unreachable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_invocation_after_a_cold_start_does_not_fetch_the_bundle_again() {
    let clients = clients().await;
    let bucket = versioned_rules_bucket(&clients).await;
    let mut config = config("unused-table", "unused-blobs", "unused-inbound");
    config.rules_bucket = Some(bucket.clone());
    let wiring = Wiring::new(config.clone(), clients.clone()).await.unwrap();
    let built_in = wiring.desk.rules().current().version().clone();
    // Published right after the cold start: the first invocations (within the minute)
    // keep what init read instead of asking S3 again; the next look is a minute after init.
    let work = tempfile::tempdir().unwrap();
    let edited = work.path().join("edited");
    copy_dir(&rules_dir(), &edited);
    let billing = std::fs::read_to_string(edited.join("billing.rhai")).unwrap();
    std::fs::write(edited.join("billing.rhai"), format!("{billing}\n// v2\n")).unwrap();
    mesa_aws::s3::publish::publish(
        &clients.s3,
        &bucket,
        &config.rules_key,
        Bundle::from_dir(&edited).unwrap(),
    )
    .await
    .unwrap();
    wiring.refresh_rules().await;
    assert_eq!(wiring.desk.rules().current().version(), &built_in);
}
