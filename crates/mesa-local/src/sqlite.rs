//! The ticket store on one SQLite file (WAL). Every change is atomic (its own savepoint in
//! the writer's transaction, see `writer`), so a folio is never skipped or reused and a
//! ticket never exists without its first events and its acknowledgement in the outbox.
//! Changes are group-committed by one writer thread; reads run on a small pool of
//! read-only connections beside it, as WAL allows.

use std::path::Path;
use std::sync::{Arc, mpsc};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use mesa::model::{CompanyRecord, CustomerRecord, DedupeKey, Event, Folio, Ticket, TicketId};
use mesa::ports::{
    CreateOutcome, CustomerStore, HeartbeatStore, ListFilter, NewTicket, Page, PageRequest,
    QuarantineRecord, QuarantineStore, StoreError, TicketChange, TicketStore,
};
use mesa::types::address_key;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_staff.sql"),
    include_str!("../migrations/0003_companies.sql"),
    include_str!("../migrations/0004_equipment.sql"),
    include_str!("../migrations/0005_incidents.sql"),
];

/// The migration that gave contacts their company key.
const COMPANY_KEYS: usize = 3;

mod connections;
mod equipment;
mod incidents;
mod outbox;
mod staff;
mod writer;

use connections::{Cached, LOOKUP_CONNECTIONS, Readers, SCAN_CONNECTIONS, connect};
use outbox::insert_outbox;

#[derive(Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<writer::Job>,
    lookups: Arc<Readers>,
    scans: Arc<Readers>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(e)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(backend)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(backend)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = connect(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        migrate(&mut conn)?;
        let lookups = Arc::new(Readers::open(path, LOOKUP_CONNECTIONS)?);
        let scans = Arc::new(Readers::open(path, SCAN_CONNECTIONS)?);
        let (writer, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("mesa-sqlite-writer".into())
            .spawn(move || writer::run(conn, jobs))
            .map_err(backend)?;
        Ok(Self {
            writer,
            lookups,
            scans,
        })
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let done: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(backend)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(backend)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done.max(0) as usize) {
        tx.execute_batch(sql).map_err(backend)?;
        if i + 1 == COMPANY_KEYS {
            backfill_company_keys(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

/// Gives each contact written before migration 3 its company's key, and its company a
/// record.
fn backfill_company_keys(tx: &Connection) -> Result<(), StoreError> {
    let rows: Vec<(String, String, String)> = {
        let mut stmt = tx
            .prepare("SELECT email, domain, data FROM customers")
            .map_err(backend)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?
    };
    for (email, domain, data) in rows {
        let record: CustomerRecord = from_json(&data)?;
        let company = CompanyRecord {
            company: record.company.clone(),
            ..CompanyRecord::default()
        };
        tx.exec_cached(
            "UPDATE customers SET company_key = ?1 WHERE email = ?2 AND domain = ?3",
            params![company.key(), email, domain],
        )
        .map_err(backend)?;
        // Registered before periods were kept: a company without periods (taken as
        // subscribed), so it has its page.
        tx.exec_cached(
            "INSERT OR IGNORE INTO companies (key, data) VALUES (?1, ?2)",
            params![company.key(), to_json(&company)?],
        )
        .map_err(backend)?;
    }
    Ok(())
}

fn insert_events(tx: &Connection, id: &TicketId, events: &[Event]) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached("INSERT INTO events (ticket_id, seq, at, data) VALUES (?1, ?2, ?3, ?4)")
        .map_err(backend)?;
    for e in events {
        stmt.execute(params![id.as_str(), e.seq as i64, ts(e.at), to_json(e)?])
            .map_err(backend)?;
    }
    Ok(())
}

fn insert_message_ids(tx: &Connection, id: &TicketId, ids: &[String]) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached("INSERT OR IGNORE INTO message_ids (message_id, ticket_id) VALUES (?1, ?2)")
        .map_err(backend)?;
    for m in ids {
        stmt.execute(params![m, id.as_str()]).map_err(backend)?;
    }
    Ok(())
}

fn write_ticket_row(
    tx: &Connection,
    t: &Ticket,
    expected_version: Option<u64>,
) -> Result<usize, StoreError> {
    let data = to_json(t)?;
    let next_due = t.next_due.map(ts);
    match expected_version {
        None => tx
            .exec_cached(
                "INSERT INTO tickets (id, folio, version, stage, received_at, next_due, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.id.as_str(),
                    t.folio.as_str(),
                    t.version as i64,
                    t.stage.as_str(),
                    ts(t.received_at),
                    next_due,
                    data
                ],
            )
            .map_err(backend),
        Some(v) => tx
            .exec_cached(
                "UPDATE tickets SET version = ?2, stage = ?3, next_due = ?4, data = ?5
                 WHERE id = ?1 AND version = ?6",
                params![
                    t.id.as_str(),
                    t.version as i64,
                    t.stage.as_str(),
                    next_due,
                    data,
                    v as i64
                ],
            )
            .map_err(backend),
    }
}

fn tickets_from(rows: Vec<String>) -> Result<Vec<Ticket>, StoreError> {
    rows.iter().map(|s| from_json(s)).collect()
}

#[async_trait]
impl TicketStore for SqliteStore {
    async fn create_ticket(&self, new: NewTicket) -> Result<CreateOutcome, StoreError> {
        self.write(move |tx| {
            for key in &new.dedupe_keys {
                let existing: Option<String> = tx
                    .row_cached(
                        "SELECT ticket_id FROM dedupe_keys WHERE key = ?1",
                        [key.as_key()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(backend)?;
                if let Some(id) = existing {
                    return Ok(CreateOutcome::Duplicate(
                        TicketId::parse(&id).ok_or_else(|| StoreError::NotFound(id.clone()))?,
                    ));
                }
            }
            let number: i64 = tx
                .row_cached(
                    "INSERT INTO folio_counters (prefix, year, last) VALUES (?1, ?2, 1)
                     ON CONFLICT (prefix, year) DO UPDATE SET last = last + 1
                     RETURNING last",
                    params![new.folio_prefix, new.folio_year],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            let ticket = new.numbered(number as u64);
            write_ticket_row(tx, &ticket, None)?;
            insert_events(tx, &ticket.id, new.events())?;
            for key in &new.dedupe_keys {
                tx.exec_cached(
                    "INSERT INTO dedupe_keys (key, ticket_id) VALUES (?1, ?2)",
                    params![key.as_key(), ticket.id.as_str()],
                )
                .map_err(backend)?;
            }
            insert_message_ids(tx, &ticket.id, &new.message_ids)?;
            insert_outbox(tx, &new.outbox)?;
            Ok(CreateOutcome::Created(Box::new(ticket)))
        })
        .await
    }

    async fn apply_change(&self, change: TicketChange) -> Result<(), StoreError> {
        self.write(move |tx| {
            let id = change.ticket.id.clone();
            if write_ticket_row(tx, &change.ticket, Some(change.expected_version))? == 0 {
                let exists: bool = tx
                    .row_cached("SELECT 1 FROM tickets WHERE id = ?1", [id.as_str()], |_| {
                        Ok(true)
                    })
                    .optional()
                    .map_err(backend)?
                    .unwrap_or(false);
                return Err(if exists {
                    StoreError::Conflict(id)
                } else {
                    StoreError::NotFound(id.to_string())
                });
            }
            insert_events(tx, &id, &change.events)?;
            insert_message_ids(tx, &id, &change.message_ids)?;
            insert_outbox(tx, &change.outbox)
        })
        .await
    }

    async fn get(&self, id: &TicketId) -> Result<Option<Ticket>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            conn.row_cached("SELECT data FROM tickets WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(backend)?
            .map(|s| from_json(&s))
            .transpose()
        })
        .await
    }

    async fn get_by_folio(&self, folio: &Folio) -> Result<Option<Ticket>, StoreError> {
        let folio = folio.to_string();
        self.read(move |conn| {
            conn.row_cached("SELECT data FROM tickets WHERE folio = ?1", [folio], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(backend)?
            .map(|s| from_json(&s))
            .transpose()
        })
        .await
    }

    async fn events(&self, id: &TicketId) -> Result<Vec<Event>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT data FROM events WHERE ticket_id = ?1 ORDER BY seq")
                .map_err(backend)?;
            let rows = stmt
                .query_map([id], |r| r.get::<_, String>(0))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.iter().map(|s| from_json(s)).collect()
        })
        .await
    }

    async fn find_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>, StoreError> {
        let mid = message_id.to_string();
        self.read(move |conn| {
            Ok(conn
                .row_cached(
                    "SELECT ticket_id FROM message_ids WHERE message_id = ?1",
                    [mid],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(backend)?
                .and_then(|s| TicketId::parse(&s)))
        })
        .await
    }

    async fn find_by_dedupe_key(&self, key: &DedupeKey) -> Result<Option<TicketId>, StoreError> {
        let key = key.as_key();
        self.read(move |conn| {
            Ok(conn
                .row_cached(
                    "SELECT ticket_id FROM dedupe_keys WHERE key = ?1",
                    [key],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(backend)?
                .and_then(|s| TicketId::parse(&s)))
        })
        .await
    }

    async fn due_before(&self, t: DateTime<Utc>, limit: usize) -> Result<Vec<Ticket>, StoreError> {
        self.scan(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT data FROM tickets WHERE next_due IS NOT NULL AND next_due <= ?1
                     ORDER BY next_due LIMIT ?2",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(
                    params![ts(mesa::ports::comparable_as_text(t)), limit as i64],
                    |r| r.get::<_, String>(0),
                )
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            tickets_from(rows)
        })
        .await
    }

    async fn list(
        &self,
        filter: &ListFilter,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError> {
        let filter = filter.clone();
        let page = page.clone();
        self.scan(move |conn| {
            let limit = page.limit.clamp(1, 500);
            // Cursor: "<received_at>|<id>" of the last item of the previous page.
            let (after_at, after_id) = match page.after.as_deref().and_then(|c| c.split_once('|')) {
                Some((a, i)) => (a.to_string(), i.to_string()),
                None => ("9999".to_string(), String::new()),
            };
            let stage = filter.stage.map(|s| s.as_str().to_string());
            let mut stmt = conn
                .prepare_cached(
                    "SELECT data, received_at, id FROM tickets
                     WHERE (?1 IS NULL OR stage = ?1)
                       AND (?2 = 0 OR stage != 'closed')
                       AND (received_at < ?3 OR (received_at = ?3 AND id < ?4))
                       AND (?6 IS NULL OR received_at >= ?6)
                       AND (?7 IS NULL OR received_at < ?7)
                     ORDER BY received_at DESC, id DESC
                     LIMIT ?5",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(
                    params![
                        stage,
                        filter.open_only as i64,
                        after_at,
                        after_id,
                        (limit + 1) as i64,
                        filter.received_from.map(ts),
                        filter.received_before.map(ts)
                    ],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let more = rows.len() > limit;
            let rows: Vec<_> = rows.into_iter().take(limit).collect();
            let next = if more {
                rows.last().map(|(_, at, id)| format!("{at}|{id}"))
            } else {
                None
            };
            Ok(Page {
                items: tickets_from(rows.into_iter().map(|(d, _, _)| d).collect())?,
                next,
            })
        })
        .await
    }
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn upsert_customer(&self, customer: &CustomerRecord) -> Result<(), StoreError> {
        let c = customer.clone();
        self.write(move |conn| {
            conn.exec_cached(
                "INSERT INTO customers (email, domain, data, company_key) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (email, domain)
                 DO UPDATE SET data = excluded.data, company_key = excluded.company_key",
                params![
                    address_key(&c.email),
                    address_key(&c.domain),
                    to_json(&c)?,
                    CompanyRecord::key_of(&c.company)
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn find_customer(&self, address: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let address = address_key(address);
        self.read(move |conn| {
            let by_email: Option<String> = conn
                .row_cached(
                    "SELECT data FROM customers WHERE email = ?1 LIMIT 1",
                    [&address],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            let found = match by_email {
                Some(d) => Some(d),
                None => match mesa::model::domain_of(&address) {
                    Some(domain) => conn
                        .row_cached(
                            "SELECT data FROM customers WHERE email = '' AND domain = ?1 LIMIT 1",
                            [domain],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(backend)?,
                    None => None,
                },
            };
            found.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn contacts_of(&self, company: &str) -> Result<Vec<CustomerRecord>, StoreError> {
        let key = CompanyRecord::key_of(company);
        self.scan(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT data FROM customers WHERE company_key = ?1 ORDER BY email, domain",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([key], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            rows.map(|r| from_json(&r.map_err(backend)?)).collect()
        })
        .await
    }

    async fn upsert_company(&self, company: &CompanyRecord) -> Result<(), StoreError> {
        let c = company.clone();
        self.write(move |conn| {
            conn.exec_cached(
                "INSERT INTO companies (key, data) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET data = excluded.data",
                params![c.key(), to_json(&c)?],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn company(&self, name: &str) -> Result<Option<CompanyRecord>, StoreError> {
        let key = CompanyRecord::key_of(name);
        self.read(move |conn| {
            conn.row_cached("SELECT data FROM companies WHERE key = ?1", [key], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(backend)?
            .map(|d| from_json(&d))
            .transpose()
        })
        .await
    }

    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError> {
        self.scan(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT data FROM companies ORDER BY key")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            rows.map(|r| from_json(&r.map_err(backend)?)).collect()
        })
        .await
    }
}

#[async_trait]
impl QuarantineStore for SqliteStore {
    async fn quarantine(&self, record: &QuarantineRecord) -> Result<(), StoreError> {
        let r = record.clone();
        self.write(move |conn| {
            conn.exec_cached(
                "INSERT INTO quarantine (id, received_at, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                params![r.id, ts(r.received_at), to_json(&r)?],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn list_quarantine(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        self.scan(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT data FROM quarantine ORDER BY received_at, id")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.iter().map(|s| from_json(s)).collect()
        })
        .await
    }
}

#[async_trait]
impl HeartbeatStore for SqliteStore {
    async fn record_heartbeat(&self, name: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let name = name.to_string();
        self.write(move |conn| {
            conn.exec_cached(
                "INSERT INTO heartbeats (name, at) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET at = excluded.at",
                params![name, ts(at)],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn last_heartbeat(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let name = name.to_string();
        self.read(move |conn| {
            let at: Option<String> = conn
                .row_cached("SELECT at FROM heartbeats WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            at.map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(backend)
            })
            .transpose()
        })
        .await
    }
}
