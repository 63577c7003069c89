//! Major incidents on SQLite (schema 0005), and the outbox items that belong to no ticket.

use async_trait::async_trait;
use mesa::model::Incident;
use mesa::outbox::OutboxItem;
use mesa::ports::{IncidentStore, StoreError};
use mesa::types::address_key;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, backend, from_json, to_json, ts};

/// Writes each item unless one with its id exists; one change. How many were new.
pub(super) fn enqueue(tx: &Connection, items: &[OutboxItem]) -> Result<usize, StoreError> {
    let mut written = 0;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO outbox (id, ticket_id, kind, recipient, status, not_before, created_at, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
            )
            .map_err(backend)?;
        for o in items {
            written += stmt
                .execute(params![
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
    }
    Ok(written)
}

#[async_trait]
impl IncidentStore for SqliteStore {
    async fn declare_incident(&self, incident: &Incident) -> Result<Option<Incident>, StoreError> {
        let i = incident.clone();
        // Looked for and written in one change of the single writer: no other declaration
        // can come between. Incidents are few, so reading every record is cheap.
        self.write(move |conn| {
            let subject = i.subject();
            let mut stmt = conn
                .prepare_cached("SELECT data FROM incidents")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            for row in rows {
                let existing: Incident = from_json(&row.map_err(backend)?)?;
                if existing.is_open() && existing.subject() == subject {
                    return Ok(Some(existing));
                }
            }
            conn.execute(
                "INSERT INTO incidents (id, declared_at, data) VALUES (?1, ?2, ?3)",
                params![i.id, ts(i.declared_at), to_json(&i)?],
            )
            .map_err(backend)?;
            Ok(None)
        })
        .await
    }

    async fn put_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        let i = incident.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO incidents (id, declared_at, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                params![i.id, ts(i.declared_at), to_json(&i)?],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            conn.query_row("SELECT data FROM incidents WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(backend)?
            .map(|d| from_json(&d))
            .transpose()
        })
        .await
    }

    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.scan(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT data FROM incidents ORDER BY declared_at DESC, id DESC")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            rows.map(|r| from_json(&r.map_err(backend)?)).collect()
        })
        .await
    }
}
