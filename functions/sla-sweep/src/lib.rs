//! EventBridge schedule (every minute) → one pass of the SLA sweep: warnings and breaches
//! recorded once each, with EMF metrics and their `SlaAtRisk` / `SlaBreached` events written
//! in the same transaction (the outbox function publishes them), unsent mail and events
//! re-driven, a heartbeat metric every run.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use mesa_aws::{FunctionError, Wiring};
use serde_json::Value;

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(
    w: &Wiring,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, FunctionError> {
    w.refresh_rules().await;
    // The schedule's own time, so a delayed invocation sweeps as of when it was due.
    let now = event.payload.time.unwrap_or_else(|| w.desk.now());
    let report = w.desk.sweep(now).await?;
    tracing::info!(?report, "sweep");
    Ok(serde_json::json!(report))
}
