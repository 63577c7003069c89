//! Domain events to EventBridge and metrics as CloudWatch Embedded Metric Format.
//!
//! Events: `source = "mesa"`; `detail-type` one of `TicketCreated`, `SlaAtRisk`,
//! `SlaBreached`, `MailUndeliverable`; `detail` is the JSON the desk builds (event_id,
//! ticket_id, folio, severity, and for SLA events milestone, due, at). Delivery is at least
//! once: `event_id` is the same on every delivery of one event.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use mesa::ports::{BusError, EventBus, Metric, Metrics, PublishedEvent};

pub const EVENT_SOURCE: &str = "mesa";

pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[PublishedEvent]) -> Result<(), BusError> {
        // PutEvents takes at most 10 entries per call.
        for chunk in events.chunks(10) {
            let entries = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(EVENT_SOURCE)
                        .detail_type(e.event.detail_type())
                        .detail(e.detail().to_string())
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    BusError::new(
                        format!("EventBridge PutEvents: {}", DisplayErrorContext(&e)),
                        Some(Box::new(e)),
                    )
                })?;
            if out.failed_entry_count() > 0 {
                return Err(BusError::new(
                    format!(
                        "{} event(s) rejected by EventBridge",
                        out.failed_entry_count()
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }
}

/// CloudWatch metrics as EMF log lines on stdout: Lambda ships them to CloudWatch Logs,
/// which extracts the metrics. No API call per metric.
pub struct EmfMetrics {
    namespace: String,
}

impl EmfMetrics {
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
        }
    }

    /// The EMF document for one metric value.
    pub fn document(
        &self,
        name: &str,
        value: f64,
        unit: &str,
        dimensions: &[(&str, &str)],
        at_ms: i64,
    ) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": at_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }],
            },
        });
        if let Some(obj) = doc.as_object_mut() {
            obj.insert(name.to_string(), serde_json::json!(value));
            for (k, v) in dimensions {
                obj.insert((*k).to_string(), serde_json::json!(v));
            }
        }
        doc
    }
}

impl Metrics for EmfMetrics {
    fn count(&self, metric: &Metric) {
        let dimensions = metric.dimensions();
        let dims: Vec<(&str, &str)> = dimensions.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let doc = self.document(
            metric.name(),
            metric.value(),
            metric.unit(),
            &dims,
            chrono::Utc::now().timestamp_millis(),
        );
        println!("{doc}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_shape() {
        let m = EmfMetrics::new("mesa");
        let d = m.document(
            "SlaBreached",
            1.0,
            "Count",
            &[("Severity", "1"), ("Milestone", "response")],
            1_700_000_000_000,
        );
        assert_eq!(d["_aws"]["CloudWatchMetrics"][0]["Namespace"], "mesa");
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][1],
            "Milestone"
        );
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "SlaBreached"
        );
        assert_eq!(d["SlaBreached"], 1.0);
        assert_eq!(d["Severity"], "1");
    }
}
