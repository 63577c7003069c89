//! The table's stream (outbox items only, by the event source's filter) → send via SES v2.
//! Items are claimed with a conditional lease before sending, so a retried batch never
//! sends an item twice; failures are reported per record (partial batch response).

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::LambdaEvent;
use mesa::outbox::OutboxStatus;
use mesa::ports::OutboxStore;
use mesa_aws::{FunctionError, Wiring};

/// The outbox id of a stream record's new image (`pk = OUTBOX#<id>`).
pub fn outbox_id(new_image: &serde_json::Value) -> Option<String> {
    let pk = new_image.get("pk")?;
    let text = pk
        .get("S")
        .and_then(|v| v.as_str())
        .or_else(|| pk.as_str())?;
    text.strip_prefix("OUTBOX#").map(str::to_string)
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(
    w: &Wiring,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, FunctionError> {
    w.refresh_rules().await;
    let records: Vec<(String, Option<String>)> = event
        .payload
        .records
        .iter()
        .map(|r| {
            let image = serde_json::to_value(&r.change.new_image).unwrap_or_default();
            (r.event_id.clone(), outbox_id(&image))
        })
        .collect();
    let mut response = DynamoDbEventResponse::default();
    let failure = |id: String| {
        let mut f = DynamoDbBatchItemFailure::default();
        f.item_identifier = Some(id);
        f
    };
    if let Err(e) = w.desk.deliver_outbox().await {
        // The store failed: let Lambda retry every record of the batch.
        tracing::error!(error = %e, error_type = FunctionError::of_desk(&e).error_type(), "outbox pass failed");
        response.batch_item_failures = records.into_iter().map(|(id, _)| failure(id)).collect();
        return Ok(response);
    }
    for (event_id, outbox) in records {
        let Some(outbox) = outbox else { continue };
        let now = w.desk.now();
        match w.store.outbox_item(&outbox).await {
            // Still pending, never tried and due: it was not picked up, so the record is
            // retried. (An item that failed to send waits for its back-off, and an
            // acknowledgement held for its address's digest waits for the end of the period;
            // the sweep sends both.)
            Ok(item) => {
                if item.is_some_and(|i| {
                    i.status == OutboxStatus::Pending && i.attempts == 0 && i.not_before <= now
                }) {
                    response.batch_item_failures.push(failure(event_id));
                }
            }
            // Not known to be sent: this record is retried, the others stand.
            Err(e) => {
                tracing::warn!(outbox = %outbox, error = %e, "outbox item not read; its record is retried");
                response.batch_item_failures.push(failure(event_id));
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_outbox_id() {
        let image = serde_json::json!({"pk": {"S": "OUTBOX#01J"}, "sk": {"S": "OUTBOX"}});
        assert_eq!(outbox_id(&image).as_deref(), Some("01J"));
        assert_eq!(
            outbox_id(&serde_json::json!({"pk": {"S": "TICKET#1"}})),
            None
        );
        assert_eq!(outbox_id(&serde_json::json!({})), None);
    }
}
