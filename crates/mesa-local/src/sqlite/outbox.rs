//! The outbox on SQLite: items written with their ticket's change, claimed under a lease,
//! marked as they are sent.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use mesa::outbox::OutboxItem;
use mesa::ports::{OutboxStore, StoreError};
use mesa::types::address_key;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Cached, SqliteStore, backend, from_json, incidents, to_json, ts};

pub(super) fn insert_outbox(tx: &Connection, items: &[OutboxItem]) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO outbox (id, ticket_id, kind, recipient, status, not_before, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(backend)?;
    for o in items {
        stmt.execute(params![
            o.id,
            o.ticket_id.as_str(),
            o.kind.as_str(),
            address_key(&o.to),
            o.status.as_str(),
            ts(o.not_before),
            ts(o.created_at),
            to_json(o)?
        ])
        .map_err(backend)?;
    }
    Ok(())
}

fn read_outbox(conn: &Connection, id: &str) -> Result<Option<OutboxItem>, StoreError> {
    conn.row_cached("SELECT data FROM outbox WHERE id = ?1", [id], |r| {
        r.get::<_, String>(0)
    })
    .optional()
    .map_err(backend)?
    .map(|s| from_json(&s))
    .transpose()
}

fn update_outbox(conn: &Connection, item: &OutboxItem) -> Result<(), StoreError> {
    conn.exec_cached(
        "UPDATE outbox SET status = ?2, not_before = ?3, data = ?4 WHERE id = ?1",
        params![
            item.id,
            item.status.as_str(),
            ts(item.not_before),
            to_json(item)?
        ],
    )
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.write(move |tx| {
            let rows: Vec<String> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT data FROM outbox WHERE status = 'pending' AND not_before <= ?1
                         ORDER BY not_before LIMIT ?2",
                    )
                    .map_err(backend)?;
                stmt.query_map(params![ts(now), limit as i64], |r| r.get::<_, String>(0))
                    .map_err(backend)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(backend)?
            };
            let mut items = Vec::with_capacity(rows.len());
            for row in rows {
                let mut item: OutboxItem = from_json(&row)?;
                item.claim(now, lease);
                update_outbox(tx, &item)?;
                items.push(item);
            }
            Ok(items)
        })
        .await
    }

    async fn save_outbox(&self, item: &OutboxItem) -> Result<(), StoreError> {
        let item = item.clone();
        self.write(move |conn| {
            if read_outbox(conn, &item.id)?.is_none() {
                return Err(StoreError::NotFound(item.id.clone()));
            }
            update_outbox(conn, &item)
        })
        .await
    }

    async fn outbox_item(&self, id: &str) -> Result<Option<OutboxItem>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| read_outbox(conn, &id)).await
    }

    async fn pending_outbox_before(&self, t: DateTime<Utc>) -> Result<Vec<OutboxItem>, StoreError> {
        self.scan(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT data FROM outbox WHERE status = 'pending' AND created_at <= ?1 ORDER BY created_at")
                .map_err(backend)?;
            let rows = stmt
                .query_map([ts(t)], |r| r.get::<_, String>(0))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.iter().map(|s| from_json(s)).collect()
        })
        .await
    }

    async fn acks_to_since(&self, to: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let to = address_key(to);
        self.read(move |conn| {
            let n: i64 = conn
                .row_cached(
                    "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND recipient = ?1 AND created_at >= ?2 AND status != 'skipped'",
                    params![to, ts(since)],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            Ok(n as u64)
        })
        .await
    }

    async fn enqueue_outbox(&self, items: &[OutboxItem]) -> Result<usize, StoreError> {
        let items = items.to_vec();
        self.write(move |conn| incidents::enqueue(conn, &items))
            .await
    }
}
