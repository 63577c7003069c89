//! The `mesa` command as people and scripts use it, on the shipped rules and on broken ones.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn mesa(args: &[&str]) -> Output {
    mesa_with_rules(&rules_dir(), args)
}

fn mesa_with_rules(rules: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesa"))
        .arg("--rules")
        .arg(rules)
        .args(args)
        .env_remove("MESA_RULES")
        .output()
        .expect("mesa runs")
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A copy of the shipped rules with one file replaced (or added).
fn rules_with(path: &str, content: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&rules_dir(), dir.path());
    std::fs::write(dir.path().join(path), content).unwrap();
    dir
}

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

#[test]
fn rules_check_prints_the_version() {
    let v = stdout_json(&mesa(&["rules", "check"]));
    assert_eq!(v["ok"], true);
    let version = v["rules_version"].as_str().unwrap();
    assert!(
        version.starts_with("r-") && version.len() == 18,
        "{version}"
    );
    // Same content, same version; any change, another version.
    let copy = rules_with("NOTAS.txt", "cambio");
    let other = stdout_json(&mesa_with_rules(copy.path(), &["rules", "check"]));
    assert_ne!(other["rules_version"], v["rules_version"]);
}

fn assert_rejected(dir: &Path, needles: &[&str]) {
    let started = Instant::now();
    let out = mesa_with_rules(dir, &["rules", "check"]);
    let elapsed = started.elapsed();
    assert!(
        !out.status.success(),
        "accepted: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "printed on failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = stderr(&out);
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn rules_check_rejects_a_syntax_error() {
    let dir = rules_with(
        "billing.rhai",
        "fn charge(work) {\n    let total = 1 +;\n}\n",
    );
    assert_rejected(dir.path(), &["billing.rhai", "line 2"]);
}

#[test]
fn rules_check_rejects_a_missing_function() {
    let dir = rules_with(
        "severity.rhai",
        "fn support_types() { [#{ id: \"x\", label: \"X\" }] }\nfn classify(ticket) { #{ severity: 3, reason: \"r\" } }\n",
    );
    assert_rejected(dir.path(), &["severity.rhai", "milestones"]);
}

#[test]
fn rules_check_rejects_an_endless_loop() {
    let original = std::fs::read_to_string(rules_dir().join("severity.rhai")).unwrap();
    let looping = original.replace(
        "fn classify(ticket) {",
        "fn classify(ticket) {\n    let n = 0;\n    while true { n += 1; }\n",
    );
    assert_ne!(original, looping);
    let dir = rules_with("severity.rhai", &looping);
    assert_rejected(dir.path(), &["severity.rhai", "classify"]);
}

#[test]
fn rules_test_runs_every_vector_and_fails_on_one() {
    let out = mesa(&["rules", "test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 40, "{last}");

    let billing = std::fs::read_to_string(rules_dir().join("billing.rhai"))
        .unwrap()
        .replace("fn iva_percent() { 16 }", "fn iva_percent() { 15 }");
    let dir = rules_with("billing.rhai", &billing);
    let out = mesa_with_rules(dir.path(), &["rules", "test"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL tests/billing.json"), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.ends_with("failed") && !last.ends_with(" 0 failed"),
        "{last}"
    );
    // A bundle that fails its vectors is not used for anything else either.
    let out = mesa_with_rules(dir.path(), &["billing", "quote", "--minutes", "61"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("test vectors failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn calendar_holidays_of_2024() {
    let v = stdout_json(&mesa(&["calendar", "holidays", "--year", "2024"]));
    let dates: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["date"].as_str().unwrap())
        .collect();
    assert_eq!(
        dates,
        [
            "2024-01-01",
            "2024-02-05",
            "2024-03-18",
            "2024-05-01",
            "2024-09-16",
            "2024-10-01",
            "2024-11-18",
            "2024-12-25"
        ]
    );
    assert!(v[0]["name"].as_str().unwrap().contains("Año Nuevo"));
}

#[test]
fn calendar_add_and_between() {
    let v = stdout_json(&mesa(&[
        "calendar",
        "add",
        "--from",
        "2026-12-31T17:00:00-06:00",
        "--hours",
        "6",
    ]));
    assert_eq!(
        v,
        json!({"due": "2027-01-04T20:00:00Z", "due_local": "2027-01-04T14:00:00-06:00"})
    );
    let v = stdout_json(&mesa(&[
        "calendar",
        "add",
        "--from",
        "2026-11-13T23:30:00Z",
        "--hours",
        "1",
        "--minutes",
        "30",
    ]));
    assert_eq!(v["due_local"], "2026-11-17T10:00:00-06:00");
    let v = stdout_json(&mesa(&[
        "calendar",
        "between",
        "--from",
        "2026-11-13T17:00:00-06:00",
        "--to",
        "2026-11-17T10:00:00-06:00",
    ]));
    assert_eq!(v, json!({"business_seconds": 7200}));
}

#[test]
fn sla_plan_for_a_weekend_ticket() {
    let v = stdout_json(&mesa(&[
        "sla",
        "plan",
        "--received",
        "2026-03-14T11:00:00-06:00",
        "--severity",
        "3",
    ]));
    assert_eq!(v["severity"], 3);
    assert!(v["rules_version"].as_str().unwrap().starts_with("r-"));
    let names: Vec<&str> = v["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acknowledgement", "response", "resolution"]);
    assert_eq!(v["milestones"][1]["due"], "2026-03-19T21:00:00Z");
    assert_eq!(v["milestones"][1]["due_local"], "2026-03-19T15:00:00-06:00");
}

#[test]
fn sla_plan_batch_keeps_order_and_flags_bad_lines() {
    let input = [
        r#"{"received":"2026-11-10T10:00:00-06:00","severity":1}"#,
        r#"{"received":"2026-12-18T20:30:00-06:00","severity":2}"#,
        r#"{"received":"not a date","severity":2}"#,
        r#"{"received":"2026-09-16T10:00:00-06:00","severity":4}"#,
    ]
    .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(&file, input).unwrap();
    let out = mesa(&["sla", "plan", "--batch", file.to_str().unwrap()]);
    assert!(!out.status.success(), "a bad line must fail the run");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["severity"], 1);
    assert_eq!(lines[0]["milestones"][3]["due"], "2026-12-23T16:00:00Z");
    assert_eq!(
        lines[1]["milestones"][2]["due_local"],
        "2027-01-05T18:00:00-06:00"
    );
    assert_eq!(lines[2]["line"], 3);
    assert!(lines[2]["error"].as_str().unwrap().contains("RFC 3339"));
    assert_eq!(
        lines[3]["milestones"][1]["due_local"],
        "2026-09-22T18:00:00-06:00"
    );

    // From stdin, all good: exit 0.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesa"))
        .args([
            "--rules",
            rules_dir().to_str().unwrap(),
            "sla",
            "plan",
            "--batch",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"received\":\"2026-11-23T09:00:00-06:00\",\"severity\":2}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["milestones"][1]["due"], "2026-11-24T18:00:00Z");
}

#[test]
fn billing_quote_in_cents() {
    let v = stdout_json(&mesa(&["billing", "quote", "--minutes", "150"]));
    assert_eq!(v["subtotal_cents"], 15500);
    assert_eq!(v["iva_cents"], 2480);
    assert_eq!(v["total_cents"], 17980);
    assert_eq!(v["currency"], "USD");
    assert_eq!(v["lines"].as_array().unwrap().len(), 2);
    let v = stdout_json(&mesa(&["billing", "quote", "--minutes", "0"]));
    assert_eq!(v["total_cents"], 0);
    let out = mesa(&["billing", "quote", "--minutes", "-1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("negative"), "{}", stderr(&out));
}

#[test]
fn rules_eval_classify_a_ticket_file() {
    let dir = tempfile::tempdir().unwrap();
    let ticket = dir.path().join("t.json");
    std::fs::write(
        &ticket,
        r#"{"company":"Acme","contact_name":"Ana Pérez","support_type":"falla_lectores","description":"Falla persistente con algunos lectores"}"#,
    )
    .unwrap();
    let v = stdout_json(&mesa(&[
        "rules",
        "eval",
        "classify",
        "--ticket",
        ticket.to_str().unwrap(),
    ]));
    assert_eq!(v["severity"], 2);
    assert!(v["reason"].as_str().unwrap().contains("«algunos»"), "{v}");
    std::fs::write(&ticket, "{not json").unwrap();
    let out = mesa(&[
        "rules",
        "eval",
        "classify",
        "--ticket",
        ticket.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("t.json"), "{}", stderr(&out));
}

#[test]
fn bad_input_is_a_clear_error() {
    let out = mesa(&["calendar", "add", "--from", "mañana", "--hours", "1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("RFC 3339"), "{}", stderr(&out));
    let out = mesa(&[
        "sla",
        "plan",
        "--received",
        "2026-11-10T10:00:00Z",
        "--severity",
        "0",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("severity must be 1, 2, 3 or 4"),
        "{}",
        stderr(&out)
    );
    let out = mesa(&[
        "calendar",
        "add",
        "--from",
        "2150-01-01T10:00:00Z",
        "--hours",
        "1",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("supported years"), "{}", stderr(&out));
    let out = mesa_with_rules(Path::new("/nonexistent/rules"), &["rules", "check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/rules"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_a_rules_directory_the_built_in_bundle_is_used() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mesa"))
        .current_dir(empty.path())
        .args(["rules", "check"])
        .env_remove("MESA_RULES")
        .output()
        .unwrap();
    let v = stdout_json(&out);
    assert_eq!(v["source"], "built-in");
    let shipped = stdout_json(&mesa(&["rules", "check"]));
    assert_eq!(v["rules_version"], shipped["rules_version"]);
}
