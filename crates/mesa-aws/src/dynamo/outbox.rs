//! The outbox on the table: items `OUTBOX#<id>`, the sparse `pending` index the sender
//! claims from (sharded, in not-before order), and the per-address acknowledgement index
//! that caps acknowledgements (DESIGN.md §6; the item layout is in the parent module).

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{Delete, Select, TransactWriteItem};
use chrono::{DateTime, Duration, Utc};
use mesa::outbox::{MailKind, OutboxItem, OutboxStatus};
use mesa::ports::{OutboxStore, StoreError};
use mesa::types::address_key;

use super::{
    DynamoStore, PENDING_SHARDS, TxOutcome, ack_index_key, backend_msg, cancelled, data,
    outbox_item, s, sdk, ts,
};

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let upto = format!("{}#~", ts(now));
        let mut claimed = Vec::new();
        for shard in 0..PENDING_SHARDS {
            if claimed.len() >= limit {
                break;
            }
            let (items, _) = self
                .query_all(
                    Some("pending"),
                    "pending_pk = :p AND pending_sk <= :t",
                    vec![
                        (":p", s(format!("PENDING#{shard}"))),
                        (":t", s(upto.clone())),
                    ],
                    true,
                    limit - claimed.len(),
                )
                .await?;
            for i in items {
                let mut item: OutboxItem = data(&i)?;
                let old_not_before = ts(item.not_before);
                item.claim(now, lease);
                // Only one worker wins the lease: the item must still be as we read it.
                let won = match self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(outbox_item(&item)?))
                    .condition_expression("#s = :pending AND not_before = :nb")
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":pending", s("pending"))
                    .expression_attribute_values(":nb", s(old_not_before))
                    .send()
                    .await
                {
                    Ok(_) => true,
                    Err(SdkError::ServiceError(e))
                        if e.err().is_conditional_check_failed_exception() =>
                    {
                        false
                    }
                    Err(e) => return Err(sdk("PutItem")(e)),
                };
                if won {
                    claimed.push(item);
                }
            }
        }
        Ok(claimed)
    }

    async fn save_outbox(&self, item: &OutboxItem) -> Result<(), StoreError> {
        // Only over an item that exists, said by the write's condition rather than by a
        // read before it: one request instead of two, and a put's write units instead of
        // a transaction's (twice as many) for every mail (bench/aws_cost.py).
        const EXISTS: &str = "attribute_exists(pk)";
        let not_found = || StoreError::NotFound(item.id.clone());
        // Mail given up on no longer counts against the address's acknowledgement cap.
        if item.status == OutboxStatus::Skipped && item.kind == MailKind::Ack {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(ack_index_key(item)))
                .build()
                .map_err(|e| backend_msg("building a delete", e))?;
            let items = vec![
                self.put(outbox_item(item)?, Some(EXISTS))?,
                TransactWriteItem::builder().delete(delete).build(),
            ];
            return match self.transact(items).await? {
                TxOutcome::Done => Ok(()),
                TxOutcome::Cancelled(r)
                    if r.first().map(String::as_str) == Some("ConditionalCheckFailed") =>
                {
                    Err(not_found())
                }
                TxOutcome::Cancelled(r) => Err(cancelled("saving an outbox item", &r)),
            };
        }
        // One item: a conditional put, at half a transaction's write units.
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(outbox_item(item)?))
            .condition_expression(EXISTS)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(not_found())
            }
            Err(e) => Err(sdk("PutItem")(e)),
        }
    }

    async fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.read_outbox(id).await
    }

    async fn pending_outbox_before(&self, t: DateTime<Utc>) -> Result<Vec<OutboxItem>, StoreError> {
        // Pending items are few (the index is sparse); filter on creation time here.
        let mut out = Vec::new();
        for shard in 0..PENDING_SHARDS {
            let (items, _) = self
                .query_all(
                    Some("pending"),
                    "pending_pk = :p",
                    vec![(":p", s(format!("PENDING#{shard}")))],
                    true,
                    usize::MAX,
                )
                .await?;
            for i in items {
                let item: OutboxItem = data(&i)?;
                if item.created_at <= t && item.status == OutboxStatus::Pending {
                    out.push(item);
                }
            }
        }
        out.sort_by_key(|i| i.created_at);
        Ok(out)
    }

    async fn acks_to_since(&self, to: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND sk >= :s")
            .expression_attribute_values(":p", s(format!("ACKS#{}", address_key(to))))
            .expression_attribute_values(":s", s(ts(since)))
            .select(Select::Count)
            .send()
            .await
            .map_err(sdk("Query"))?;
        Ok(out.count().max(0) as u64)
    }

    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> Result<usize, StoreError> {
        self.enqueue(items).await
    }
}
