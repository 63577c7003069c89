-- Schema version 5: major incidents (the record as JSON, by id), and outbox items that
-- belong to no ticket (an incident's notices, whose ticket_id is the incident's id): the
-- outbox is rebuilt without its foreign key to tickets, rows and indexes as they were.
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    declared_at TEXT NOT NULL,
    data        TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE outbox_new (
    id         TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    status     TEXT NOT NULL,
    not_before TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data       TEXT NOT NULL
);
INSERT INTO outbox_new (id, ticket_id, kind, recipient, status, not_before, created_at, data)
    SELECT id, ticket_id, kind, recipient, status, not_before, created_at, data FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_pending ON outbox (not_before) WHERE status = 'pending';
CREATE INDEX outbox_acks ON outbox (recipient, created_at) WHERE kind = 'ack';
