-- Schema version 4: the registry of biometric equipment (the record as JSON, by its serial
-- as Equipment::key_of writes it), with its company's key so a company's devices are found
-- without a scan.
CREATE TABLE equipment (
    serial      TEXT PRIMARY KEY,
    company_key TEXT NOT NULL,
    data        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX equipment_company ON equipment (company_key, serial);
