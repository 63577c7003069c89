//! The on-call page on AWS: one message to the stack's SNS topic, whose e-mail and SMS
//! subscriptions reach the people on call at any hour.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use mesa::outbox::{MailError, OutgoingMail};
use mesa::ports::Pager;
use unicode_normalization::UnicodeNormalization;

/// SNS takes a subject of fewer than 100 ASCII characters, without line breaks.
const MAX_SUBJECT: usize = 99;

pub struct SnsPager {
    client: Client,
    topic_arn: String,
}

impl SnsPager {
    pub fn new(client: Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

/// `subject` as SNS accepts it: accents taken off (é → e, ñ → n), anything else outside
/// printable ASCII dropped, cut to 99 characters.
pub fn sns_subject(subject: &str) -> String {
    let ascii: String = subject
        .nfd()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect();
    let mut out = ascii.split_whitespace().collect::<Vec<_>>().join(" ");
    out.truncate(MAX_SUBJECT);
    if out.is_empty() {
        out = "Severidad 1".into();
    }
    out
}

/// The SMS of a page: its subject (folio, severity, company, what), at most 300 characters.
fn sms_text(subject: &str) -> String {
    subject.chars().take(300).collect()
}

#[async_trait]
impl Pager for SnsPager {
    async fn page(&self, page: &OutgoingMail) -> Result<(), MailError> {
        // E-mail subscribers get the whole page; a phone gets the subject only (an SMS
        // publish is cut at 1,600 bytes, and the page ends with the customer's words).
        let message = serde_json::json!({
            "default": format!("{}\n\n{}", page.subject, page.text),
            "sms": sms_text(&page.subject),
        });
        let sent = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(sns_subject(&page.subject))
            .message_structure("json")
            .message(message.to_string())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let detail = DisplayErrorContext(&e).to_string();
                // A topic that does not exist or refuses us will not start working by
                // itself; a throttle or a network failure will.
                let permanent = matches!(&e, SdkError::ServiceError(s)
                    if matches!(s.err().code(), Some("NotFound" | "AuthorizationError" | "InvalidParameter" | "InvalidParameterValue")));
                Err(if permanent {
                    MailError::permanent(format!("SNS refused the page: {detail}"))
                } else {
                    MailError::temporary(format!("SNS did not take the page: {detail}"))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_ascii_single_line_and_short() {
        assert_eq!(
            sns_subject("[ING-2026-000001] Severidad 1: Comercialización del Bajío: todo caído\n"),
            "[ING-2026-000001] Severidad 1: Comercializacion del Bajio: todo caido"
        );
        assert_eq!(sns_subject(&"ñ".repeat(300)).len(), 99);
        assert_eq!(sns_subject("🔥"), "Severidad 1");
    }
}
