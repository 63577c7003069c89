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
