//! Staff accounts on SQLite (schema 0002).

use async_trait::async_trait;
use mesa::model::StaffMember;
use mesa::ports::{StaffStore, StoreError};
use mesa::types::address_key;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, backend, from_json, to_json};

#[async_trait]
impl StaffStore for SqliteStore {
    async fn create_staff(&self, member: &StaffMember) -> Result<bool, StoreError> {
        let m = member.clone();
        self.write(move |conn| {
            let written = conn
                .execute(
                    "INSERT INTO staff (email, data) VALUES (?1, ?2) ON CONFLICT (email) DO NOTHING",
                    params![address_key(&m.email), to_json(&m)?],
                )
                .map_err(backend)?;
            Ok(written == 1)
        })
        .await
    }

    async fn put_staff(&self, member: &StaffMember) -> Result<(), StoreError> {
        let m = member.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO staff (email, data) VALUES (?1, ?2)
                 ON CONFLICT (email) DO UPDATE SET data = excluded.data",
                params![address_key(&m.email), to_json(&m)?],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn staff(&self, email: &str) -> Result<Option<StaffMember>, StoreError> {
        let email = address_key(email);
        self.read(move |conn| {
            let data: Option<String> = conn
                .query_row("SELECT data FROM staff WHERE email = ?1", [email], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            data.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn list_staff(&self) -> Result<Vec<StaffMember>, StoreError> {
        self.scan(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT data FROM staff ORDER BY email")
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
