//! SES receipt rule (S3 action, then this Lambda action) → read the raw message from S3 →
//! mesa intake. Verdicts are honoured (virus, spam, DMARC reject → quarantine, no ack);
//! headers always come from the stored message itself, so `headersTruncated` loses
//! nothing; a redelivered event is a duplicate (SES message id, then Message-ID).
//!
//! Failures worth a retry (a throttle, a timeout, the raw message not in S3 yet) are
//! returned with their class as `errorType`: Lambda retries the asynchronous invocation, then
//! sends the event to the on-failure destination. What can never succeed is not returned: a
//! message the desk cannot take in is kept in the quarantine by the desk, and an event this
//! function cannot read is kept there too (its JSON as the raw copy), logged and answered.

use aws_lambda_events::event::ses::{SimpleEmailEvent, SimpleEmailReceipt};
use lambda_runtime::LambdaEvent;
use mesa::desk::{EmailOutcome, InboundMeta};
use mesa_aws::{FunctionError, S3Blobs, Wiring};
use serde_json::{Value, json};

fn failed(v: &aws_lambda_events::event::ses::SimpleEmailVerdict) -> bool {
    v.status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("FAIL"))
}

/// Why SES's verdicts keep this message out, if they do.
pub fn quarantine_verdict(receipt: &SimpleEmailReceipt) -> Option<String> {
    if failed(&receipt.virus_verdict) {
        return Some("SES virus verdict: FAIL".into());
    }
    if failed(&receipt.spam_verdict) {
        return Some("SES spam verdict: FAIL".into());
    }
    let reject = receipt
        .dmarc_policy
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("reject"));
    if failed(&receipt.dmarc_verdict) && reject {
        return Some("SES DMARC verdict: FAIL with a reject policy".into());
    }
    None
}

/// The function's entry: the event as Lambda hands it over, read here so that an event in a
/// shape SES never sends is set aside instead of failing before the handler (and retried).
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle_raw(w: &Wiring, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
    let (payload, context) = event.into_parts();
    match serde_json::from_value::<SimpleEmailEvent>(payload.clone()) {
        Ok(ses) => handle(w, LambdaEvent::new(ses, context)).await,
        Err(e) => {
            let why = format!("an event that is not an SES receipt notification: {e}");
            tracing::error!(error = %e, "unreadable intake event; set aside, not retried");
            let bytes = serde_json::to_vec(&payload).unwrap_or_default();
            let outcome = w
                .desk
                .set_aside_unreadable(&bytes, &why, w.desk.now())
                .await?;
            Ok(json!({ "outcomes": [outcome], "failed": [] }))
        }
    }
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handle(
    w: &Wiring,
    event: LambdaEvent<SimpleEmailEvent>,
) -> Result<Value, FunctionError> {
    w.refresh_rules().await;
    let mut outcomes: Vec<EmailOutcome> = Vec::new();
    let mut failed: Vec<Value> = Vec::new();
    for record in event.payload.records {
        let mail = &record.ses.mail;
        let Some(id) = mail.message_id.clone().filter(|i| !i.is_empty()) else {
            tracing::error!("SES record without a messageId: ignored");
            continue;
        };
        let key = format!("{}{}", w.config.inbound_prefix, id);
        let raw = S3Blobs::get_object(&w.clients.s3, &w.config.inbound_bucket, &key)
            .await
            .map_err(|e| FunctionError::new(FunctionError::BLOB_STORE, e.to_string()))?
            // The S3 action may not have finished writing yet: try again later.
            .ok_or_else(|| {
                FunctionError::new(
                    FunctionError::BLOB_STORE,
                    format!("s3://{}/{key} is not there yet", w.config.inbound_bucket),
                )
            })?;
        let meta = InboundMeta {
            receiver_id: Some(format!("ses:{id}")),
            quarantine: quarantine_verdict(&record.ses.receipt),
        };
        let outcome = match w.desk.intake_email_with(&raw, mail.timestamp, &meta).await {
            Ok(o) => o,
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => {
                // It will never succeed; the raw message stays in the inbound bucket.
                tracing::error!(ses_message_id = %id, error = %e, "inbound mail cannot be taken in; not retried");
                failed.push(json!({ "ses_message_id": id, "error": e.to_string() }));
                continue;
            }
        };
        tracing::info!(ses_message_id = %id, outcome = ?outcome.outcome, folio = ?outcome.folio, "inbound mail");
        outcomes.push(outcome);
    }
    Ok(json!({ "outcomes": outcomes, "failed": failed }))
}
