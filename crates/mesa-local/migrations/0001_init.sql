-- mesa on SQLite, schema version 1. Instants are RFC 3339 UTC to the second
-- ("2026-11-10T16:00:00Z"), so text order is time order.

CREATE TABLE tickets (
    id          TEXT PRIMARY KEY,
    folio       TEXT NOT NULL UNIQUE,
    version     INTEGER NOT NULL,
    stage       TEXT NOT NULL,
    received_at TEXT NOT NULL,
    next_due    TEXT,
    data        TEXT NOT NULL            -- the projection (JSON)
);
-- The sweep's index: only tickets with a running clock are in it.
CREATE INDEX tickets_due ON tickets (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX tickets_listing ON tickets (received_at, id);
CREATE INDEX tickets_stage ON tickets (stage, received_at, id);

CREATE TABLE events (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    seq       INTEGER NOT NULL,
    at        TEXT NOT NULL,
    data      TEXT NOT NULL,
    PRIMARY KEY (ticket_id, seq)
) WITHOUT ROWID;

CREATE TABLE dedupe_keys (
    key       TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (id)
) WITHOUT ROWID;

CREATE TABLE message_ids (
    message_id TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id)
) WITHOUT ROWID;

CREATE TABLE folio_counters (
    prefix TEXT NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
) WITHOUT ROWID;

CREATE TABLE outbox (
    id         TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    kind       TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    status     TEXT NOT NULL,
    not_before TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX outbox_pending ON outbox (not_before) WHERE status = 'pending';
CREATE INDEX outbox_acks ON outbox (recipient, created_at) WHERE kind = 'ack';

-- A registered customer: by contact address, or by company domain (email = '').
CREATE TABLE customers (
    email  TEXT NOT NULL,
    domain TEXT NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (email, domain)
) WITHOUT ROWID;
CREATE INDEX customers_domain ON customers (domain) WHERE email = '';

CREATE TABLE quarantine (
    id          TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    data        TEXT NOT NULL
);

CREATE TABLE heartbeats (
    name TEXT PRIMARY KEY,
    at   TEXT NOT NULL
) WITHOUT ROWID;
