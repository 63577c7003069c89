//! Every mesa metric the SAM template alarms on or charts is one the functions emit: a
//! renamed metric would otherwise leave an alarm that can never fire.

use mesa::telemetry::Metric;

#[test]
fn every_mesa_metric_in_the_template_is_one_mesa_emits() {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/template.yaml"
    ))
    .unwrap();
    let mut seen = Vec::new();
    for line in template.lines() {
        // `MetricName: X` on alarms in the stack's namespace, and `MetricName="X"` in the
        // metric-math searches over it.
        let names = line
            .split("MetricName")
            .skip(1)
            .filter_map(|rest| {
                let rest = rest.trim_start_matches([':', '=', ' ', '"']);
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
                (!name.is_empty()).then_some(name)
            })
            .collect::<Vec<_>>();
        let ours = line.contains("mesa-") || !line.contains("AWS/");
        for name in names {
            if ours && !["Errors", "ApproximateNumberOfMessagesVisible"].contains(&name.as_str()) {
                seen.push(name);
            }
        }
    }
    assert!(!seen.is_empty(), "the template alarms on mesa's metrics");
    for name in &seen {
        assert!(
            Metric::NAMES.contains(&name.as_str()),
            "the template uses metric {name}, which mesa never emits"
        );
    }
}

/// The dashboard's JSON (a `!Sub` block), with the stage and region filled in.
fn dashboard_body(template: &str) -> serde_json::Value {
    let mut lines = template
        .lines()
        .skip_while(|l| !l.contains("DashboardBody: !Sub |"));
    let header = lines.next().expect("the template has a dashboard");
    let indent = header.len() - header.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect();
    let text = body
        .join("\n")
        .replace("${Stage}", "dev")
        .replace("${AWS::Region}", "us-east-1");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"))
}

#[test]
fn the_dashboard_charts_what_a_support_lead_watches_from_metrics_mesa_emits() {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/template.yaml"
    ))
    .unwrap();
    let body = dashboard_body(&template);
    let mut charted = std::collections::BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for line in widget["properties"]["metrics"].as_array().expect("metrics") {
            let line = line.as_array().unwrap();
            match (&line[0], line.get(1)) {
                (serde_json::Value::String(ns), Some(serde_json::Value::String(name))) => {
                    assert_eq!(ns, "mesa-dev", "{line:?}");
                    charted.insert(name.clone());
                }
                (serde_json::Value::Object(e), _) => {
                    let expression = e["expression"].as_str().expect("an expression");
                    assert!(expression.contains("{mesa-dev,"), "{expression}");
                    let name = expression
                        .split("MetricName=\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .expect("a metric name in the search");
                    charted.insert(name.to_string());
                }
                other => panic!("unexpected metric line {other:?}"),
            }
        }
    }
    for name in &charted {
        assert!(
            Metric::NAMES.contains(&name.as_str()),
            "the dashboard charts {name}, which mesa never emits"
        );
    }
    for wanted in [
        "TicketCreated",
        "MailSent",
        "AcknowledgementLatency",
        "SlaAtRisk",
        "SlaBreached",
        "SweepHeartbeat",
        "MailFeedback",
    ] {
        assert!(charted.contains(wanted), "the dashboard lacks {wanted}");
    }
}
