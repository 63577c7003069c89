//! Staff work on a ticket (the lifecycle decides what is legal) and the customer's answer
//! to the satisfaction survey.

use super::{ChangePlan, Desk, DeskError};
use crate::lifecycle::{self, Action, ActionError, Step};
use crate::model::{Folio, Ticket};
use crate::types::Actor;

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
        let policy = self.policy();
        let now = self.now();
        let changed = self
            .change(&ticket.id, |t, _| {
                let decision = lifecycle::decide(t, action, &policy)?;
                Ok(Some(ChangePlan::from_steps(decision.steps, actor, now)))
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
