//! Major incidents: declared by staff, told to every affected customer at once (one notice
//! per contact and phase, never two), updated, resolved with a summary to everyone; new
//! tickets that report one while it is open are linked to it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{ChangePlan, Desk, DeskError};
use crate::intake::FieldErrors;
use crate::model::{
    Audience, CompanyRecord, EventKind, Incident, IncidentUpdate, LINK_BEFORE, Resolution,
    Subscription, Ticket, TicketId,
};
use crate::outbox::{self, MailKind, OutboxItem, OutgoingMail};
use crate::policy::Policy;
use crate::policy::engine::fold;
use crate::ports::{ListFilter, PageRequest};
use crate::types::Actor;
use crate::types::address_key;

/// What staff give to declare an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentDeclaration {
    pub cause: String,
    pub service: String,
    pub actions: String,
    pub estimated_resolution: Option<DateTime<Utc>>,
    pub symptoms: Vec<String>,
    pub audience: Audience,
    /// Tickets known to report it, linked whatever their words (the automatic rule's).
    pub reports: Vec<TicketId>,
}

/// An incident and how many notices its last step queued (new ones; a repeat queues none).
#[derive(Debug, Clone, Serialize)]
pub struct IncidentNotices {
    pub incident: Incident,
    pub notices: usize,
}

impl Desk {
    /// Declares an incident and tells its audience at once.
    #[tracing::instrument(skip(self, d), err(level = "info"))]
    pub async fn declare_incident(
        &self,
        d: IncidentDeclaration,
        declared_by: &str,
    ) -> Result<IncidentNotices, DeskError> {
        let incident = Incident {
            id: TicketId::new().as_str().to_string(),
            declared_at: self.now(),
            declared_by: declared_by.to_string(),
            cause: d.cause.trim().to_string(),
            service: d.service.trim().to_string(),
            actions: d.actions.trim().to_string(),
            estimated_resolution: d.estimated_resolution,
            symptoms: d
                .symptoms
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            audience: d.audience,
            updates: Vec::new(),
            resolved: None,
        };
        let problems = incident.problems();
        if !problems.is_empty() {
            let mut errors = FieldErrors::new();
            errors.insert("incident".into(), problems.join("; "));
            return Err(DeskError::Invalid(errors));
        }
        // The incident first: a notice always has its incident to be composed from. Declared
        // again (a retry after a failure part-way, or the same outage declared at the same
        // moment by staff or by two reports), it is the incident already open, and only the
        // notices not yet written are.
        if let Some(existing) = self.store.declare_incident(&incident).await? {
            // This declaration's reports are that incident's too (linking is idempotent).
            for id in &d.reports {
                self.link_ticket(&existing, id).await?;
            }
            self.link_reports(&existing).await?;
            let notices = self.notify(&existing, "declared").await?;
            return Ok(IncidentNotices {
                incident: existing,
                notices,
            });
        }
        for id in &d.reports {
            self.link_ticket(&incident, id).await?;
        }
        self.link_reports(&incident).await?;
        let notices = self.notify(&incident, "declared").await?;
        tracing::warn!(incident = %incident.id, service = %incident.service, notices, "major incident declared");
        Ok(IncidentNotices { incident, notices })
    }

    /// Tells the incident's audience what changed (and the new estimate, if any).
    pub async fn update_incident(
        &self,
        id: &str,
        text: &str,
        estimated_resolution: Option<DateTime<Utc>>,
    ) -> Result<IncidentNotices, DeskError> {
        let mut incident = self.open_incident(id).await?;
        let text = required("text", text)?;
        // The same update again (a retry): its notices not yet written, not a second one.
        let repeated = incident
            .updates
            .last()
            .is_some_and(|u| u.text == text && u.estimated_resolution == estimated_resolution);
        if !repeated {
            incident.updates.push(IncidentUpdate {
                at: self.now(),
                text,
                estimated_resolution,
            });
            self.store.put_incident(&incident).await?;
        }
        let phase = format!("update{}", incident.updates.len());
        let notices = self.notify(&incident, &phase).await?;
        Ok(IncidentNotices { incident, notices })
    }

    /// Closes the incident with a summary to its whole audience.
    pub async fn resolve_incident(
        &self,
        id: &str,
        summary: &str,
    ) -> Result<IncidentNotices, DeskError> {
        let mut incident = self
            .store
            .incident(id.trim())
            .await?
            .ok_or_else(|| invalid("id", format!("no incident {id}")))?;
        // Resolved already (a retry): the resolution stands; only the notices not yet
        // written are.
        if incident.is_open() {
            incident.resolved = Some(Resolution {
                at: self.now(),
                summary: required("summary", summary)?,
            });
            self.store.put_incident(&incident).await?;
        }
        let notices = self.notify(&incident, "resolved").await?;
        Ok(IncidentNotices { incident, notices })
    }

    async fn open_incident(&self, id: &str) -> Result<Incident, DeskError> {
        let incident = self
            .store
            .incident(id.trim())
            .await?
            .ok_or_else(|| invalid("id", format!("no incident {id}")))?;
        if !incident.is_open() {
            return Err(invalid(
                "id",
                format!("the incident {id} is already resolved"),
            ));
        }
        Ok(incident)
    }

    /// The open incidents (for the status page and for linking new tickets).
    pub async fn open_incidents(&self) -> Result<Vec<Incident>, DeskError> {
        Ok(self
            .store
            .incidents()
            .await?
            .into_iter()
            .filter(Incident::is_open)
            .collect())
    }

    /// One notice per contact address of the audience, written unless already written.
    async fn notify(&self, incident: &Incident, phase: &str) -> Result<usize, DeskError> {
        let incident_id = TicketId::parse(&incident.id)
            .ok_or_else(|| invalid("id", format!("{} is not an incident id", incident.id)))?;
        let now = self.now();
        let mut addresses = std::collections::BTreeSet::new();
        // Whoever reported it is told, subscribed today or not (their acknowledgement said so).
        for t in self.reports_since(incident).await? {
            if t.incident.as_ref().is_some_and(|l| l.id == incident.id) {
                addresses.insert(address_key(&t.customer.email));
            }
        }
        for company in self.store.list_companies().await? {
            let told = self.company_told(&company, incident.audience);
            if told {
                for c in self.store.contacts_of(&company.company).await? {
                    // A whole-domain contact has no address to write to.
                    if !c.email.is_empty() {
                        addresses.insert(address_key(&c.email));
                    }
                }
            }
        }
        let items: Vec<OutboxItem> = addresses
            .iter()
            .map(|to| {
                OutboxItem::new(
                    incident.notice_id(phase, to),
                    incident_id.clone(),
                    MailKind::Incident,
                    to,
                    &self.config.mail_domain,
                    None,
                    phase.to_string(),
                    now,
                )
            })
            .collect();
        // Written in slices, so a very large registry is not one huge write.
        let mut written = 0;
        for chunk in items.chunks(100) {
            written += self.store.enqueue_outbox(chunk).await?;
        }
        Ok(written)
    }

    /// Tickets received from [`LINK_BEFORE`] the incident's declaration on.
    async fn reports_since(&self, incident: &Incident) -> Result<Vec<Ticket>, DeskError> {
        let filter = ListFilter {
            received_from: Some(incident.declared_at - LINK_BEFORE),
            ..ListFilter::default()
        };
        let mut page = PageRequest {
            after: None,
            limit: 200,
        };
        let mut tickets = Vec::new();
        loop {
            let got = self.store.list(&filter, &page).await?;
            tickets.extend(got.items);
            match got.next {
                Some(next) => page.after = Some(next),
                None => return Ok(tickets),
            }
        }
    }

    /// Links the open tickets that reported the incident before it was declared.
    async fn link_reports(&self, incident: &Incident) -> Result<(), DeskError> {
        for t in self.reports_since(incident).await? {
            let text = format!("{}\n{}", t.subject, t.description);
            if !t.stage.is_open() || t.incident.is_some() || !incident.matches(t.received_at, &text)
            {
                continue;
            }
            self.link_ticket(incident, &t.id).await?;
        }
        Ok(())
    }

    /// Links one ticket to the incident, unless it is linked to one already.
    async fn link_ticket(&self, incident: &Incident, id: &TicketId) -> Result<(), DeskError> {
        let now = self.now();
        self.change(id, |current, _| {
            if current.incident.is_some() {
                return Ok(None);
            }
            let kind = EventKind::IncidentLinked {
                incident: incident.link(),
            };
            Ok(Some(ChangePlan::event(Actor::System, now, kind)))
        })
        .await?;
        Ok(())
    }

    /// The automatic rule (`automatic_incident` in `intake.rhai`): called when a
    /// severity-1 ticket is created. If as many registered companies as the rule says
    /// reported a severity-1 problem within its window, and no incident is open, one is
    /// declared (by `rules`), linked to those reports and told to the subscribed customers.
    pub(crate) async fn consider_automatic_incident(
        &self,
        policy: &Policy,
        report: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<Option<IncidentNotices>, DeskError> {
        let rule = &policy.settings().automatic_incident;
        if rule.critical_reports == 0 {
            return Ok(None);
        }
        let open = self.open_incidents().await?;
        if !open.is_empty() {
            // This report's intake found no incident open, but the rule's was declared
            // meanwhile, by a report counted without it: it is handled with that incident.
            let subject = Incident::subject_of(&rule.cause, &rule.service);
            let window = chrono::Duration::minutes(i64::from(rule.within_minutes));
            if let Some(declared) = open.iter().find(|i| i.subject() == subject) {
                if report.verified && declared.declared_at >= report.received_at - window {
                    self.link_ticket(declared, &report.id).await?;
                }
            }
            return Ok(None);
        }
        let filter = ListFilter {
            received_from: Some(now - chrono::Duration::minutes(i64::from(rule.within_minutes))),
            ..ListFilter::default()
        };
        let mut page = PageRequest {
            after: None,
            limit: 200,
        };
        let mut companies = std::collections::BTreeSet::new();
        let mut reports = Vec::new();
        loop {
            let got = self.store.list(&filter, &page).await?;
            for t in got.items {
                // Counted: open critical reports from registered contacts (a stranger's
                // address must not set off mail to every customer), not yet linked to an
                // incident (those of one just resolved do not declare it again).
                if t.severity != crate::ticket::Severity::CRITICAL
                    || !t.stage.is_open()
                    || !t.verified
                    || t.incident.is_some()
                {
                    continue;
                }
                // One company writing three times is one report, not an outage of the service.
                let company = fold(&t.customer.company);
                companies.insert(if company.is_empty() {
                    address_key(&t.customer.email)
                } else {
                    company
                });
                reports.push(t.id);
            }
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        if companies.len() < rule.critical_reports as usize {
            return Ok(None);
        }
        let declared = self
            .declare_incident(
                IncidentDeclaration {
                    cause: rule.cause.clone(),
                    service: rule.service.clone(),
                    actions: rule.actions.clone(),
                    estimated_resolution: None,
                    symptoms: rule.symptoms.clone(),
                    audience: Audience::Subscribed,
                    reports,
                },
                "rules",
            )
            .await?;
        tracing::warn!(incident = %declared.incident.id, companies = companies.len(),
            "major incident declared by the automatic rule");
        Ok(Some(declared))
    }

    /// The notice an outbox item carries, composed from its incident as it is now.
    pub(super) fn compose_notice(
        &self,
        policy: &Policy,
        incident: &Incident,
        item: &OutboxItem,
    ) -> Result<OutgoingMail, DeskError> {
        let settings = policy.settings();
        let phase = if item.body.starts_with("update") {
            "update"
        } else {
            item.body.as_str()
        };
        let update = item
            .body
            .strip_prefix("update")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| incident.updates.get(n.wrapping_sub(1)))
            .map(|u| u.text.clone())
            .unwrap_or_default();
        let context = json!({
            "phase": phase,
            "incident": {
                "cause": incident.cause,
                "service": incident.service,
                "actions": incident.actions,
                "eta_local": incident.current_estimate().map(|t| outbox::human_time(policy, t)).unwrap_or_default(),
            },
            "update": update,
            "summary": incident.resolved.as_ref().map(|r| r.summary.clone()).unwrap_or_default(),
            "company_name": settings.company_name,
            "status_url": format!("{}/estado", self.config.public_url),
        });
        let rendered = policy.render_mail("incident.txt", &context)?;
        Ok(OutgoingMail {
            outbox_id: item.id.clone(),
            message_id: item.message_id.clone(),
            from_name: outbox::header_text(&format!("Soporte {}", settings.company_name), 100),
            from_address: settings.support_address.clone(),
            to: item.to.clone(),
            subject: outbox::header_text(&rendered.subject, 250),
            text: rendered.body,
            in_reply_to: None,
            references: Vec::new(),
            auto_replied: false,
        })
    }

    /// The open incident a new report is about, if any (the first declared that matches).
    pub(super) async fn incident_of(
        &self,
        sent_at: DateTime<Utc>,
        subject: &str,
        description: &str,
    ) -> Result<Option<Incident>, DeskError> {
        let text = format!("{subject}\n{description}");
        let mut open = self.open_incidents().await?;
        open.sort_by_key(|i| i.declared_at);
        Ok(open.into_iter().find(|i| i.matches(sent_at, &text)))
    }

    /// Whether `company` is told of an incident for `audience` today.
    fn company_told(&self, company: &CompanyRecord, audience: Audience) -> bool {
        let today = self.policy().calendar().local(self.now()).date_naive();
        audience == Audience::Everyone
            || matches!(
                company.subscription_on(today),
                Subscription::Active { .. } | Subscription::NoPeriodsOnRecord { .. }
            )
    }
}

fn invalid(field: &str, message: String) -> DeskError {
    let mut errors = FieldErrors::new();
    errors.insert(field.into(), message);
    DeskError::Invalid(errors)
}

fn required(field: &str, value: &str) -> Result<String, DeskError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(field, "must not be empty".into()));
    }
    Ok(v.to_string())
}
