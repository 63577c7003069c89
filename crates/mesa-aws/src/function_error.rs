//! A failed invocation as Lambda reports it. `errorType` names the class of failure, so that
//! the console, the failure destinations and the alarms tell a throttle (retried, and it
//! passes) from input that can never succeed or a defect; the message says what failed.

use lambda_runtime::Diagnostic;
use mesa::desk::DeskError;
use mesa::ports::StoreError;

#[derive(Debug)]
pub struct FunctionError {
    error_type: &'static str,
    message: String,
}

impl FunctionError {
    /// The store was throttled, timed out, or the ticket kept changing: retrying helps.
    pub const BUSY: &'static str = "mesa.Busy";
    /// The store failed for another reason (it may pass on a retry).
    pub const STORE_FAILURE: &'static str = "mesa.StoreFailure";
    /// The store refused the write as it is (too large): a retry fails the same way.
    pub const STORE_REJECTED: &'static str = "mesa.StoreRejected";
    /// S3 failed, or an object the event names is not there (yet).
    pub const BLOB_STORE: &'static str = "mesa.BlobStoreFailure";
    /// The rules failed on this input (every fallback included).
    pub const RULES: &'static str = "mesa.RulesFailure";
    /// An instant outside the calendar's years, or a calendar the rules could not build.
    pub const CALENDAR: &'static str = "mesa.CalendarFailure";
    /// The input itself is wrong: bad fields, an unknown folio, an illegal step.
    pub const INVALID: &'static str = "mesa.InvalidInput";
    /// The event is not one this function reads.
    pub const MALFORMED_EVENT: &'static str = "mesa.MalformedEvent";

    pub fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }

    /// The class of a desk error.
    pub fn of_desk(e: &DeskError) -> Self {
        let error_type = match e {
            DeskError::Store(StoreError::Busy(_) | StoreError::Conflict(_))
            | DeskError::TooManyConflicts => Self::BUSY,
            DeskError::Store(StoreError::Backend(_)) => Self::STORE_FAILURE,
            DeskError::Store(StoreError::Rejected(_)) => Self::STORE_REJECTED,
            DeskError::Blob(_) => Self::BLOB_STORE,
            DeskError::Policy(_) => Self::RULES,
            DeskError::Calendar(_) => Self::CALENDAR,
            DeskError::Store(StoreError::NotFound(_))
            | DeskError::UnknownFolio(_)
            | DeskError::Invalid(_)
            | DeskError::Action(_)
            | DeskError::Token(_)
            | DeskError::ChangedSince(_) => Self::INVALID,
        };
        Self::new(error_type, e.to_string())
    }

    pub fn error_type(&self) -> &'static str {
        self.error_type
    }
}

impl From<DeskError> for FunctionError {
    fn from(e: DeskError) -> Self {
        Self::of_desk(&e)
    }
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for FunctionError {}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        Diagnostic {
            error_type: e.error_type.to_string(),
            error_message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_is_told_the_class_and_the_message() {
        let e = FunctionError::of_desk(&DeskError::Store(StoreError::busy(std::io::Error::other(
            "ThrottlingException",
        ))));
        let d = Diagnostic::from(e);
        assert_eq!(d.error_type, "mesa.Busy");
        assert!(d.error_message.contains("ThrottlingException"));
        let d = Diagnostic::from(FunctionError::of_desk(&DeskError::UnknownFolio(
            "ING-2026-000009".into(),
        )));
        assert_eq!(d.error_type, "mesa.InvalidInput");
    }
}
