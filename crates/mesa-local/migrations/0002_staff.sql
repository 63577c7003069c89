-- Schema version 2: staff accounts, by address (lower case); the record as JSON.
CREATE TABLE staff (
    email TEXT PRIMARY KEY,
    data  TEXT NOT NULL
) WITHOUT ROWID;
