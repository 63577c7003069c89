//! Major incidents on the table: one partition `INCIDENTS`, sorted by id (a ULID, so by
//! time): one incident is a GetItem, the list one Query. And outbox items that belong to no
//! ticket (an incident's notices), each written only if new.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use mesa::model::Incident;
use mesa::outbox::OutboxItem;
use mesa::ports::{IncidentStore, StoreError};

use super::{DynamoStore, data, json, key, outbox_item, s, sdk};

const INCIDENTS_PK: &str = "INCIDENTS";

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
    async fn put_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        let mut item = key(INCIDENTS_PK.into(), &incident.id);
        item.insert("kind".into(), s("incident"));
        item.insert("data".into(), s(json(incident)?));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
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
