//! Harness for the end-to-end tests: runs the real `mesa` binary (`mesa serve` on a free
//! loopback port, and the CLI), talks HTTP to it, and reads the outbox maildir.

pub mod emulator;
pub mod generate;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const STAFF_TOKEN: &str = "e2e-staff-token";

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn rules_dir() -> PathBuf {
    workspace().join("rules")
}

/// The `mesa` binary of this workspace with its `aws` feature (`mesa rules publish`), built
/// once per test run.
pub fn mesa_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"));
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "mesa-cli",
                "--features",
                "aws",
                "--bin",
                "mesa",
            ])
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build of mesa failed");
        target.join("debug").join("mesa")
    })
    .clone()
}

/// Runs `mesa ARGS` with the repository's rules.
pub fn mesa(args: &[&str]) -> Output {
    Command::new(mesa_bin())
        .args(args)
        .env("MESA_RULES", rules_dir())
        .env_remove("MESA_SMTP_URL")
        .output()
        .expect("mesa runs")
}

/// Runs `mesa ARGS` with `input` on its standard input (passwords are read from there).
pub fn mesa_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(mesa_bin())
        .args(args)
        .env("MESA_RULES", rules_dir())
        .env_remove("MESA_SMTP_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mesa runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("mesa ends")
}

pub fn mesa_json(args: &[&str]) -> Value {
    let out = mesa(args);
    assert!(
        out.status.success(),
        "mesa {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "mesa {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The `http://host:port` of a `mesa serve` log's "mesa listening on" line, once the line
/// is whole (stderr is written in pieces: half an address must not be taken for one).
fn listening_address(log: &str) -> Option<String> {
    let rest = log.split("mesa listening on ").nth(1)?;
    let (line, _) = rest.split_once('\n')?;
    Some(line.split_whitespace().next()?.to_string())
}

/// A port free now, for tools that cannot be told to choose their own (it may be taken
/// before the tool binds it; `mesa serve` is started on port 0 instead).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `mesa serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data: PathBuf,
    agent: ureq::Agent,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_with_env(data, &[])
    }

    /// `mesa serve` with extra environment variables. The server binds a port the system
    /// chooses and the address is read from its log: a port picked here and bound later
    /// could be taken meanwhile by another test's server, whose `/health` would then answer
    /// for this one (two tests writing one data directory).
    pub fn start_with_env(data: &Path, env: &[(&str, &str)]) -> Server {
        let log_path = data.with_extension("serve.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = Command::new(mesa_bin())
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
            ])
            .env("MESA_RULES", rules_dir())
            .env("MESA_STAFF_TOKEN", STAFF_TOKEN)
            .env_remove("MESA_SMTP_URL")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mesa serve starts");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let started = Instant::now();
        let base = loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(base) = listening_address(&log) {
                break base;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("mesa serve exited ({status}) before listening:\n{log}");
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mesa serve did not say where it listens:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let server = Server {
            child,
            base,
            data: data.to_path_buf(),
            agent,
        };
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(r) = server.agent.get(&format!("{}/health", server.base)).call() {
                if r.status() == 200 {
                    return server;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mesa serve did not come up on {}", server.base);
    }

    /// Stops the process as an operator would (SIGTERM): requests finish and the workers
    /// end their current pass, so what was sent is recorded as sent.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid, which `wait` has not reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }

    /// Kills the process at once (no graceful shutdown), as a crash would.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .expect("GET");
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .expect("POST");
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn staff(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let url = format!("{}/staff{path}", self.base);
        let auth = format!("Bearer {STAFF_TOKEN}");
        let mut r = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("X-Mesa-Actor", "luisa")
                .header("Content-Type", "application/json")
                .send(b.unwrap_or("").to_string()),
        }
        .expect("staff request");
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let mut req = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Content-Type", content_type);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut r = req.send(&body[..]).expect("POST");
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// The page form: fetches `/`, waits out the minimum fill time, posts multipart.
    pub fn form_token(&self) -> String {
        let (status, html) = self.get("/");
        assert_eq!(status, 200);
        let marker = "name=\"form_token\" value=\"";
        let start = html.find(marker).expect("form_token in the page") + marker.len();
        let end = html[start..].find('"').unwrap() + start;
        html[start..end].to_string()
    }

    pub fn post_form(&self, fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (u16, String) {
        let (content_type, body) = multipart(fields, files);
        self.post_raw("/tickets", &content_type, body, &[])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A multipart/form-data body, as a browser sends it.
pub fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----mesa-e2e-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (filename, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A message found in the outbox maildir, decoded.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub file: PathBuf,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub auto_submitted: Option<String>,
}

pub fn outbox(data: &Path) -> Vec<SentMail> {
    let dir = data.join("outbox").join("new");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let raw = std::fs::read(&file).unwrap();
            let m = mail_parser::MessageParser::default()
                .parse(&raw)
                .expect("outbox mail parses");
            SentMail {
                to: m
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_string(),
                subject: m.subject().unwrap_or_default().to_string(),
                text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
                message_id: format!("<{}>", m.message_id().unwrap_or_default()),
                in_reply_to: m.in_reply_to().as_text().map(|s| format!("<{s}>")),
                auto_submitted: m.header_raw("Auto-Submitted").map(|s| s.trim().to_string()),
                file,
            }
        })
        .collect()
}

/// Waits until `pred` holds of the outbox (the worker sends within seconds).
pub fn wait_for_outbox(
    data: &Path,
    what: &str,
    pred: impl Fn(&[SentMail]) -> bool,
) -> Vec<SentMail> {
    wait_for_outbox_within(data, what, Duration::from_secs(20), pred)
}

/// [`wait_for_outbox`], waiting up to `limit`.
pub fn wait_for_outbox_within(
    data: &Path,
    what: &str,
    limit: Duration,
    pred: impl Fn(&[SentMail]) -> bool,
) -> Vec<SentMail> {
    let started = Instant::now();
    loop {
        let mails = outbox(data);
        if pred(&mails) {
            return mails;
        }
        if started.elapsed() > limit {
            panic!(
                "timed out waiting for {what}; outbox has {} message(s): {:?}",
                mails.len(),
                mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the ticket records its acknowledgement as sent (the worker sends within
/// seconds, then records it).
pub fn wait_for_acknowledgement(data: &Path, folio: &str) {
    let started = Instant::now();
    while !show(data, folio)["ticket"]["acknowledged_at"].is_string() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{folio}'s acknowledgement was never recorded"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes a raw e-mail to a file and takes it in with `mesa intake-email`.
pub fn intake(data: &Path, name: &str, raw: &str, received_at: Option<&str>) -> Value {
    let file = data.with_extension(format!("{name}.eml"));
    std::fs::write(&file, raw.replace('\n', "\r\n")).unwrap();
    let mut args = vec![
        "intake-email",
        file.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    if let Some(at) = received_at {
        args.extend(["--received-at", at]);
    }
    mesa_json(&args)
}

pub fn tickets(data: &Path) -> Vec<Value> {
    mesa_json(&[
        "tickets",
        "list",
        "--data",
        data.to_str().unwrap(),
        "--json",
    ])
    .as_array()
    .cloned()
    .unwrap_or_default()
}

pub fn show(data: &Path, folio: &str) -> Value {
    mesa_json(&[
        "tickets",
        "show",
        folio,
        "--data",
        data.to_str().unwrap(),
        "--json",
    ])
}

/// A certificate authority and a certificate for `localhost` / 127.0.0.1 signed by it.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// Made with openssl in `dir`.
    pub fn make(dir: &Path) -> Pki {
        let p = |name: &str| dir.join(name);
        run_ok(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
                .args([
                    "-keyout",
                    p("ca.key").to_str().unwrap(),
                    "-out",
                    p("ca.pem").to_str().unwrap(),
                ])
                .args(["-days", "2", "-subj", "/CN=mesa test CA"])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"]),
        );
        run_ok(
            Command::new("openssl")
                .args(["req", "-newkey", "rsa:2048", "-nodes"])
                .args([
                    "-keyout",
                    p("server.key").to_str().unwrap(),
                    "-out",
                    p("server.csr").to_str().unwrap(),
                ])
                .args(["-subj", "/CN=localhost"]),
        );
        std::fs::write(
            p("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run_ok(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .args(["-in", p("server.csr").to_str().unwrap()])
                .args([
                    "-CA",
                    p("ca.pem").to_str().unwrap(),
                    "-CAkey",
                    p("ca.key").to_str().unwrap(),
                ])
                .args(["-out", p("server.pem").to_str().unwrap()])
                .args(["-extfile", p("server.ext").to_str().unwrap()]),
        );
        Pki {
            ca: p("ca.pem"),
            cert: p("server.pem"),
            key: p("server.key"),
        }
    }
}

/// Runs `cmd`, failing the test with its stderr unless it succeeds.
pub fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
