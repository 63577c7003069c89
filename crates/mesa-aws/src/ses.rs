//! Outbound mail through SES v2. The message is sent as raw MIME built from the domain's
//! validated [`OutgoingMail`] (so In-Reply-To, References and Auto-Submitted survive);
//! SES gives it a Message-ID of its own, which is returned so replies thread back.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use mesa::outbox::OutgoingMail;
use mesa::ports::{MailError, Mailer};

pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
    /// SES's Message-ID domain for the region (`email.amazonses.com` in us-east-1,
    /// `<region>.amazonses.com` elsewhere).
    message_id_domain: String,
}

impl SesMailer {
    pub fn new(client: Client, configuration_set: Option<String>, region: &str) -> Self {
        let message_id_domain = if region == "us-east-1" {
            "email.amazonses.com".to_string()
        } else {
            format!("{region}.amazonses.com")
        };
        Self {
            client,
            configuration_set,
            message_id_domain,
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Option<String>, MailError> {
        let raw = mail.to_mime()?;
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
                            .map_err(|e| MailError::Permanent(e.to_string()))?,
                    )
                    .build(),
            )
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .message_id()
                .map(|id| format!("<{id}@{}>", self.message_id_domain))),
            Err(SdkError::ServiceError(e)) => {
                let err = e.err();
                if err.is_too_many_requests_exception() || err.is_limit_exceeded_exception() {
                    Err(MailError::Temporary(
                        DisplayErrorContext(e.into_err()).to_string(),
                    ))
                } else if err.is_message_rejected()
                    || err.is_bad_request_exception()
                    || err.is_mail_from_domain_not_verified_exception()
                {
                    Err(MailError::Permanent(
                        DisplayErrorContext(e.into_err()).to_string(),
                    ))
                } else {
                    Err(MailError::Temporary(
                        DisplayErrorContext(e.into_err()).to_string(),
                    ))
                }
            }
            Err(e) => Err(MailError::Temporary(DisplayErrorContext(e).to_string())),
        }
    }
}
