//! Why a message could not be sent.

/// Why a message could not be sent. The cause is kept where there is one.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth trying again later (connection refused, throttled, …).
    #[error("temporary mail failure: {message}")]
    Temporary {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Will never work (bad address, rejected content).
    #[error("permanent mail failure: {message}")]
    Permanent {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl MailError {
    pub fn temporary(message: impl Into<String>) -> Self {
        MailError::Temporary {
            message: message.into(),
            source: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        MailError::Permanent {
            message: message.into(),
            source: None,
        }
    }

    /// A temporary failure caused by `source` (whose text joins the message, so a log line
    /// that prints only this error still says why).
    pub fn temporary_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        MailError::Temporary {
            message: format!("{}: {source}", message.into()),
            source: Some(Box::new(source)),
        }
    }

    /// A permanent failure caused by `source` (its text joins the message).
    pub fn permanent_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        MailError::Permanent {
            message: format!("{}: {source}", message.into()),
            source: Some(Box::new(source)),
        }
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Permanent { .. })
    }
}
