//! The local AWS emulator (moto's server, installed by `tests/run` into `.venv`), started
//! once per test process on a free loopback port, and resources created from the SAM
//! template itself, so the tests never drift from what is deployed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use mesa_aws::Clients;

struct Emulator {
    endpoint: String,
    _child: Child,
}

/// The DynamoDB emulator (dynoxide, on SQLite), installed by `tests/run` into `.venv/cargo`.
/// moto's DynamoDB copies the whole table on every transaction and is not thread-safe
/// under concurrent transactions; dynoxide is fast and keeps transactions atomic.
fn dynoxide() -> PathBuf {
    let bin = mesa_tests::workspace().join(".venv/cargo/bin/dynoxide");
    if bin.exists() {
        return bin;
    }
    panic!(
        "the DynamoDB emulator is not installed: run tests/run once (it installs dynoxide-rs into .venv/cargo)"
    );
}

fn start(program: PathBuf, args: &[&str], port: u16, name: &str) -> Child {
    let log = std::fs::File::create(std::env::temp_dir().join(format!("mesa-{name}-{port}.log")))
        .expect("emulator log file");
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The endpoint of the DynamoDB emulator, starting it on first use.
pub fn dynamodb_endpoint() -> String {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR
        .get_or_init(|| {
            let port = mesa_tests::free_port();
            let child = start(
                dynoxide(),
                &["--host", "127.0.0.1", "--port", &port.to_string()],
                port,
                "dynoxide",
            );
            Emulator {
                endpoint: format!("http://127.0.0.1:{port}"),
                _child: child,
            }
        })
        .endpoint
        .clone()
}

fn moto_server() -> PathBuf {
    let venv = mesa_tests::workspace().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    panic!(
        "the AWS emulator is not installed: run tests/run once (it installs moto[server] into .venv)"
    );
}

/// The endpoint of moto (S3, SES, EventBridge, SQS), starting it on first use.
pub fn endpoint() -> String {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR
        .get_or_init(|| {
            let port = mesa_tests::free_port();
            let child = start(
                moto_server(),
                &["-H", "127.0.0.1", "-p", &port.to_string()],
                port,
                "moto",
            );
            Emulator {
                endpoint: format!("http://127.0.0.1:{port}"),
                _child: child,
            }
        })
        .endpoint
        .clone()
}

/// SDK clients pointed at the emulator with dummy credentials, as the functions build them.
pub async fn clients() -> Clients {
    let endpoint = endpoint();
    let dynamodb = dynamodb_endpoint();
    // The same variables a person sets to point the functions at the emulator.
    // SAFETY: set before any client reads them, to the same values in every test.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb);
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    Clients::from_env().await
}

fn template() -> serde_yaml::Value {
    let path = mesa_tests::workspace().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/template.yaml");
    serde_yaml::from_str(&text).expect("the template is YAML")
}

fn key_schema(v: &serde_yaml::Value) -> Vec<KeySchemaElement> {
    v.as_sequence()
        .expect("KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                .build()
                .unwrap()
        })
        .collect()
}

/// Creates a table named `name` with the key schema, indexes and stream of the template's
/// `Table` resource.
pub async fn create_table(clients: &Clients, name: &str) {
    let t = template();
    let props = &t["Resources"]["Table"]["Properties"];
    let attributes = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(
                    a["AttributeType"].as_str().unwrap(),
                ))
                .build()
                .unwrap()
        })
        .collect();
    let indexes = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().unwrap())
                .set_key_schema(Some(key_schema(&g["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            g["Projection"]["ProjectionType"].as_str().unwrap(),
                        ))
                        .build(),
                )
                .build()
                .unwrap()
        })
        .collect();
    let stream_view = props["StreamSpecification"]["StreamViewType"]
        .as_str()
        .unwrap();
    clients
        .dynamodb
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&props["KeySchema"])))
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::from(
            props["BillingMode"].as_str().unwrap(),
        ))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream_view))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create_table");
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid_like())
}

fn ulid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{}", t % 0xffff_ffff, N.fetch_add(1, Ordering::SeqCst))
}

/// The environment of a function, for one test's resources.
pub fn config(table: &str, blobs: &str, inbound: &str) -> mesa_aws::AwsConfig {
    let env: HashMap<String, String> = [
        ("TABLE_NAME", table),
        ("BLOB_BUCKET", blobs),
        ("INBOUND_BUCKET", inbound),
        ("INBOUND_PREFIX", "inbound/"),
        ("EVENT_BUS_NAME", "default"),
        ("PUBLIC_URL", "https://soporte.example.com"),
        ("MAIL_DOMAIN", "mesa.test"),
        ("MESA_SECRET", "0123456789abcdef0123456789abcdef-test"),
        ("AWS_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    mesa_aws::AwsConfig::from_map(&env).unwrap()
}

/// Raw messages sent through SES, as the emulator recorded them: (id, destinations, raw).
pub fn sent_mail() -> Vec<(String, Vec<String>, String)> {
    let body = ureq::get(&format!("{}/moto-api/data.json", endpoint()))
        .call()
        .expect("moto data")
        .body_mut()
        .read_to_string()
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(&body).unwrap();
    data["ses"]["RawMessage"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| {
                    let to = m["destinations"]
                        .as_array()
                        .map(|d| {
                            d.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        m["id"].as_str().unwrap_or_default().to_string(),
                        to,
                        m["raw_data"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The mail SES sent to `address`.
pub fn sent_to(address: &str) -> Vec<(String, String)> {
    sent_mail()
        .into_iter()
        .filter(|(_, to, _)| to.iter().any(|t| t == address))
        .map(|(id, _, raw)| (id, raw))
        .collect()
}
