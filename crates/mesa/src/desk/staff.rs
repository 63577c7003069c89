//! Staff work on a ticket (the lifecycle decides what is legal) and the customer's answer
//! to the satisfaction survey.

use super::{ChangePlan, Desk, DeskError};
use crate::lifecycle::{self, Action, ActionError, Lookups, Step};
use crate::model::{DeviceFacts, Equipment, Folio, StaffMember, Subscription, Ticket};
use crate::types::{Actor, address_key};

impl Desk {
    pub async fn ticket_by_folio(&self, folio: &str) -> Result<Ticket, DeskError> {
        let f = Folio::parse(folio).ok_or_else(|| DeskError::UnknownFolio(folio.to_string()))?;
        self.store
            .get_by_folio(&f)
            .await?
            .ok_or_else(|| DeskError::UnknownFolio(folio.to_string()))
    }

    /// Performs a staff action on the ticket with `folio`, recorded as done by `actor`.
    #[tracing::instrument(skip(self, action), fields(action = action.name()), err(level = "info"))]
    pub async fn act(
        &self,
        folio: &str,
        actor: &Actor,
        action: &Action,
    ) -> Result<Ticket, DeskError> {
        let ticket = self.ticket_by_folio(folio).await?;
        if let Action::Assign { to: Some(to) } = action {
            self.assignable(to).await?;
        }
        let policy = self.policy();
        let lookups = self.lookups(&ticket, action).await?;
        let now = self.now();
        let changed = self
            .change(&ticket.id, |t, _| {
                let decision = lifecycle::decide_with(t, action, &policy, &lookups)?;
                Ok(Some(ChangePlan::from_steps(decision.steps, actor, now)))
            })
            .await?;
        Ok(changed.ticket)
    }

    /// What the registries say for `action`: for a diagnosis, the equipment registry's
    /// standing of the device the diagnosis or the ticket names, on the day the customer
    /// reported it, for the ticket's company.
    async fn lookups(&self, ticket: &Ticket, action: &Action) -> Result<Lookups, DeskError> {
        let Action::Diagnose { serial, .. } = action else {
            return Ok(Lookups::default());
        };
        let serial = serial
            .as_deref()
            .map(Equipment::key_of)
            .filter(|s| !s.is_empty())
            .or_else(|| ticket.device_serial.clone());
        let Some(serial) = serial else {
            return Ok(Lookups::default());
        };
        // The registry's name of the company when the sender is a registered contact.
        let company = match &ticket.subscription {
            Some(
                Subscription::Active { company, .. }
                | Subscription::OutsidePeriod { company, .. }
                | Subscription::NoPeriodsOnRecord { company },
            ) => Some(company.as_str()),
            _ => None,
        };
        let day = self
            .policy()
            .calendar()
            .local(ticket.received_at)
            .date_naive();
        let device = match self.store.equipment(&serial).await? {
            Some(e) => e.facts_on(day, company),
            None => DeviceFacts::not_registered(&serial),
        };
        Ok(Lookups {
            device: Some(device),
        })
    }

    /// A ticket can be given only to an active staff account.
    async fn assignable(&self, to: &str) -> Result<(), DeskError> {
        match self.store.staff(to).await? {
            Some(m) if m.active => Ok(()),
            _ => Err(DeskError::Action(ActionError::Invalid {
                field: "to",
                message: format!("no active staff account {}", to.trim()),
            })),
        }
    }

    /// A staff action from the workspace, by the signed-in `member` who was looking at the
    /// ticket as of `seen_version`. If someone else (a colleague or the customer) changed it
    /// since, nothing is done and [`DeskError::ChangedSince`] says so; the sweep's warnings
    /// and the mail transport's reports do not count. Only a lead gives a ticket to someone
    /// else or takes it from someone else.
    pub async fn act_seen(
        &self,
        folio: &str,
        member: &StaffMember,
        action: &Action,
        seen_version: u64,
    ) -> Result<Ticket, DeskError> {
        let ticket = self.ticket_by_folio(folio).await?;
        if let Action::Assign { to: Some(to) } = action {
            self.assignable(to).await?;
        }
        let me = member.actor();
        let policy = self.policy();
        let lookups = self.lookups(&ticket, action).await?;
        let now = self.now();
        // Both checks run on the ticket as it is when written: after a conflict, on what
        // the other writer left.
        let changed = self
            .change(&ticket.id, |t, events| {
                let someone_else = events.iter().any(|e| {
                    e.seq > seen_version
                        && e.actor != me
                        && matches!(e.actor, Actor::Staff(_) | Actor::Customer)
                });
                if someone_else {
                    return Err(DeskError::ChangedSince(folio.to_string()));
                }
                may_assign(member, t, action)?;
                let decision = lifecycle::decide_with(t, action, &policy, &lookups)?;
                Ok(Some(ChangePlan::from_steps(decision.steps, &me, now)))
            })
            .await?;
        Ok(changed.ticket)
    }

    /// The customer's answer to the satisfaction survey.
    #[tracing::instrument(skip_all, err(level = "info"))]
    pub async fn record_satisfaction(
        &self,
        token: &str,
        satisfied: bool,
        comment: &str,
    ) -> Result<Ticket, DeskError> {
        let (id, closing) = self.signer.verify_survey(token)?;
        let now = self.now();
        let changed = self
            .change(&id, |t, _| {
                let steps = lifecycle::satisfaction(t, closing, satisfied, comment)?
                    .into_iter()
                    .map(Step::event)
                    .collect();
                Ok(Some(ChangePlan::from_steps(steps, &Actor::Customer, now)))
            })
            .await?;
        Ok(changed.ticket)
    }

    /// The ticket a survey token belongs to, and whether that survey can still be
    /// answered (why not, when it cannot).
    pub async fn survey(
        &self,
        token: &str,
    ) -> Result<(Ticket, Result<(), ActionError>), DeskError> {
        let (id, closing) = self.signer.verify_survey(token)?;
        let ticket = self
            .store
            .get(&id)
            .await?
            .ok_or_else(|| DeskError::UnknownFolio(id.to_string()))?;
        let open = lifecycle::survey_open(&ticket, closing);
        Ok((ticket, open))
    }
}

/// Only a lead gives a ticket to someone else or takes it from someone else; anyone takes
/// a free ticket or their own, or lets go of their own.
pub fn may_assign(member: &StaffMember, ticket: &Ticket, action: &Action) -> Result<(), DeskError> {
    let Action::Assign { to } = action else {
        return Ok(());
    };
    let to = to.as_deref().map(address_key).filter(|t| !t.is_empty());
    let mine_or_free =
        ticket.owner.is_none() || ticket.owner.as_deref() == Some(member.email.as_str());
    let to_me_or_nobody = to.is_none() || to.as_deref() == Some(member.email.as_str());
    if member.is_lead() || (mine_or_free && to_me_or_nobody) {
        Ok(())
    } else {
        Err(DeskError::Action(ActionError::Invalid {
            field: "to",
            message: "solo un líder da un ticket a otra persona o se lo quita a quien lo tiene"
                .into(),
        }))
    }
}
