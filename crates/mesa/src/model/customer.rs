//! The registry of subscribed customers: companies with their contract periods and their own
//! terms, and the contacts (addresses or a whole mail domain) that speak for them.
//!
//! The contract is with subscribed customers "durante el periodo contratado": every ticket
//! records, when it is opened, whether its sender was a contact of a company with a period
//! covering that day ([`Subscription`]). Nothing is refused for it; the acknowledgement and
//! the coverage rules take it into account.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::types::address_key;

/// A row of the registry of contacts: an address, or a whole mail domain, of a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    pub company: String,
    /// A contact's address, or empty when the whole domain is registered.
    pub email: String,
    /// The company's mail domain (lower case), or empty.
    pub domain: String,
    pub contact_name: String,
    pub phone: String,
}

/// One contracted period of support, both days included, in the desk's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ContractPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// The plan contracted (as sales names it, e.g. "Nube 50 empleados").
    #[serde(default)]
    pub plan: String,
}

impl ContractPeriod {
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }
}

/// A customer company: its contract periods and the terms it has agreed apart from the
/// standard contract. `terms` is rules data: the scripts read it as `ticket.terms` (for
/// example `response_hours` or `calendar: "24x7"` in `severity.rhai`), and each ticket keeps
/// the terms it was opened under, as it keeps its rules version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompanyRecord {
    pub company: String,
    #[serde(default)]
    pub periods: Vec<ContractPeriod>,
    #[serde(default)]
    pub terms: serde_json::Map<String, serde_json::Value>,
}

impl CompanyRecord {
    /// The key a company is stored and found under: its name, trimmed, in lower case, with
    /// runs of spaces as one (so "Bajío  S.A." and "bajío s.a." are one company).
    pub fn key_of(company: &str) -> String {
        company
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }

    pub fn key(&self) -> String {
        Self::key_of(&self.company)
    }

    /// Periods that overlap or end before they start: one contract cannot be read two ways.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.company.trim().is_empty() {
            problems.push("company is empty".to_string());
        }
        for p in &self.periods {
            if p.end < p.start {
                problems.push(format!(
                    "the period {} – {} ends before it starts",
                    p.start, p.end
                ));
            }
        }
        let mut sorted: Vec<&ContractPeriod> = self.periods.iter().collect();
        sorted.sort_by_key(|p| p.start);
        for pair in sorted.windows(2) {
            if pair[1].start <= pair[0].end {
                problems.push(format!(
                    "the periods {} – {} and {} – {} overlap",
                    pair[0].start, pair[0].end, pair[1].start, pair[1].end
                ));
            }
        }
        problems
    }

    /// Whether a contact of this company writing on `day` is within a contracted period.
    pub fn subscription_on(&self, day: NaiveDate) -> Subscription {
        if self.periods.is_empty() {
            return Subscription::NoPeriodsOnRecord {
                company: self.company.clone(),
            };
        }
        if let Some(p) = self.periods.iter().find(|p| p.covers(day)) {
            return Subscription::Active {
                company: self.company.clone(),
                plan: p.plan.clone(),
                until: p.end,
            };
        }
        Subscription::OutsidePeriod {
            company: self.company.clone(),
            ended: self
                .periods
                .iter()
                .map(|p| p.end)
                .filter(|e| *e < day)
                .max(),
            starts: self
                .periods
                .iter()
                .map(|p| p.start)
                .filter(|s| *s > day)
                .min(),
        }
    }
}

/// Whether a ticket's sender was a subscribed contact within a contracted period on the day
/// the ticket was sent: recorded when the ticket is opened and never recomputed, so a later
/// change to the registry does not rewrite what the acknowledgement said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Subscription {
    /// A contact of a company with a period covering the day.
    Active {
        company: String,
        plan: String,
        /// The last day of the period.
        until: NaiveDate,
    },
    /// A contact of a company none of whose periods covers the day.
    OutsidePeriod {
        company: String,
        /// The last day of the latest period that ended before.
        ended: Option<NaiveDate>,
        /// The first day of the next period, when one is contracted.
        starts: Option<NaiveDate>,
    },
    /// A contact of a company registered without periods (registered before mesa kept
    /// them): taken as subscribed.
    NoPeriodsOnRecord { company: String },
    /// The sender is not a registered contact.
    Unregistered,
}

impl Subscription {
    /// The status as the scripts see it (`ticket.subscription`).
    pub fn status(&self) -> &'static str {
        match self {
            Subscription::Active { .. } => "active",
            Subscription::OutsidePeriod { .. } => "outside_period",
            Subscription::NoPeriodsOnRecord { .. } => "no_periods_on_record",
            Subscription::Unregistered => "unregistered",
        }
    }

    /// Whether the contract's support applies (a subscribed contact within a period).
    pub fn in_contract(&self) -> bool {
        matches!(
            self,
            Subscription::Active { .. } | Subscription::NoPeriodsOnRecord { .. }
        )
    }

    /// As staff read it.
    pub fn label(&self) -> String {
        match self {
            Subscription::Active { plan, until, .. } if plan.is_empty() => {
                format!("Vigente hasta el {}", until.format("%d/%m/%Y"))
            }
            Subscription::Active { plan, until, .. } => {
                format!("Vigente ({plan}) hasta el {}", until.format("%d/%m/%Y"))
            }
            Subscription::OutsidePeriod { ended, starts, .. } => match (ended, starts) {
                (_, Some(s)) => format!(
                    "Fuera del periodo contratado (el siguiente inicia el {})",
                    s.format("%d/%m/%Y")
                ),
                (Some(e), None) => format!(
                    "Fuera del periodo contratado (terminó el {})",
                    e.format("%d/%m/%Y")
                ),
                (None, None) => "Fuera del periodo contratado".to_string(),
            },
            Subscription::NoPeriodsOnRecord { .. } => {
                "Cliente registrado (sin periodos en el registro)".to_string()
            }
            Subscription::Unregistered => "Remitente no registrado".to_string(),
        }
    }
}

/// A contact's address or domain as the registry keys it.
pub fn contact_key(record: &CustomerRecord) -> String {
    if record.email.is_empty() {
        format!("@{}", address_key(&record.domain))
    } else {
        address_key(&record.email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn company(periods: &[(&str, &str)]) -> CompanyRecord {
        CompanyRecord {
            company: "Comercializadora del Bajío".into(),
            periods: periods
                .iter()
                .map(|(s, e)| ContractPeriod {
                    start: day(s),
                    end: day(e),
                    plan: "Nube".into(),
                })
                .collect(),
            terms: Default::default(),
        }
    }

    #[test]
    fn both_ends_of_a_period_are_inside_it() {
        let c = company(&[("2026-01-01", "2026-12-31")]);
        assert!(c.subscription_on(day("2026-01-01")).in_contract());
        assert!(c.subscription_on(day("2026-12-31")).in_contract());
        assert_eq!(
            c.subscription_on(day("2027-01-01")),
            Subscription::OutsidePeriod {
                company: c.company.clone(),
                ended: Some(day("2026-12-31")),
                starts: None
            }
        );
    }

    #[test]
    fn a_gap_between_periods_names_both_sides() {
        let c = company(&[("2025-01-01", "2025-12-31"), ("2026-03-01", "2027-02-28")]);
        let s = c.subscription_on(day("2026-02-10"));
        assert_eq!(s.status(), "outside_period");
        assert_eq!(
            s,
            Subscription::OutsidePeriod {
                company: c.company.clone(),
                ended: Some(day("2025-12-31")),
                starts: Some(day("2026-03-01"))
            }
        );
        assert!(s.label().contains("01/03/2026"), "{}", s.label());
    }

    #[test]
    fn overlapping_or_backwards_periods_are_refused() {
        let c = company(&[("2026-01-01", "2026-06-30"), ("2026-06-30", "2026-12-31")]);
        assert_eq!(c.problems().len(), 1, "{:?}", c.problems());
        let c = company(&[("2026-02-01", "2026-01-01")]);
        assert!(c.problems()[0].contains("ends before it starts"));
    }

    #[test]
    fn a_company_without_periods_is_taken_as_subscribed() {
        assert!(
            company(&[])
                .subscription_on(day("2026-01-01"))
                .in_contract()
        );
    }

    #[test]
    fn company_keys_ignore_case_and_spacing() {
        assert_eq!(
            CompanyRecord::key_of("  Comercializadora   del BAJÍO "),
            "comercializadora del bajío"
        );
    }
}
