//! The registry of subscribed customers: importing companies (contract periods, own terms)
//! and their contacts, all checked before anything is written, and a company's page.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Desk, DeskError};
use crate::Severity;
use crate::intake::FieldErrors;
use crate::model::{
    CompanyRecord, ContractPeriod, CustomerRecord, Equipment, Ticket, is_public_mail_domain,
};
use crate::outbox::valid_address;
use crate::ports::{ListFilter, PageRequest};
use crate::ticket::TicketFacts;

/// A company as an import file gives it. `None` keeps what the registry has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyImport {
    pub company: String,
    pub periods: Option<Vec<ContractPeriod>>,
    pub terms: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One import: companies and contacts, each with the place in the file it came from (for
/// the errors, e.g. "line 4" or "companies[2]").
#[derive(Debug, Clone, Default)]
pub struct RegistryImport {
    pub companies: Vec<(String, CompanyImport)>,
    pub contacts: Vec<(String, CustomerRecord)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Contacts written.
    pub imported: usize,
    /// Companies written (new, or their periods or terms changed).
    pub companies: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EquipmentImportSummary {
    /// Devices written (new or changed).
    pub imported: usize,
    /// Companies the file names that the registry of customers does not have yet (the
    /// devices are imported; their tickets find them by serial).
    pub unknown_companies: Vec<String>,
}

/// A company's page: its record, contacts, equipment and most recent tickets.
#[derive(Debug, Clone, Serialize)]
pub struct CompanyPage {
    pub company: CompanyRecord,
    pub contacts: Vec<CustomerRecord>,
    pub equipment: Vec<Equipment>,
    /// Its tickets, newest first (at most [`Desk::company_page`]'s limit).
    pub tickets: Vec<Ticket>,
}

/// The contact as stored (lower-case address or domain, trimmed text), or why not.
fn checked_contact(c: &CustomerRecord) -> Result<CustomerRecord, String> {
    let email = c.email.trim().to_ascii_lowercase();
    let domain = c.domain.trim().trim_start_matches('@').to_ascii_lowercase();
    if c.company.trim().is_empty() {
        return Err("company is empty".into());
    }
    if email.is_empty() == domain.is_empty() {
        return Err("give either an email or a domain".into());
    }
    if !email.is_empty() && !valid_address(&email) {
        return Err(format!("{email:?} is not an e-mail address"));
    }
    if !domain.is_empty() && (!domain.contains('.') || domain.contains('@') || domain.contains(' '))
    {
        return Err(format!("{domain:?} is not a mail domain"));
    }
    if !domain.is_empty() && is_public_mail_domain(&domain) {
        return Err(format!(
            "{domain} is a public mail domain; register the contact's address instead"
        ));
    }
    Ok(CustomerRecord {
        company: c.company.split_whitespace().collect::<Vec<_>>().join(" "),
        email,
        domain,
        contact_name: c.contact_name.trim().to_string(),
        phone: c.phone.trim().to_string(),
    })
}

impl Desk {
    /// Imports companies and contacts. Every row is checked first — addresses, periods, and
    /// each company's terms against the live rules (its deadlines are planned for every
    /// severity, so terms the scripts cannot read are refused here, not when a customer
    /// writes) — and one bad row means nothing is written.
    pub async fn import_registry(
        &self,
        import: RegistryImport,
    ) -> Result<ImportSummary, DeskError> {
        let policy = self.policy();
        let mut problems = FieldErrors::new();
        let mut contacts = Vec::new();
        for (place, c) in &import.contacts {
            match checked_contact(c) {
                Ok(c) => contacts.push(c),
                Err(e) => {
                    problems.insert(place.clone(), e);
                }
            }
        }
        // A company named by contacts only is registered too (without periods), so it has
        // a page; one named twice in the file is merged, the later entry winning.
        let mut companies: BTreeMap<String, CompanyImport> = BTreeMap::new();
        for c in &contacts {
            companies
                .entry(CompanyRecord::key_of(&c.company))
                .or_insert_with(|| CompanyImport {
                    company: c.company.clone(),
                    ..CompanyImport::default()
                });
        }
        let mut places = BTreeMap::new();
        for (place, c) in import.companies {
            let key = CompanyRecord::key_of(&c.company);
            places.insert(key.clone(), place);
            let entry = companies.entry(key).or_default();
            entry.company = c.company.split_whitespace().collect::<Vec<_>>().join(" ");
            if c.periods.is_some() {
                entry.periods = c.periods;
            }
            if c.terms.is_some() {
                entry.terms = c.terms;
            }
        }
        let now = self.now();
        let mut records = Vec::new();
        for (key, c) in companies {
            let place = places
                .get(&key)
                .cloned()
                .unwrap_or_else(|| c.company.clone());
            let existing = self.store.company(&c.company).await?;
            let record = CompanyRecord {
                company: c.company.clone(),
                periods: c
                    .periods
                    .or_else(|| existing.as_ref().map(|e| e.periods.clone()))
                    .unwrap_or_default(),
                terms: c
                    .terms
                    .or_else(|| existing.as_ref().map(|e| e.terms.clone()))
                    .unwrap_or_default(),
            };
            let mut found = record.problems();
            if let Err(e) = terms_work(&policy, &record.terms, now) {
                found.push(format!("the rules cannot plan with these terms: {e}"));
            }
            if !found.is_empty() {
                problems.insert(place, found.join("; "));
            } else if existing.as_ref() != Some(&record) {
                records.push(record);
            }
        }
        if !problems.is_empty() {
            return Err(DeskError::Invalid(problems));
        }
        for r in &records {
            self.store.upsert_company(r).await?;
        }
        for c in &contacts {
            self.store.upsert_customer(c).await?;
        }
        Ok(ImportSummary {
            imported: contacts.len(),
            companies: records.len(),
        })
    }

    /// Imports devices into the equipment registry: every one is checked first (serial,
    /// model, company, dates; a serial twice in the file), and one bad row means nothing is
    /// written. A device already registered is written over (its company, site, warranty
    /// or status may change).
    pub async fn import_equipment(
        &self,
        devices: Vec<(String, Equipment)>,
    ) -> Result<EquipmentImportSummary, DeskError> {
        let mut problems = FieldErrors::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut checked = Vec::new();
        for (place, mut e) in devices {
            e.serial = e.key();
            e.model = e.model.trim().to_string();
            e.company = e.company.split_whitespace().collect::<Vec<_>>().join(" ");
            e.site = e.site.trim().to_string();
            let mut found = e.problems();
            if let Some(first) = seen.insert(e.serial.clone(), place.clone()) {
                found.push(format!("serial {} is also in {first}", e.serial));
            }
            if found.is_empty() {
                checked.push(e);
            } else {
                problems.insert(place, found.join("; "));
            }
        }
        if !problems.is_empty() {
            return Err(DeskError::Invalid(problems));
        }
        let mut unknown = Vec::new();
        let mut imported = 0;
        for e in &checked {
            if self.store.equipment(&e.serial).await?.as_ref() != Some(e) {
                self.store.upsert_equipment(e).await?;
                imported += 1;
            }
            let known = self.store.company(&e.company).await?.is_some()
                || !self.store.contacts_of(&e.company).await?.is_empty();
            if !known && !unknown.contains(&e.company) {
                unknown.push(e.company.clone());
            }
        }
        Ok(EquipmentImportSummary {
            imported,
            unknown_companies: unknown,
        })
    }

    /// A company's page: its periods and terms, its contacts, and its latest `limit`
    /// tickets (found by its name or its contacts' addresses and domains).
    pub async fn company_page(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Option<CompanyPage>, DeskError> {
        // A company known only by its contacts (registered before periods were kept) is
        // shown without periods.
        let (company, contacts) = match self.store.company(name).await? {
            Some(company) => {
                let contacts = self.store.contacts_of(&company.company).await?;
                (company, contacts)
            }
            None => {
                let contacts = self.store.contacts_of(name).await?;
                let Some(first) = contacts.first() else {
                    return Ok(None);
                };
                let company = CompanyRecord {
                    company: first.company.clone(),
                    ..CompanyRecord::default()
                };
                (company, contacts)
            }
        };
        let key = company.key();
        let belongs = |t: &Ticket| {
            CompanyRecord::key_of(&t.customer.company) == key
                || contacts.iter().any(|c| {
                    if c.email.is_empty() {
                        crate::model::domain_of(&t.customer.email.to_ascii_lowercase())
                            == Some(c.domain.as_str())
                    } else {
                        t.customer.email.eq_ignore_ascii_case(&c.email)
                    }
                })
        };
        // Newest first, a page at a time, until `limit` of its tickets are found; the
        // listing has no index by company, so a registry page costs a walk of the
        // listing (bounded: a help desk's tickets, not a data warehouse's).
        let mut tickets = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: 200,
        };
        loop {
            let got = self.store.list(&ListFilter::default(), &page).await?;
            tickets.extend(got.items.into_iter().filter(|t| belongs(t)));
            match got.next {
                Some(next) if tickets.len() < limit => page.after = Some(next),
                _ => break,
            }
        }
        tickets.truncate(limit);
        let equipment = self.store.equipment_of(&company.company).await?;
        Ok(Some(CompanyPage {
            company,
            contacts,
            equipment,
            tickets,
        }))
    }
}

/// Whether the rules can plan a ticket's deadlines under `terms`, for every severity.
fn terms_work(
    policy: &crate::policy::Policy,
    terms: &serde_json::Map<String, serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<(), DeskError> {
    for severity in Severity::ALL {
        let facts = TicketFacts {
            received_at: Some(now),
            severity: Some(severity),
            subscription: "active".into(),
            terms: terms.clone(),
            ..TicketFacts::default()
        };
        policy.plan(&facts, now, severity)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(email: &str, domain: &str) -> CustomerRecord {
        CustomerRecord {
            company: "  Bajío   S.A. ".into(),
            email: email.into(),
            domain: domain.into(),
            contact_name: " Ana ".into(),
            phone: String::new(),
        }
    }

    #[test]
    fn contacts_are_normalized_or_refused_with_a_reason() {
        let c = checked_contact(&contact(" ANA@Bajio.com.mx ", "")).unwrap();
        assert_eq!(
            (c.email.as_str(), c.company.as_str()),
            ("ana@bajio.com.mx", "Bajío S.A.")
        );
        let d = checked_contact(&contact("", "@Bajio.com.mx")).unwrap();
        assert_eq!(d.domain, "bajio.com.mx");
        assert!(
            checked_contact(&contact("a@b.mx", "b.mx"))
                .unwrap_err()
                .contains("either")
        );
        assert!(
            checked_contact(&contact("", "gmail.com"))
                .unwrap_err()
                .contains("public")
        );
        assert!(
            checked_contact(&contact("no-at", ""))
                .unwrap_err()
                .contains("not an e-mail")
        );
    }
}
