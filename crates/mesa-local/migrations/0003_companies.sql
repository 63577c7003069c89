-- Schema version 3: companies with their contract periods and their own terms (the record
-- as JSON, by CompanyRecord::key_of its name), and each contact's company key so a
-- company's contacts are found without a scan. Rows written before get their key from the
-- migration code (SQLite's lower() is ASCII-only; the key is Unicode lower case).
CREATE TABLE companies (
    key  TEXT PRIMARY KEY,
    data TEXT NOT NULL
) WITHOUT ROWID;
ALTER TABLE customers ADD COLUMN company_key TEXT NOT NULL DEFAULT '';
CREATE INDEX customers_company ON customers (company_key);
