//! SES configuration-set events (delivery, bounce, complaint, delay, reject), routed by an
//! EventBridge rule → recorded on the ticket the mail belongs to, so the acknowledgement's
//! delivery is proven rather than assumed, and a bounce is seen by the team.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use mesa::desk::FeedbackOutcome;
use mesa_aws::ses::events::feedback;
use mesa_aws::{FunctionError, Wiring};
use serde_json::{Value, json};

/// Records one SES event. An event that is not SES's (or is malformed) is an error, so it
/// ends in the rule's dead-letter queue for a person to look at rather than vanish; a
/// report about mail no ticket sent is logged and dropped (retrying cannot help).
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(
    w: &Wiring,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, FunctionError> {
    w.refresh_rules().await;
    let region = event
        .payload
        .region
        .clone()
        .unwrap_or_else(|| w.config.region.clone());
    let Some(report) = feedback(&event.payload.detail, &region)
        .map_err(|e| FunctionError::new(FunctionError::MALFORMED_EVENT, e.to_string()))?
    else {
        return Ok(json!({"recorded": false, "reason": "not a delivery event"}));
    };
    let outcome = w.desk.record_mail_feedback(report).await?;
    Ok(match outcome {
        FeedbackOutcome::Recorded(folio) => json!({"recorded": true, "folio": folio}),
        FeedbackOutcome::AlreadyRecorded(folio) => {
            json!({"recorded": false, "folio": folio, "reason": "already recorded"})
        }
        FeedbackOutcome::UnknownMail => json!({"recorded": false, "reason": "unknown mail"}),
    })
}
