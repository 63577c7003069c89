//! The equipment registry on the table: a lookup item per serial (`EQUIPMENT#<serial>`),
//! and a listing item under its company (`COMPANY#<key>`, `DEVICE#<serial>`) written in the
//! same transaction, so a company's devices are one Query (never a scan).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use mesa::model::{CompanyRecord, Equipment};
use mesa::ports::{EquipmentStore, StoreError};

use super::{DynamoStore, TxOutcome, backend_msg, cancelled, data, json, key, s};

fn lookup_pk(serial: &str) -> String {
    format!("EQUIPMENT#{}", Equipment::key_of(serial))
}

fn company_pk(company: &str) -> String {
    format!("COMPANY#{}", CompanyRecord::key_of(company))
}

fn device_sk(serial: &str) -> String {
    format!("DEVICE#{}", Equipment::key_of(serial))
}

#[async_trait]
impl EquipmentStore for DynamoStore {
    /// A device moved to another company leaves the old company's listing in the same
    /// transaction.
    async fn upsert_equipment(&self, equipment: &Equipment) -> Result<(), StoreError> {
        let mut e = equipment.clone();
        e.serial = e.key();
        let previous = self.equipment(&e.serial).await?;
        let mut lookup = key(lookup_pk(&e.serial), "EQUIPMENT");
        lookup.insert("kind".into(), s("equipment"));
        lookup.insert("data".into(), s(json(&e)?));
        let mut listing = key(company_pk(&e.company), &device_sk(&e.serial));
        listing.insert("kind".into(), s("device"));
        listing.insert("data".into(), s(json(&e)?));
        let mut items = vec![self.put(lookup, None)?, self.put(listing, None)?];
        if let Some(old) = previous.filter(|o| company_pk(&o.company) != company_pk(&e.company)) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(company_pk(&old.company), &device_sk(&e.serial))))
                .build()
                .map_err(|err| backend_msg("building a delete", err))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        match self.transact(items).await? {
            TxOutcome::Done => Ok(()),
            TxOutcome::Cancelled(reasons) => Err(cancelled("writing a device", &reasons)),
        }
    }

    async fn equipment(&self, serial: &str) -> Result<Option<Equipment>, StoreError> {
        self.get_item(lookup_pk(serial), "EQUIPMENT")
            .await?
            .map(|i| data(&i))
            .transpose()
    }

    async fn equipment_of(&self, company: &str) -> Result<Vec<Equipment>, StoreError> {
        let (items, _) = self
            .query_all(
                None,
                "pk = :p AND begins_with(sk, :d)",
                vec![(":p", s(company_pk(company))), (":d", s("DEVICE#"))],
                true,
                usize::MAX,
            )
            .await?;
        items.iter().map(data).collect()
    }
}
