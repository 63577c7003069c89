//! The contract's value types: what the scripts decide (classification, coverage, quotes,
//! deadlines, settings), as plain data the rest of the domain stores and shows. A leaf:
//! no dependency on the policy host, the model or the services.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ticket::Severity;
use crate::types::RulesVersion;

/// Operating settings of the contract (`intake.rhai` `settings()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub folio_prefix: String,
    pub company_name: String,
    pub support_address: String,
    pub time_zone_label: String,
    pub ack_limit_per_address_per_hour: u32,
    /// Past the hourly limit, tickets from that address are acknowledged together in one
    /// digest every this many minutes (so every customer is acknowledged, and a robot that
    /// answers every mail gets at most one message per period).
    #[serde(default = "default_digest_minutes")]
    pub ack_digest_minutes: u32,
    /// Past this many acknowledgements to one address in a day, no more are sent (a loop
    /// that outlives the digest): the tickets are still taken and staff are told.
    #[serde(default = "default_acks_per_day")]
    pub ack_limit_per_address_per_day: u32,
    pub sla_warning_percent: u32,
    /// An e-mail's clocks start at its Date header (when the customer sent it) if that is at
    /// most this many minutes before its receipt; an older Date is not believed.
    #[serde(default = "default_sent_date_max_age")]
    pub sent_date_max_age_minutes: u32,
    /// ...and at most this many minutes after it (a sender's clock running fast).
    #[serde(default = "default_sent_date_max_skew")]
    pub sent_date_max_skew_minutes: u32,
    pub reopen_closed_on_reply: bool,
    pub accept_unregistered_senders: bool,
    /// Severity-1 reports from several companies at once declare a major incident by
    /// themselves (off when absent or `critical_reports` is 0).
    #[serde(default)]
    pub automatic_incident: AutomaticIncident,
}

/// The automatic declaration of a major incident: `critical_reports` severity-1 reports
/// from as many different companies within `within_minutes` declare one with this cause,
/// service and actions, told to the subscribed customers like one staff declare.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomaticIncident {
    pub critical_reports: u32,
    pub within_minutes: u32,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub actions: String,
    /// Words that link later reports to it, as a declared incident's symptoms.
    #[serde(default)]
    pub symptoms: Vec<String>,
}

fn default_digest_minutes() -> u32 {
    15
}

fn default_acks_per_day() -> u32 {
    60
}

fn default_sent_date_max_age() -> u32 {
    24 * 60
}

fn default_sent_date_max_skew() -> u32 {
    5
}

/// A rendered mail template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub body: String,
}

/// One public holiday, as the calendar script names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: String,
}

/// A choice of the "Tipo de Soporte" list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportType {
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub severity: Severity,
    /// Why, naming the answers and words that decided it (Spanish, shown to the customer).
    pub reason: String,
    /// How sure the rules are, 0–100; under [`Classification::CONFIRM_BELOW`] staff are
    /// asked to confirm it in the queue.
    pub confidence: u8,
}

impl Classification {
    /// Confidence under which a provisional severity is flagged for staff confirmation.
    pub const CONFIRM_BELOW: u8 = 60;

    pub fn needs_confirmation(&self) -> bool {
        self.confidence < Self::CONFIRM_BELOW
    }
}

/// Whether a device was under warranty on the day its fault was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Warranty {
    InWarranty,
    OutOfWarranty,
    /// No device with that serial in the registry.
    NotRegistered,
    /// Replaced or retired: no longer covered by anything.
    Retired,
}

/// What the registry says of the device a ticket names, recorded with the diagnosis and
/// read by `exclusions.rhai` as `diagnosis.device`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeviceFacts {
    pub serial: String,
    pub warranty: Warranty,
    #[serde(default)]
    pub model: String,
    /// The company it is registered to (empty when not registered).
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub warranty_until: Option<NaiveDate>,
    /// Whether it is registered to the ticket's company: `None` when the sender is not a
    /// registered contact (a company name as typed is not compared: "Tornillos del Norte
    /// SA de CV" is the same customer).
    #[serde(default)]
    pub same_company: Option<bool>,
}

impl DeviceFacts {
    /// A serial (as the registry keys it) the registry does not have.
    pub fn not_registered(serial: &str) -> Self {
        DeviceFacts {
            serial: serial.to_string(),
            warranty: Warranty::NotRegistered,
            model: String::new(),
            company: String::new(),
            site: String::new(),
            warranty_until: None,
            same_company: None,
        }
    }
}

/// What the first diagnosis found, as staff record it; the exclusions script judges it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Diagnosis {
    /// A cause category the rules know (e.g. `software_defect`, `third_party`, `misuse`).
    pub cause: String,
    pub summary: String,
    /// The third party whose product is at fault, when there is one.
    pub vendor: Option<String>,
    /// For biometric hardware faults: whether the warranty conditions are met, as staff
    /// judged it (used when the ticket names no registered device).
    pub under_warranty: Option<bool>,
    /// What the equipment registry says of the device the ticket names.
    pub device: Option<DeviceFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    Covered,
    ThirdParty,
    CustomerAttributable,
    /// The customer wrote outside its contracted period: attended, and billable.
    OutsideContract,
    /// A biometric device out of its warranty (or not registered, or retired): its repair
    /// or replacement is quoted.
    OutOfWarranty,
}

impl Coverage {
    /// The name the scripts and the statistics use.
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Covered => "covered",
            Coverage::ThirdParty => "third_party",
            Coverage::CustomerAttributable => "customer_attributable",
            Coverage::OutsideContract => "outside_contract",
            Coverage::OutOfWarranty => "out_of_warranty",
        }
    }

    /// Whether the rules may bill the work: a fault of the customer's, or support given
    /// outside the contracted period.
    pub fn may_be_billable(self) -> bool {
        matches!(
            self,
            Coverage::CustomerAttributable | Coverage::OutsideContract | Coverage::OutOfWarranty
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Assessment {
    pub coverage: Coverage,
    /// The cause category the rules settled on.
    pub cause: String,
    pub billable: bool,
    /// Biometric hardware replaced at no cost under warranty.
    #[serde(default)]
    pub no_cost_replacement: bool,
    /// Whom to refer the customer to, when not covered.
    #[serde(default)]
    pub refer_to: Option<String>,
    /// Why, in Spanish, for the customer and the staff.
    pub reason: String,
}

/// Billable work to quote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    pub minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct QuoteLine {
    pub description: String,
    pub quantity: i64,
    pub unit_cents: i64,
    pub amount_cents: i64,
}

/// A charge in integer cents; never floating point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Quote {
    pub lines: Vec<QuoteLine>,
    pub subtotal_cents: i64,
    pub iva_cents: i64,
    pub total_cents: i64,
    pub currency: String,
}

/// One milestone's deadline for a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PlannedMilestone {
    pub name: String,
    pub due: String,
    pub due_local: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPlan {
    pub rules_version: RulesVersion,
    pub severity: Severity,
    pub milestones: Vec<PlannedMilestone>,
}
