//! Test vectors: `tests/*.json` files of the bundle, each an array of
//! `{"name", "call", "args", "expect"}` (or `"expect_error"`: a piece of the message).
//!
//! `expect` is matched as a subset: every key it names must be present with a matching
//! value, arrays must have the same length and match element by element. A vector can so
//! check a severity without repeating its reason text.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Diagnosis, Policy, PolicyError, Work, format_utc};
use crate::ticket::{Severity, TicketFacts};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    call: String,
    #[serde(default)]
    args: Value,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    expect_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VectorOutcome {
    pub file: String,
    pub name: String,
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VectorReport {
    pub outcomes: Vec<VectorOutcome>,
}

impl VectorReport {
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed()
    }

    pub fn failures_text(&self) -> String {
        self.outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(|o| format!("  FAIL {} :: {}: {}", o.file, o.name, o.message))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub(super) fn run(policy: &Policy) -> VectorReport {
    let mut report = VectorReport::default();
    let files: Vec<(String, Vec<u8>)> = policy
        .bundle()
        .files()
        .filter(|(p, _)| p.starts_with("tests/") && p.ends_with(".json"))
        .map(|(p, b)| (p.to_string(), b.to_vec()))
        .collect();
    for (file, bytes) in files {
        let vectors: Vec<Vector> = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                report.outcomes.push(VectorOutcome {
                    file,
                    name: "(file)".into(),
                    passed: false,
                    message: format!("not a JSON array of vectors: {e}"),
                });
                continue;
            }
        };
        for v in vectors {
            let result = evaluate(policy, &v.call, &v.args);
            let message = match (&v.expect, &v.expect_error, result) {
                (Some(expect), None, Ok(actual)) => mismatch(expect, &actual, "$")
                    .map(|m| format!("{m}\n      actual: {actual}"))
                    .unwrap_or_default(),
                (Some(_), None, Err(e)) => format!("failed: {e}"),
                (None, Some(want), Err(e)) if e.to_string().contains(want.as_str()) => {
                    String::new()
                }
                (None, Some(want), Err(e)) => format!("error {e:?} does not contain {want:?}"),
                (None, Some(want), Ok(actual)) => {
                    format!("expected an error containing {want:?}, got {actual}")
                }
                _ => "a vector needs exactly one of expect and expect_error".into(),
            };
            report.outcomes.push(VectorOutcome {
                file: file.clone(),
                name: v.name,
                passed: message.is_empty(),
                message,
            });
        }
    }
    report
}

fn arg<T: for<'de> Deserialize<'de>>(args: &Value, key: &str) -> Result<T, PolicyError> {
    let v = args.get(key).cloned().unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| PolicyError::BadInput(format!("args.{key}: {e}")))
}

fn opt_arg<T: for<'de> Deserialize<'de>>(
    args: &Value,
    key: &str,
) -> Result<Option<T>, PolicyError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => arg(args, key).map(Some),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Value, PolicyError> {
    serde_json::to_value(v).map_err(|e| PolicyError::BadInput(e.to_string()))
}

/// Runs one call the way the CLI would, giving the CLI's JSON.
fn evaluate(policy: &Policy, call: &str, args: &Value) -> Result<Value, PolicyError> {
    let ticket =
        || -> Result<TicketFacts, PolicyError> { Ok(opt_arg(args, "ticket")?.unwrap_or_default()) };
    match call {
        "holidays" => to_json(&policy.holidays(arg(args, "year")?)?),
        "classify" => to_json(&policy.classify(&ticket()?)?),
        "milestones" => {
            let severity: Severity = arg(args, "severity")?;
            to_json(&policy.milestones(&ticket()?, severity)?.to_vec())
        }
        "plan" => {
            let received: DateTime<Utc> = arg(args, "received")?;
            let severity: Severity = arg(args, "severity")?;
            to_json(&policy.plan(&ticket()?, received, severity)?)
        }
        "calendar_add" => {
            let from: DateTime<Utc> = arg(args, "from")?;
            let hours: i64 = opt_arg(args, "hours")?.unwrap_or(0);
            let minutes: i64 = opt_arg(args, "minutes")?.unwrap_or(0);
            let d = Duration::hours(hours) + Duration::minutes(minutes);
            let due = policy
                .calendar()
                .add(from, d)
                .map_err(|e| PolicyError::BadInput(e.to_string()))?;
            Ok(json!({"due": format_utc(due), "due_local": policy.format_local(due)}))
        }
        "calendar_between" => {
            let from: DateTime<Utc> = arg(args, "from")?;
            let to: DateTime<Utc> = arg(args, "to")?;
            let d = policy
                .calendar()
                .between(from, to)
                .map_err(|e| PolicyError::BadInput(e.to_string()))?;
            Ok(json!({"business_seconds": d.num_seconds()}))
        }
        "assess" => {
            let diagnosis: Diagnosis = arg(args, "diagnosis")?;
            to_json(&policy.assess(&ticket()?, &diagnosis)?)
        }
        "charge" => to_json(&policy.charge(arg::<Work>(args, "work")?)?),
        "support_types" => to_json(&policy.support_types()),
        other => Err(PolicyError::BadInput(format!(
            "unknown call {other:?} (holidays, classify, milestones, plan, calendar_add, calendar_between, assess, charge, support_types)"
        ))),
    }
}

/// Where `actual` differs from `expect` (subset match), as a JSON path and a reason.
fn mismatch(expect: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expect, actual) {
        (Value::Object(e), Value::Object(a)) => e.iter().find_map(|(k, ev)| match a.get(k) {
            Some(av) => mismatch(ev, av, &format!("{path}.{k}")),
            None => Some(format!("{path}.{k}: missing")),
        }),
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!(
                    "{path}: expected {} items, got {}",
                    e.len(),
                    a.len()
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (ev, av))| mismatch(ev, av, &format!("{path}[{i}]")))
        }
        (e, a) if e == a => None,
        (e, a) => Some(format!("{path}: expected {e}, got {a}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_match() {
        let actual = json!({"a": 1, "b": [{"x": 1, "y": 2}], "c": "z"});
        assert_eq!(mismatch(&json!({"a": 1}), &actual, "$"), None);
        assert_eq!(mismatch(&json!({"b": [{"y": 2}]}), &actual, "$"), None);
        assert!(
            mismatch(&json!({"b": []}), &actual, "$")
                .unwrap()
                .contains("expected 0 items")
        );
        assert!(
            mismatch(&json!({"a": 2}), &actual, "$")
                .unwrap()
                .contains("$.a")
        );
        assert!(
            mismatch(&json!({"d": 2}), &actual, "$")
                .unwrap()
                .contains("missing")
        );
    }
}
