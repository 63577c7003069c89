//! Major incidents on the table: one partition `INCIDENTS`, sorted by id (a ULID, so by
//! time): one incident is a GetItem, the list one Query. Each subject an incident was
//! declared for has a claim in `INCIDENT_SUBJECTS` naming its latest incident, so that one
//! outage declared twice at once is one incident. And outbox items that belong to no ticket
//! (an incident's notices), each written only if new.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use mesa::model::Incident;
use mesa::outbox::OutboxItem;
use mesa::ports::{IncidentStore, StoreError};

use super::{
    DynamoStore, Item, TxOutcome, backend_msg, cancelled, data, json, key, outbox_item, s, sdk,
};

const INCIDENTS_PK: &str = "INCIDENTS";
const SUBJECTS_PK: &str = "INCIDENT_SUBJECTS";

/// How many times a declaration looks again when it met another declaration's transaction
/// on the subject's claim, or the claim changed hands between its write and its read.
const CLAIM_ATTEMPTS: usize = 6;

fn incident_item(incident: &Incident) -> Result<Item, StoreError> {
    let mut item = key(INCIDENTS_PK.into(), &incident.id);
    item.insert("kind".into(), s("incident"));
    item.insert("data".into(), s(json(incident)?));
    Ok(item)
}

impl DynamoStore {
    /// Each item unless one with its id exists (a conditional put each: a transaction
    /// would be cancelled whole by one item written before a crash). How many were new.
    pub(super) async fn enqueue(&self, items: &[OutboxItem]) -> Result<usize, StoreError> {
        let mut written = 0;
        for o in items {
            match self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(outbox_item(o)?))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
            {
                Ok(_) => written += 1,
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() => {}
                Err(e) => return Err(sdk("PutItem")(e)),
            }
        }
        Ok(written)
    }
}

#[async_trait]
impl IncidentStore for DynamoStore {
    /// The incident and its subject's claim in one transaction, on condition that the
    /// subject has no claim or that its claim names an incident no longer open (resolving
    /// leaves the claim; the next declaration of that subject takes it over).
    async fn declare_incident(&self, incident: &Incident) -> Result<Option<Incident>, StoreError> {
        let subject = incident.subject_key();
        let mut stale_holder: Option<String> = None;
        for _ in 0..CLAIM_ATTEMPTS {
            let mut claim = key(SUBJECTS_PK.into(), &subject);
            claim.insert("kind".into(), s("incident_subject"));
            claim.insert("incident_id".into(), s(&incident.id));
            let claim = Put::builder()
                .table_name(&self.table)
                .set_item(Some(claim))
                .expression_attribute_names("#i", "incident_id");
            let claim = match &stale_holder {
                None => claim.condition_expression("attribute_not_exists(#i)"),
                Some(holder) => claim
                    .condition_expression("#i = :holder")
                    .expression_attribute_values(":holder", s(holder)),
            }
            .build()
            .map_err(|e| backend_msg("building a put", e))?;
            let writes = vec![
                TransactWriteItem::builder().put(claim).build(),
                self.put(incident_item(incident)?, None)?,
            ];
            match self.transact(writes).await? {
                TxOutcome::Done => return Ok(None),
                TxOutcome::Cancelled(reasons)
                    if reasons.first().map(String::as_str) == Some("ConditionalCheckFailed") =>
                {
                    let holder = self
                        .get_item(SUBJECTS_PK.into(), &subject)
                        .await?
                        .and_then(|claim| claim.get("incident_id")?.as_s().ok().cloned());
                    let Some(holder) = holder else {
                        stale_holder = None;
                        continue;
                    };
                    // Our own write, committed on an earlier try whose answer was lost.
                    if holder == incident.id {
                        return Ok(None);
                    }
                    match self.incident(&holder).await? {
                        Some(open) if open.is_open() => return Ok(Some(open)),
                        _ => stale_holder = Some(holder),
                    }
                }
                // Another declaration's transaction on the claim at this very moment: look
                // again, and find its incident or the claim free.
                TxOutcome::Cancelled(reasons)
                    if reasons.iter().any(|r| r == "TransactionConflict") =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                TxOutcome::Cancelled(reasons) => {
                    return Err(cancelled("declaring an incident", &reasons));
                }
            }
        }
        Err(StoreError::busy(std::io::Error::other(format!(
            "the claim on incident subject {subject} changed hands {CLAIM_ATTEMPTS} times"
        ))))
    }

    async fn put_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(incident_item(incident)?))
            .send()
            .await
            .map_err(sdk("PutItem"))?;
        Ok(())
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        self.get_item(INCIDENTS_PK.into(), id)
            .await?
            .map(|i| data(&i))
            .transpose()
    }

    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let (items, _) = self
            .query_all(
                None,
                "pk = :p",
                vec![(":p", s(INCIDENTS_PK))],
                false,
                usize::MAX,
            )
            .await?;
        items.iter().map(data).collect()
    }
}
