//! Outbound mail through SES v2. The message is sent as raw MIME built from the domain's
//! validated [`OutgoingMail`] (so In-Reply-To, References and Auto-Submitted survive);
//! SES gives it a Message-ID of its own, which is returned so replies thread back.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use mesa::outbox::OutgoingMail;
use mesa::ports::{MailError, Mailer};

/// The message tag that carries our outbox id, so SES's delivery events find the ticket.
pub const OUTBOX_TAG: &str = "mesa-outbox";

/// SES's Message-ID domain for a region (`email.amazonses.com` in us-east-1,
/// `<region>.amazonses.com` elsewhere).
pub fn message_id_domain(region: &str) -> String {
    if region == "us-east-1" {
        "email.amazonses.com".to_string()
    } else {
        format!("{region}.amazonses.com")
    }
}

pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
    /// SES's Message-ID domain for the region (`email.amazonses.com` in us-east-1,
    /// `<region>.amazonses.com` elsewhere).
    message_id_domain: String,
}

impl SesMailer {
    pub fn new(client: Client, configuration_set: Option<String>, region: &str) -> Self {
        Self {
            client,
            configuration_set,
            message_id_domain: message_id_domain(region),
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Option<String>, MailError> {
        let raw = mail.to_mime()?;
        let tag = MessageTag::builder()
            .name(OUTBOX_TAG)
            .value(&mail.outbox_id)
            .build()
            .map_err(|e| MailError::permanent_from("message tag", e))?;
        let out = self
            .client
            .send_email()
            .from_email_address(&mail.from_address)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(
                EmailContent::builder()
                    .raw(
                        RawMessage::builder()
                            .data(Blob::new(raw))
                            .build()
                            .map_err(|e| MailError::permanent_from("raw message", e))?,
                    )
                    .build(),
            )
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(tag)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .message_id()
                .map(|id| format!("<{id}@{}>", self.message_id_domain))),
            Err(SdkError::ServiceError(e)) => {
                let err = e.err();
                let permanent = err.is_message_rejected()
                    || err.is_bad_request_exception()
                    || err.is_mail_from_domain_not_verified_exception();
                // Throttles, quota and everything unknown are worth another try.
                let e = e.into_err();
                let message = format!("SES SendEmail: {}", DisplayErrorContext(&e));
                let source = Some(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
                Err(if permanent {
                    MailError::Permanent { message, source }
                } else {
                    MailError::Temporary { message, source }
                })
            }
            Err(e) => Err(MailError::Temporary {
                message: format!("SES SendEmail: {}", DisplayErrorContext(&e)),
                source: Some(Box::new(e)),
            }),
        }
    }
}

/// SES's delivery events (configuration set → EventBridge, the event's `detail`) as the
/// domain's mail feedback. Written against the documented event shape
/// (docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html); no
/// crate models these events.
pub mod events {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use mesa::desk::MailFeedback;
    use mesa::model::DeliveryStatus;
    use serde::Deserialize;

    use super::{OUTBOX_TAG, message_id_domain};

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SesEvent {
        event_type: Option<String>,
        /// Older SNS notifications name it `notificationType`.
        notification_type: Option<String>,
        mail: Mail,
        bounce: Option<Bounce>,
        complaint: Option<Complaint>,
        delivery: Option<Delivery>,
        delivery_delay: Option<DeliveryDelay>,
        reject: Option<Reject>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Mail {
        message_id: String,
        timestamp: Option<DateTime<Utc>>,
        #[serde(default)]
        tags: BTreeMap<String, Vec<String>>,
        #[serde(default)]
        destination: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Recipient {
        email_address: String,
        diagnostic_code: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Bounce {
        bounce_type: Option<String>,
        bounce_sub_type: Option<String>,
        #[serde(default)]
        bounced_recipients: Vec<Recipient>,
        timestamp: Option<DateTime<Utc>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Complaint {
        #[serde(default)]
        complained_recipients: Vec<Recipient>,
        complaint_feedback_type: Option<String>,
        timestamp: Option<DateTime<Utc>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Delivery {
        #[serde(default)]
        recipients: Vec<String>,
        smtp_response: Option<String>,
        timestamp: Option<DateTime<Utc>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DeliveryDelay {
        delay_type: Option<String>,
        #[serde(default)]
        delayed_recipients: Vec<Recipient>,
        timestamp: Option<DateTime<Utc>>,
    }

    #[derive(Debug, Deserialize)]
    struct Reject {
        reason: Option<String>,
    }

    fn addresses(recipients: &[Recipient]) -> Vec<String> {
        recipients.iter().map(|r| r.email_address.clone()).collect()
    }

    fn diagnostics(recipients: &[Recipient]) -> Vec<String> {
        recipients
            .iter()
            .filter_map(|r| r.diagnostic_code.clone())
            .collect()
    }

    fn join(parts: impl IntoIterator<Item = Option<String>>) -> String {
        parts
            .into_iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The feedback an SES event gives; `Ok(None)` for events that say nothing about
    /// delivery (send, open, click, …). `region` is the sending region (it names SES's
    /// Message-ID domain).
    pub fn feedback(
        detail: &serde_json::Value,
        region: &str,
    ) -> Result<Option<MailFeedback>, String> {
        let event = SesEvent::deserialize(detail).map_err(|e| format!("not an SES event: {e}"))?;
        let Some(kind) = event.event_type.clone().or(event.notification_type.clone()) else {
            return Err("not an SES event: no eventType".into());
        };
        let mail_at = event.mail.timestamp;
        let (status, recipients, detail, at) = match kind.as_str() {
            "Delivery" => {
                let d = event.delivery.ok_or("Delivery event without `delivery`")?;
                (
                    DeliveryStatus::Delivered,
                    d.recipients,
                    join([d.smtp_response]),
                    d.timestamp,
                )
            }
            "Bounce" => {
                let b = event.bounce.ok_or("Bounce event without `bounce`")?;
                let mut parts = vec![b.bounce_type.clone(), b.bounce_sub_type.clone()];
                parts.extend(diagnostics(&b.bounced_recipients).into_iter().map(Some));
                (
                    DeliveryStatus::Bounced,
                    addresses(&b.bounced_recipients),
                    join(parts),
                    b.timestamp,
                )
            }
            "Complaint" => {
                let c = event
                    .complaint
                    .ok_or("Complaint event without `complaint`")?;
                (
                    DeliveryStatus::Complained,
                    addresses(&c.complained_recipients),
                    join([c.complaint_feedback_type.clone()]),
                    c.timestamp,
                )
            }
            "DeliveryDelay" => {
                let d = event
                    .delivery_delay
                    .ok_or("DeliveryDelay event without `deliveryDelay`")?;
                let mut parts = vec![d.delay_type.clone()];
                parts.extend(diagnostics(&d.delayed_recipients).into_iter().map(Some));
                (
                    DeliveryStatus::Delayed,
                    addresses(&d.delayed_recipients),
                    join(parts),
                    d.timestamp,
                )
            }
            "Reject" => {
                let r = event.reject.ok_or("Reject event without `reject`")?;
                (
                    DeliveryStatus::Rejected,
                    event.mail.destination.clone(),
                    join([r.reason]),
                    None,
                )
            }
            _ => return Ok(None),
        };
        let at = at.or(mail_at).ok_or("SES event without a timestamp")?;
        let outbox_id = event
            .mail
            .tags
            .get(OUTBOX_TAG)
            .and_then(|values| values.first())
            .cloned();
        Ok(Some(MailFeedback {
            provider_message_id: format!(
                "<{}@{}>",
                event.mail.message_id,
                message_id_domain(region)
            ),
            outbox_id,
            status,
            recipients,
            detail,
            at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use mesa::model::DeliveryStatus;
    use serde_json::json;

    use super::events::feedback;

    #[test]
    fn a_delivery_event_proves_delivery() {
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/ses-delivery-event.json"
        ))
        .unwrap();
        let f = feedback(&event["detail"], "us-east-1").unwrap().unwrap();
        assert_eq!(f.status, DeliveryStatus::Delivered);
        assert_eq!(
            f.provider_message_id,
            "<010001234567890a-abcdef01-2345-6789-abcd-ef0123456789-000000@email.amazonses.com>"
        );
        assert_eq!(f.outbox_id.as_deref(), Some("01JCX5Z8Q9R7W3E2T1Y0U9I8O7"));
        assert_eq!(f.recipients, ["luis@norte.mx"]);
        assert_eq!(f.detail, "250 2.0.0 OK");
        assert_eq!(f.at.to_rfc3339(), "2026-11-10T16:00:05+00:00");
    }

    #[test]
    fn bounces_complaints_and_rejects_say_why() {
        let mail = json!({"messageId": "abc", "timestamp": "2026-11-10T16:00:03Z",
            "destination": ["nadie@norte.mx"], "tags": {}});
        let bounce = json!({"eventType": "Bounce", "mail": mail, "bounce": {
            "bounceType": "Permanent", "bounceSubType": "NoEmail",
            "bouncedRecipients": [{"emailAddress": "nadie@norte.mx",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
            "timestamp": "2026-11-10T16:00:04Z"}});
        let f = feedback(&bounce, "eu-west-1").unwrap().unwrap();
        assert_eq!(f.status, DeliveryStatus::Bounced);
        assert_eq!(f.provider_message_id, "<abc@eu-west-1.amazonses.com>");
        assert_eq!(f.outbox_id, None);
        assert_eq!(f.recipients, ["nadie@norte.mx"]);
        assert_eq!(f.detail, "Permanent; NoEmail; smtp; 550 5.1.1 user unknown");

        let complaint = json!({"eventType": "Complaint", "mail": mail, "complaint": {
            "complainedRecipients": [{"emailAddress": "nadie@norte.mx"}],
            "complaintFeedbackType": "abuse", "timestamp": "2026-11-10T17:00:00Z"}});
        let f = feedback(&complaint, "us-east-1").unwrap().unwrap();
        assert_eq!(
            (f.status, f.detail.as_str()),
            (DeliveryStatus::Complained, "abuse")
        );

        let reject =
            json!({"eventType": "Reject", "mail": mail, "reject": {"reason": "Bad content"}});
        let f = feedback(&reject, "us-east-1").unwrap().unwrap();
        assert_eq!(f.status, DeliveryStatus::Rejected);
        assert_eq!(f.recipients, ["nadie@norte.mx"]);
        assert_eq!(f.at.to_rfc3339(), "2026-11-10T16:00:03+00:00");
    }

    #[test]
    fn other_events_are_not_feedback_and_garbage_is_an_error() {
        let open = json!({"eventType": "Open", "mail": {"messageId": "abc"}, "open": {}});
        assert_eq!(feedback(&open, "us-east-1").unwrap(), None);
        assert!(feedback(&json!({"hello": 1}), "us-east-1").is_err());
        let no_body = json!({"eventType": "Bounce", "mail": {"messageId": "abc"}});
        assert!(
            feedback(&no_body, "us-east-1")
                .unwrap_err()
                .contains("without `bounce`")
        );
    }
}
