//! The JSON bodies of the API that are not domain types: what the handlers answer, and the
//! requests and query strings they read. Typed (not `json!`) so that the OpenAPI document is
//! generated from what the handlers really send.

use std::collections::BTreeMap;

use mesa::Severity;
use mesa::desk::{Submitted, TicketView};
use mesa::model::{Folio, Ticket, TicketId};
use mesa::policy::PlannedMilestone;
use mesa::ports::QuarantineRecord;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `GET /health`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    pub ok: bool,
}

/// A ticket taken in from the JSON API (`POST /tickets`): 201, or 200 when the same
/// `idempotency_key` was already taken in (`duplicate`: the same ticket).
#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketCreated {
    pub folio: Folio,
    pub ticket_id: TicketId,
    /// The rules' provisional severity (1 = critical … 4 = low).
    pub severity: Severity,
    pub severity_reason: String,
    /// Each milestone's deadline, as the acknowledgement tells the customer.
    pub milestones: Vec<PlannedMilestone>,
    pub duplicate: bool,
}

impl From<&Submitted> for TicketCreated {
    fn from(s: &Submitted) -> Self {
        Self {
            folio: s.ticket.folio.clone(),
            ticket_id: s.ticket.id.clone(),
            severity: s.ticket.severity,
            severity_reason: s.ticket.severity_reason.clone(),
            milestones: s.plan.milestones.clone(),
            duplicate: s.duplicate,
        }
    }
}

/// `POST /uploads`: a file too large to go with the form through the gateway.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UploadRequest {
    pub filename: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `GET /staff/queue`: open tickets in the contract's order (severity, nearest deadline,
/// order of registration).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Queue {
    pub tickets: Vec<TicketView>,
}

/// `GET /staff/mail/set-aside`: mail that became no ticket, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SetAsideMail {
    pub mail: Vec<QuarantineRecord>,
}

/// `GET /staff/tickets`: one page of tickets, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next: Option<String>,
}

/// The query string of `GET /staff/tickets`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListQuery {
    /// Only tickets in this stage.
    #[schemars(with = "Option<mesa::model::Stage>")]
    pub stage: Option<String>,
    /// Only open tickets.
    #[serde(default)]
    pub open: bool,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Tickets per page (1–200, 50 when not given).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<usize>,
}

/// A request that could not be carried out (404, 409, 422 without fields, 500, 503).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Problem {
    pub error: String,
}

/// Input that was refused (422; 415 for a body of another type): field → message, in
/// Spanish for the form's fields.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FieldProblems {
    pub errors: BTreeMap<String, String>,
}

/// The query string of `GET /staff/stats`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatsQuery {
    /// First day of the period (`YYYY-MM-DD`, in the calendar's time zone).
    pub from: chrono::NaiveDate,
    /// Last day of the period, included.
    pub to: chrono::NaiveDate,
    /// Only one customer: its company name, an address or a mail domain.
    pub customer: Option<String>,
}
