//! The local AWS of the tests and of `local-aws`: moto's server (S3, SES, EventBridge, SQS)
//! and dynoxide (DynamoDB), installed by `tests/run` into `.venv`, started once per process
//! on free loopback ports (checked to be their own), and resources created from the SAM
//! template itself, so the tests never drift from what is deployed.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
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
    let bin = crate::workspace().join(".venv/cargo/bin/dynoxide");
    if bin.exists() {
        return bin;
    }
    panic!(
        "the DynamoDB emulator is not installed: run tests/run once (it installs dynoxide-rs into .venv/cargo)"
    );
}

/// Starts an emulator on a free loopback port and waits until it listens there. A port
/// found free may be taken by another process before the emulator binds it; the emulator
/// then exits, and another port is tried. Waiting for the emulator's *own* listening socket
/// (not just any answer on the port) keeps a test from talking to someone else's server.
fn start(program: PathBuf, args: impl Fn(u16) -> Vec<String>, name: &str) -> (Child, u16) {
    for _ in 0..5 {
        let port = crate::free_port();
        let mut child = spawn(&program, &args(port), port, name);
        let started = Instant::now();
        loop {
            if listens_on(child.id(), port) {
                return (child, port);
            }
            if child.try_wait().is_ok_and(|status| status.is_some()) {
                break; // most likely the port was taken: try another
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("{name} did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{name} did not start on any of five free ports (see its logs in the temp dir)")
}

/// Whether process `pid` itself holds the socket listening on 127.0.0.1:`port`
/// (/proc/net/tcp names the socket's inode; the process's descriptors link to it).
fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let listening: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (_, local_port) = fields.get(1)?.split_once(':')?;
            let is_port = u16::from_str_radix(local_port, 16).ok()? == port;
            let is_listen = *fields.get(3)? == "0A";
            let inode = fields.get(9)?;
            (is_port && is_listen).then(|| format!("socket:[{inode}]"))
        })
        .collect();
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    descriptors.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| listening.iter().any(|s| target.as_os_str() == s.as_str()))
    })
}

fn spawn(program: &Path, args: &[String], port: u16, name: &str) -> Child {
    let log = std::fs::File::create(std::env::temp_dir().join(format!("mesa-{name}-{port}.log")))
        .expect("emulator log file");
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    // The emulator dies with this process (Linux's parent-death signal). The signal follows
    // the spawning *thread*, so the child is spawned from a thread that never ends.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name_owned = name.to_string();
    std::thread::spawn(move || {
        let spawned = command
            .spawn()
            .map_err(|e| format!("{name_owned} starts: {e}"));
        let _ = tx.send(spawned);
        loop {
            std::thread::park();
        }
    });
    rx.recv()
        .expect("the spawning thread answers")
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The endpoint of the DynamoDB emulator, starting it on first use.
pub fn dynamodb_endpoint() -> String {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR
        .get_or_init(|| {
            let (child, port) = start(
                dynoxide(),
                |port| {
                    ["--host", "127.0.0.1", "--port", &port.to_string()]
                        .map(String::from)
                        .to_vec()
                },
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
    let venv = crate::workspace().join(".venv/bin/moto_server");
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
            let (child, port) = start(
                moto_server(),
                |port| {
                    ["-H", "127.0.0.1", "-p", &port.to_string()]
                        .map(String::from)
                        .to_vec()
                },
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

/// Another moto, serving HTTPS with `cert` and `key` (the TLS test's own, in its own
/// process); its port. Stopped when the child is dropped and killed.
pub fn moto_over_tls(cert: &Path, key: &Path) -> (Child, u16) {
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    start(
        moto_server(),
        |port| {
            let port = port.to_string();
            ["-H", "127.0.0.1", "-p", &port, "-c", &cert, "-k", &key]
                .map(String::from)
                .to_vec()
        },
        "moto-tls",
    )
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
    let path = crate::workspace().join("infra/template.yaml");
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
    let env: HashMap<String, String> = function_env(table, blobs, inbound).into_iter().collect();
    mesa_aws::AwsConfig::from_map(&env).unwrap()
}

/// The variables the functions read (as the template sets them), for these resources.
pub fn function_env(table: &str, blobs: &str, inbound: &str) -> Vec<(String, String)> {
    [
        ("TABLE_NAME", table),
        ("BLOB_BUCKET", blobs),
        ("INBOUND_BUCKET", inbound),
        ("INBOUND_PREFIX", "inbound/"),
        ("EVENT_BUS_NAME", "default"),
        ("PUBLIC_URL", "https://soporte.example.com"),
        ("MAIL_DOMAIN", "mesa.test"),
        ("MESA_SECRET", "0123456789abcdef0123456789abcdef-test"),
        ("AWS_REGION", "us-east-1"),
        // Published rules are fetched and checked by a debug build on a machine running the
        // emulators and other tests: 2 seconds is too short a wait to count on there.
        ("RULES_WAIT_SECONDS", "30"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
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

pub async fn set_versioning(
    clients: &Clients,
    bucket: &str,
    status: aws_sdk_s3::types::BucketVersioningStatus,
) {
    clients
        .s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(status)
                .build(),
        )
        .send()
        .await
        .expect("put_bucket_versioning");
}

/// One copy of the stack's resources on the emulator: the table (from the template) and
/// the buckets the functions use.
pub struct LocalStack {
    pub table: String,
    pub blobs: String,
    pub inbound: String,
    pub rules: String,
}

impl LocalStack {
    /// Creates the resources under fresh names that start with `prefix`.
    pub async fn create(clients: &Clients, prefix: &str) -> Self {
        let stack = Self {
            table: unique(prefix),
            blobs: unique(&format!("{prefix}-blobs")),
            inbound: unique(&format!("{prefix}-inbound")),
            rules: unique(&format!("{prefix}-rules")),
        };
        create_table(clients, &stack.table).await;
        for bucket in [&stack.blobs, &stack.inbound, &stack.rules] {
            clients
                .s3
                .create_bucket()
                .bucket(bucket.as_str())
                .send()
                .await
                .expect("create_bucket");
        }
        set_versioning(
            clients,
            &stack.rules,
            aws_sdk_s3::types::BucketVersioningStatus::Enabled,
        )
        .await;
        // SES sends only from verified identities.
        let _ = clients
            .ses
            .create_email_identity()
            .email_identity("ingressio.com")
            .send()
            .await;
        stack
    }

    pub fn config(&self) -> mesa_aws::AwsConfig {
        config(&self.table, &self.blobs, &self.inbound)
    }

    /// Everything a function process needs to run against this stack: the emulators'
    /// endpoints, dummy credentials and the variables the template sets.
    pub fn process_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL".to_string(), endpoint()),
            ("AWS_ENDPOINT_URL_DYNAMODB".to_string(), dynamodb_endpoint()),
            ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
            ("RULES_BUCKET".to_string(), self.rules.clone()),
        ];
        env.extend(function_env(&self.table, &self.blobs, &self.inbound));
        env
    }

    /// `KEY=VALUE` lines, the format of `cargo lambda watch --env-file`.
    pub fn write_env_file(&self, path: &std::path::Path) {
        let text: String = self
            .process_env()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        // Written aside and renamed: whoever waits for the file never reads half of it.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, text).expect("env file");
        std::fs::rename(&partial, path).expect("env file in place");
    }

    /// Puts the raw message of `tests/fixtures/ses-receipt.json` where SES's S3 action
    /// would have, so that fixture can be invoked as it is.
    pub async fn seed_fixture_mail(&self, clients: &Clients) {
        let path = crate::workspace().join("tests/fixtures/ses-receipt.json");
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
        let id = event["Records"][0]["ses"]["mail"]["messageId"]
            .as_str()
            .expect("messageId");
        let raw = "From: Luis Gómez <luis@norte.mx>\r\nTo: zendesk@ingressio.com\r\n\
            Subject: Lectores sin registrar\r\nMessage-ID: <first@norte.mx>\r\n\
            Date: Tue, 10 Nov 2026 10:00:00 -0600\r\n\r\n\
            Los lectores de la planta norte no registran entradas desde esta mañana.\r\n";
        clients
            .s3
            .put_object()
            .bucket(&self.inbound)
            .key(format!("inbound/{id}"))
            .body(aws_sdk_s3::primitives::ByteStream::from(
                raw.as_bytes().to_vec(),
            ))
            .send()
            .await
            .expect("put_object");
    }
}
