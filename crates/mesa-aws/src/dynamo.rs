//! The ticket store on one DynamoDB table (DESIGN.md §6).
//!
//! | item | pk | sk |
//! |---|---|---|
//! | ticket projection | `TICKET#<id>` | `META` (+ `version`, GSI keys) |
//! | event | `TICKET#<id>` | `EVT#<seq, 10 digits>` |
//! | folio → id | `FOLIO#<folio>` | `FOLIO` |
//! | folio counter | `COUNTER#FOLIO#<prefix>#<year>` | `COUNTER` (`last`) |
//! | dedupe key | `DEDUPE#<key>` | `DEDUPE` |
//! | Message-ID → id | `MSGID#<message-id>` | `MSGID` |
//! | outbox item | `OUTBOX#<id>` | `OUTBOX` (`kind = outbox`, the stream's filter) |
//! | ack to an address | `ACKS#<address>` | `<created>#<outbox id>` (TTL) |
//! | customer | `CUSTOMER#EMAIL#<a>` / `CUSTOMER#DOMAIN#<d>` | `CUSTOMER` |
//! | a company's contact | `COMPANY#<company key>` | `CONTACT#<address or @domain>` |
//! | company | `COMPANIES` | `<company key>` |
//! | device | `EQUIPMENT#<serial>` | `EQUIPMENT` |
//! | a company's device | `COMPANY#<company key>` | `DEVICE#<serial>` |
//! | major incident | `INCIDENTS` | `<id>` |
//! | staff account | `STAFF` | `<address>` |
//! | quarantine | `QUARANTINE` | `<received>#<id>` |
//! | heartbeat | `HEARTBEAT#<name>` | `HEARTBEAT` |
//!
//! Indexes (all sparse: an item is in one only while it has the keys):
//! `due` (`due_pk = DUE#<shard>`, `due_sk = <next due>#<id>`) holds tickets with a running
//! clock, so the sweep reads only what is due; `listing` (`list_pk = STAGE#<stage>`,
//! `list_sk = <received>#<id>`); `pending` (`pending_pk = PENDING#<shard>`,
//! `pending_sk = <not before>#<id>`) holds unsent mail. Shards spread the hot keys.
//!
//! Every multi-item change is one `TransactWriteItems`; its cancellation reasons tell a
//! duplicate (a dedupe key exists) from a race (version or counter moved: re-read, retry).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use mesa::model::{
    CompanyRecord, CustomerRecord, DedupeKey, Event, Folio, Stage, Ticket, TicketId, contact_key,
};
use mesa::outbox::{MailKind, OutboxItem, OutboxStatus};
use mesa::ports::{
    CreateOutcome, CustomerStore, HeartbeatStore, ListFilter, NewTicket, Page, PageRequest,
    QuarantineRecord, QuarantineStore, StoreError, TicketChange, TicketStore,
};
use mesa::types::address_key;

mod equipment;
mod incidents;
mod outbox;
mod staff;

pub const DUE_SHARDS: u32 = 4;
pub const PENDING_SHARDS: u32 = 4;
const MAX_TX_RETRIES: usize = 60;
/// Ack index items expire after two days (the cap looks back one hour).
const ACK_INDEX_TTL: Duration = Duration::days(2);

type Item = HashMap<String, AttributeValue>;

pub struct DynamoStore {
    client: Client,
    table: String,
    /// Items read by `due_before`, for the sweep's cost metric and its test.
    due_items_read: AtomicU64,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn backend_msg(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("DynamoDB {what}: {e}").into())
}

/// A DynamoDB call that failed: its full context as text, the SDK error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
struct DynamoError {
    context: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// An SDK error as a store error, keeping the SDK error as the source: throttling,
/// timeouts and unreachable endpoints are `Busy` (worth another try), a request the table
/// refuses as it is (an item too large) `Rejected` (never worth another), the rest `Backend`.
fn sdk<E, R>(what: &str) -> impl FnOnce(SdkError<E, R>) -> StoreError + '_
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        let busy = matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
            || e.code().is_some_and(|c| {
                matches!(
                    c,
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        // A single write meeting a transaction on its item: as a transaction
                        // meeting another, worth another try.
                        | "TransactionConflictException"
                )
            });
        let rejected = e.code().is_some_and(|c| {
            matches!(
                c,
                "ValidationException" | "ItemCollectionSizeLimitExceededException"
            )
        });
        let err = DynamoError {
            context: format!("DynamoDB {what}: {}", DisplayErrorContext(&e)),
            source: Box::new(e),
        };
        if busy {
            StoreError::busy(err)
        } else if rejected {
            StoreError::rejected(err)
        } else {
            StoreError::backend(err)
        }
    }
}

fn get_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn data<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let raw = get_s(item, "data").ok_or_else(|| backend_msg("item", "has no data attribute"))?;
    serde_json::from_str(raw).map_err(|e| backend_msg("item data", e))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| backend_msg("serialising", e))
}

/// Stable shard of an id (FNV-1a): the same ticket always lands in the same partition.
fn shard(id: &str, shards: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % shards
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn ticket_item(t: &Ticket) -> Result<Item, StoreError> {
    let mut item = key(format!("TICKET#{}", t.id), "META");
    item.insert("kind".into(), s("ticket"));
    item.insert("data".into(), s(json(t)?));
    item.insert("version".into(), n(t.version));
    item.insert("folio".into(), s(t.folio.as_str()));
    item.insert("list_pk".into(), s(format!("STAGE#{}", t.stage.as_str())));
    item.insert(
        "list_sk".into(),
        s(format!("{}#{}", ts(t.received_at), t.id)),
    );
    if let Some(due) = t.next_due {
        item.insert(
            "due_pk".into(),
            s(format!("DUE#{}", shard(t.id.as_str(), DUE_SHARDS))),
        );
        item.insert("due_sk".into(), s(format!("{}#{}", ts(due), t.id)));
    }
    Ok(item)
}

fn outbox_item(o: &OutboxItem) -> Result<Item, StoreError> {
    let mut item = key(format!("OUTBOX#{}", o.id), "OUTBOX");
    item.insert("kind".into(), s("outbox"));
    item.insert("data".into(), s(json(o)?));
    item.insert("status".into(), s(o.status.as_str()));
    item.insert("ticket_id".into(), s(o.ticket_id.as_str()));
    item.insert("not_before".into(), s(ts(o.not_before)));
    item.insert("created_at".into(), s(ts(o.created_at)));
    if o.status == OutboxStatus::Pending {
        item.insert(
            "pending_pk".into(),
            s(format!("PENDING#{}", shard(&o.id, PENDING_SHARDS))),
        );
        item.insert(
            "pending_sk".into(),
            s(format!("{}#{}", ts(o.not_before), o.id)),
        );
    }
    Ok(item)
}

fn ack_index_key(o: &OutboxItem) -> Item {
    key(
        format!("ACKS#{}", address_key(&o.to)),
        &format!("{}#{}", ts(o.created_at), o.id),
    )
}

fn ack_index_item(o: &OutboxItem) -> Item {
    let mut item = ack_index_key(o);
    item.insert("kind".into(), s("ack_index"));
    item.insert("ttl".into(), n((o.created_at + ACK_INDEX_TTL).timestamp()));
    item
}

fn event_item(id: &TicketId, e: &Event) -> Result<Item, StoreError> {
    let mut item = key(format!("TICKET#{id}"), &format!("EVT#{:010}", e.seq));
    item.insert("kind".into(), s("event"));
    item.insert("data".into(), s(json(e)?));
    Ok(item)
}

fn pointer(pk: String, sk: &str, ticket: &TicketId) -> Item {
    let mut item = key(pk, sk);
    item.insert("ticket_id".into(), s(ticket.as_str()));
    item
}

/// Why a transaction was cancelled, per item, in order.
enum TxOutcome {
    Done,
    Cancelled(Vec<String>),
}

/// A cancelled transaction as a store error, by DynamoDB's cancellation reasons: a write the
/// table can never take as it is (an item over 400 KB, an item collection over its limit) is
/// `Rejected`; a throttle, a conflict with another transaction or a condition that another
/// writer made false is `Busy` (the same call may succeed later); anything else `Backend`.
/// Nothing of a cancelled transaction was written.
fn cancelled(what: &str, reasons: &[String]) -> StoreError {
    let any = |codes: &[&str]| reasons.iter().any(|r| codes.contains(&r.as_str()));
    let err = std::io::Error::other(format!(
        "DynamoDB {what}: transaction cancelled: {reasons:?}"
    ));
    if any(&["ValidationError", "ItemCollectionSizeLimitExceeded"]) {
        StoreError::rejected(err)
    } else if any(&[
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "TransactionConflict",
        "ConditionalCheckFailed",
    ]) {
        StoreError::busy(err)
    } else {
        StoreError::backend(err)
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            due_items_read: AtomicU64::new(0),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Items read by `due_before` so far.
    pub fn due_items_read(&self) -> u64 {
        self.due_items_read.load(Ordering::Relaxed)
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .map_err(|e| backend_msg("building a put", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<TxOutcome, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(TxOutcome::Done),
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(c) => {
                    Ok(TxOutcome::Cancelled(
                        c.cancellation_reasons()
                            .iter()
                            .map(|r| r.code().unwrap_or("None").to_string())
                            .collect(),
                    ))
                }
                _ => Err(sdk("TransactWriteItems")(SdkError::ServiceError(e))),
            },
            Err(e) => Err(sdk("TransactWriteItems")(e)),
        }
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk("GetItem"))?;
        Ok(out.item)
    }

    async fn pointer_target(&self, pk: String, sk: &str) -> Result<Option<TicketId>, StoreError> {
        Ok(self
            .get_item(pk, sk)
            .await?
            .and_then(|i| get_s(&i, "ticket_id").and_then(TicketId::parse)))
    }

    /// Runs a query to the end (or `max` items), page by page.
    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        forward: bool,
        max: usize,
    ) -> Result<(Vec<Item>, u64), StoreError> {
        let mut items = Vec::new();
        let mut scanned = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                // On the table itself (one partition: a ticket's events, a company's
                // contacts) read what was just written: a ticket change decides on its events,
                // and the outbox composes an event from them a second after the write. (An
                // index cannot be read consistently; its readers tolerate the lag.)
                .consistent_read(index.is_none())
                .key_condition_expression(condition)
                .scan_index_forward(forward)
                .limit(((max - items.len()).min(1000)) as i32)
                .set_exclusive_start_key(start.take());
            for (k, v) in &values {
                q = q.expression_attribute_values(*k, v.clone());
            }
            let out = q.send().await.map_err(sdk("Query"))?;
            scanned += out.scanned_count().max(0) as u64;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if items.len() < max && !k.is_empty() => start = Some(k),
                _ => return Ok((items, scanned)),
            }
        }
    }

    /// The outbox item `id`, if it exists.
    async fn read_outbox(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.get_item(format!("OUTBOX#{id}"), "OUTBOX")
            .await?
            .map(|i| data(&i))
            .transpose()
    }
}

async fn backoff(attempt: usize) {
    let ms = 5 * (attempt as u64 + 1) + u64::from(rand_jitter());
    tokio::time::sleep(StdDuration::from_millis(ms.min(200))).await;
}

fn rand_jitter() -> u8 {
    // Enough spread to break lock-step retries; no need for a random crate here.
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        % 23) as u8
}

#[async_trait]
impl TicketStore for DynamoStore {
    async fn create_ticket(&self, new: NewTicket) -> Result<CreateOutcome, StoreError> {
        let counter_pk = format!("COUNTER#FOLIO#{}#{}", new.folio_prefix, new.folio_year);
        let mut message_ids = new.message_ids.clone();
        message_ids.sort();
        message_ids.dedup();
        for attempt in 0..MAX_TX_RETRIES {
            let last: u64 = self
                .get_item(counter_pk.clone(), "COUNTER")
                .await?
                .and_then(|i| {
                    i.get("last")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                })
                .unwrap_or(0);
            let ticket = new.numbered(last + 1);
            let mut items = Vec::new();
            // 0: the counter moves from `last` to `last + 1`, or the race is lost.
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(counter_pk.clone(), "COUNTER")))
                .update_expression("SET #l = :next")
                .expression_attribute_names("#l", "last")
                .expression_attribute_values(":next", n(last + 1));
            update = if last == 0 {
                update.condition_expression("attribute_not_exists(pk)")
            } else {
                update
                    .condition_expression("#l = :last")
                    .expression_attribute_values(":last", n(last))
            };
            let update = update
                .build()
                .map_err(|e| backend_msg("building an update", e))?;
            items.push(TransactWriteItem::builder().update(update).build());
            let dedupe_start = items.len();
            for k in &new.dedupe_keys {
                items.push(self.put(
                    pointer(format!("DEDUPE#{}", k.as_key()), "DEDUPE", &ticket.id),
                    Some("attribute_not_exists(pk)"),
                )?);
            }
            let dedupe_end = items.len();
            items.push(self.put(
                pointer(format!("FOLIO#{}", ticket.folio), "FOLIO", &ticket.id),
                Some("attribute_not_exists(pk)"),
            )?);
            items.push(self.put(ticket_item(&ticket)?, Some("attribute_not_exists(pk)"))?);
            for e in new.events() {
                items.push(self.put(event_item(&ticket.id, e)?, Some("attribute_not_exists(pk)"))?);
            }
            for m in &message_ids {
                items.push(self.put(pointer(format!("MSGID#{m}"), "MSGID", &ticket.id), None)?);
            }
            for o in &new.outbox {
                items.push(self.put(outbox_item(o)?, Some("attribute_not_exists(pk)"))?);
                if o.kind == MailKind::Ack {
                    items.push(self.put(ack_index_item(o), None)?);
                }
            }
            match self.transact(items).await? {
                TxOutcome::Done => return Ok(CreateOutcome::Created(Box::new(ticket))),
                TxOutcome::Cancelled(reasons) => {
                    let failed = |i: usize| {
                        reasons
                            .get(i)
                            .is_some_and(|c| c == "ConditionalCheckFailed")
                    };
                    if let Some(i) = (dedupe_start..dedupe_end).find(|&i| failed(i)) {
                        let k = &new.dedupe_keys[i - dedupe_start];
                        if let Some(existing) = self
                            .pointer_target(format!("DEDUPE#{}", k.as_key()), "DEDUPE")
                            .await?
                        {
                            return Ok(CreateOutcome::Duplicate(existing));
                        }
                    }
                    // The counter moved (0), or another writer took this folio first (its
                    // FOLIO item exists), or the table was busy: read the counter again and
                    // retry.
                    let error = cancelled("creating a ticket", &reasons);
                    let retryable = failed(0)
                        || failed(dedupe_end)
                        || (matches!(error, StoreError::Busy(_))
                            && !reasons.iter().any(|c| c == "ConditionalCheckFailed"));
                    if !retryable {
                        return Err(error);
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::busy(std::io::Error::other(
            "DynamoDB creating a ticket: the folio counter or the table stayed busy; try again",
        )))
    }

    async fn apply_change(&self, change: TicketChange) -> Result<(), StoreError> {
        let id = change.ticket.id.clone();
        let mut items = Vec::new();
        let meta = Put::builder()
            .table_name(&self.table)
            .set_item(Some(ticket_item(&change.ticket)?))
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(change.expected_version))
            .build()
            .map_err(|e| backend_msg("building a put", e))?;
        items.push(TransactWriteItem::builder().put(meta).build());
        for e in &change.events {
            items.push(self.put(event_item(&id, e)?, Some("attribute_not_exists(pk)"))?);
        }
        let mut message_ids = change.message_ids.clone();
        message_ids.sort();
        message_ids.dedup();
        for m in &message_ids {
            items.push(self.put(pointer(format!("MSGID#{m}"), "MSGID", &id), None)?);
        }
        for o in &change.outbox {
            items.push(self.put(outbox_item(o)?, Some("attribute_not_exists(pk)"))?);
            if o.kind == MailKind::Ack {
                items.push(self.put(ack_index_item(o), None)?);
            }
        }
        match self.transact(items).await? {
            TxOutcome::Done => Ok(()),
            TxOutcome::Cancelled(reasons) => {
                if self
                    .get_item(format!("TICKET#{id}"), "META")
                    .await?
                    .is_none()
                {
                    return Err(StoreError::NotFound(id.to_string()));
                }
                if reasons
                    .iter()
                    .any(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict")
                {
                    return Err(StoreError::Conflict(id));
                }
                Err(cancelled("changing a ticket", &reasons))
            }
        }
    }

    async fn get(&self, id: &TicketId) -> Result<Option<Ticket>, StoreError> {
        self.get_item(format!("TICKET#{id}"), "META")
            .await?
            .map(|i| data(&i))
            .transpose()
    }

    async fn get_by_folio(&self, folio: &Folio) -> Result<Option<Ticket>, StoreError> {
        match self
            .pointer_target(format!("FOLIO#{folio}"), "FOLIO")
            .await?
        {
            Some(id) => self.get(&id).await,
            None => Ok(None),
        }
    }

    async fn events(&self, id: &TicketId) -> Result<Vec<Event>, StoreError> {
        let (items, _) = self
            .query_all(
                None,
                "pk = :p AND begins_with(sk, :e)",
                vec![(":p", s(format!("TICKET#{id}"))), (":e", s("EVT#"))],
                true,
                usize::MAX,
            )
            .await?;
        items.iter().map(data).collect()
    }

    async fn find_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>, StoreError> {
        self.pointer_target(format!("MSGID#{message_id}"), "MSGID")
            .await
    }

    async fn find_by_dedupe_key(&self, key: &DedupeKey) -> Result<Option<TicketId>, StoreError> {
        self.pointer_target(format!("DEDUPE#{key}"), "DEDUPE").await
    }

    async fn due_before(&self, t: DateTime<Utc>, limit: usize) -> Result<Vec<Ticket>, StoreError> {
        let upto = format!("{}#~", ts(mesa::ports::comparable_as_text(t)));
        let mut all = Vec::new();
        for shard in 0..DUE_SHARDS {
            let (items, scanned) = self
                .query_all(
                    Some("due"),
                    "due_pk = :p AND due_sk <= :t",
                    vec![(":p", s(format!("DUE#{shard}"))), (":t", s(upto.clone()))],
                    true,
                    limit,
                )
                .await?;
            self.due_items_read.fetch_add(scanned, Ordering::Relaxed);
            for i in items {
                let sort = get_s(&i, "due_sk").unwrap_or_default().to_string();
                all.push((sort, data::<Ticket>(&i)?));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all.into_iter().take(limit).map(|(_, t)| t).collect())
    }

    async fn list(
        &self,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError> {
        let limit = page.limit.clamp(1, 500);
        let stages: Vec<Stage> = match filter.stage {
            Some(st) => vec![st],
            None => Stage::ALL
                .into_iter()
                .filter(|st| !filter.open_only || st.is_open())
                .collect(),
        };
        // Sort keys are `<received>#<id>`: below the cursor (or the end of the range, which
        // no key equals) and from the start of the range. BETWEEN includes its upper
        // bound, so the cursor's own item is dropped after the query.
        let mut below = page.after.clone().unwrap_or_else(|| "~".to_string());
        if let Some(before) = filter.received_before {
            below = below.min(ts(before));
        }
        let from = filter
            .received_from
            .map(ts)
            .unwrap_or_else(|| "0".to_string());
        if below <= from {
            // An empty range (or a cursor below every key): BETWEEN would be refused.
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let mut merged = Vec::new();
        for st in stages {
            let (items, _) = self
                .query_all(
                    Some("listing"),
                    "list_pk = :p AND list_sk BETWEEN :f AND :c",
                    vec![
                        (":p", s(format!("STAGE#{}", st.as_str()))),
                        (":f", s(from.clone())),
                        (":c", s(below.clone())),
                    ],
                    false,
                    limit + 2,
                )
                .await?;
            for i in items {
                let sort = get_s(&i, "list_sk").unwrap_or_default().to_string();
                if sort != below {
                    merged.push((sort, i));
                }
            }
        }
        merged.sort_by(|a, b| b.0.cmp(&a.0));
        let more = merged.len() > limit;
        merged.truncate(limit);
        let next = if more {
            merged.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        let items = merged
            .iter()
            .map(|(_, i)| data(i))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }
}

#[async_trait]
impl CustomerStore for DynamoStore {
    /// The lookup item and the company's listing item in one transaction; a contact that
    /// moved to another company leaves the old one's listing.
    async fn upsert_customer(&self, c: &CustomerRecord) -> Result<(), StoreError> {
        let pk = if c.email.is_empty() {
            format!("CUSTOMER#DOMAIN#{}", address_key(&c.domain))
        } else {
            format!("CUSTOMER#EMAIL#{}", address_key(&c.email))
        };
        let contact = contact_key(c);
        let previous: Option<CustomerRecord> = self
            .get_item(pk.clone(), "CUSTOMER")
            .await?
            .map(|i| data(&i))
            .transpose()?;
        let mut lookup = key(pk, "CUSTOMER");
        lookup.insert("kind".into(), s("customer"));
        lookup.insert("data".into(), s(json(c)?));
        let company_pk = |name: &str| format!("COMPANY#{}", CompanyRecord::key_of(name));
        let mut listing = key(company_pk(&c.company), &format!("CONTACT#{contact}"));
        listing.insert("kind".into(), s("contact"));
        listing.insert("data".into(), s(json(c)?));
        let mut items = vec![self.put(lookup, None)?, self.put(listing, None)?];
        if let Some(old) = previous.filter(|o| company_pk(&o.company) != company_pk(&c.company)) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(
                    company_pk(&old.company),
                    &format!("CONTACT#{contact}"),
                )))
                .build()
                .map_err(|e| backend_msg("building a delete", e))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.transact(items).await? {
            TxOutcome::Done => Ok(()),
            TxOutcome::Cancelled(reasons) => Err(cancelled("writing a customer", &reasons)),
        }
    }

    async fn find_customer(&self, address: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let address = address_key(address);
        if let Some(i) = self
            .get_item(format!("CUSTOMER#EMAIL#{address}"), "CUSTOMER")
            .await?
        {
            return data(&i).map(Some);
        }
        match mesa::model::domain_of(&address) {
            Some(domain) => self
                .get_item(format!("CUSTOMER#DOMAIN#{domain}"), "CUSTOMER")
                .await?
                .map(|i| data(&i))
                .transpose(),
            None => Ok(None),
        }
    }

    async fn contacts_of(&self, company: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let (items, _) = self
            .query_all(
                None,
                "pk = :p AND begins_with(sk, :c)",
                vec![
                    (
                        ":p",
                        s(format!("COMPANY#{}", CompanyRecord::key_of(company))),
                    ),
                    (":c", s("CONTACT#")),
                ],
                true,
                usize::MAX,
            )
            .await?;
        let mut found: Vec<CustomerRecord> = items.iter().map(data).collect::<Result<_, _>>()?;
        found.sort_by(|a, b| (&a.email, &a.domain).cmp(&(&b.email, &b.domain)));
        Ok(found)
    }

    async fn upsert_company(&self, company: &CompanyRecord) -> Result<(), StoreError> {
        let mut item = key("COMPANIES".into(), &company.key());
        item.insert("kind".into(), s("company"));
        item.insert("data".into(), s(json(company)?));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk("PutItem"))?;
        Ok(())
    }

    async fn company(&self, name: &str) -> Result<Option<CompanyRecord>, StoreError> {
        self.get_item("COMPANIES".into(), &CompanyRecord::key_of(name))
            .await?
            .map(|i| data(&i))
            .transpose()
    }

    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError> {
        let (items, _) = self
            .query_all(
                None,
                "pk = :p",
                vec![(":p", s("COMPANIES"))],
                true,
                usize::MAX,
            )
            .await?;
        items.iter().map(data).collect()
    }
}

#[async_trait]
impl QuarantineStore for DynamoStore {
    async fn quarantine(&self, r: &QuarantineRecord) -> Result<(), StoreError> {
        let mut item = key(
            "QUARANTINE".into(),
            &format!("{}#{}", ts(r.received_at), r.id),
        );
        item.insert("kind".into(), s("quarantine"));
        item.insert("data".into(), s(json(r)?));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk("PutItem"))?;
        Ok(())
    }

    async fn list_quarantine(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        let (items, _) = self
            .query_all(
                None,
                "pk = :p",
                vec![(":p", s("QUARANTINE"))],
                true,
                usize::MAX,
            )
            .await?;
        items.iter().map(data).collect()
    }
}

#[async_trait]
impl HeartbeatStore for DynamoStore {
    async fn record_heartbeat(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = key(format!("HEARTBEAT#{name}"), "HEARTBEAT");
        item.insert("at".into(), s(ts(at)));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk("PutItem"))?;
        Ok(())
    }

    async fn last_heartbeat(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item = self
            .get_item(format!("HEARTBEAT#{name}"), "HEARTBEAT")
            .await?;
        item.as_ref()
            .and_then(|i| get_s(i, "at"))
            .map(|a| {
                DateTime::parse_from_rfc3339(a)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| backend_msg("heartbeat", e))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard("01JABC", 4), shard("01JABC", 4));
        let mut seen = [0u32; 4];
        for i in 0..400 {
            seen[shard(&format!("01J{i:05}"), 4) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 60), "{seen:?}");
    }
}
