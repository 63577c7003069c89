//! The equipment registry on SQLite (schema 0004).

use async_trait::async_trait;
use mesa::model::{CompanyRecord, Equipment};
use mesa::ports::{EquipmentStore, StoreError};
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, backend, from_json, to_json};

#[async_trait]
impl EquipmentStore for SqliteStore {
    async fn upsert_equipment(&self, equipment: &Equipment) -> Result<(), StoreError> {
        let mut e = equipment.clone();
        e.serial = e.key();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO equipment (serial, company_key, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (serial)
                 DO UPDATE SET company_key = excluded.company_key, data = excluded.data",
                params![e.serial, CompanyRecord::key_of(&e.company), to_json(&e)?],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn equipment(&self, serial: &str) -> Result<Option<Equipment>, StoreError> {
        let key = Equipment::key_of(serial);
        self.read(move |conn| {
            conn.query_row("SELECT data FROM equipment WHERE serial = ?1", [key], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(backend)?
            .map(|d| from_json(&d))
            .transpose()
        })
        .await
    }

    async fn equipment_of(&self, company: &str) -> Result<Vec<Equipment>, StoreError> {
        let key = CompanyRecord::key_of(company);
        self.scan(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT data FROM equipment WHERE company_key = ?1 ORDER BY serial")
                .map_err(backend)?;
            let rows = stmt
                .query_map([key], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            rows.map(|r| from_json(&r.map_err(backend)?)).collect()
        })
        .await
    }
}
