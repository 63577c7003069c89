//! Staff accounts on the table: one partition `STAFF`, sorted by address, so one account is
//! a GetItem and the list is one Query (never a scan).

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use mesa::model::StaffMember;
use mesa::ports::{StaffStore, StoreError};
use mesa::types::address_key;

use super::{DynamoStore, Item, data, json, key, s, sdk};

const STAFF_PK: &str = "STAFF";

fn staff_item(m: &StaffMember) -> Result<Item, StoreError> {
    let mut item = key(STAFF_PK.into(), &address_key(&m.email));
    item.insert("kind".into(), s("staff"));
    item.insert("data".into(), s(json(m)?));
    Ok(item)
}

#[async_trait]
impl StaffStore for DynamoStore {
    async fn create_staff(&self, member: &StaffMember) -> Result<bool, StoreError> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(staff_item(member)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(sdk("PutItem")(e)),
        }
    }

    async fn put_staff(&self, member: &StaffMember) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(staff_item(member)?))
            .send()
            .await
            .map_err(sdk("PutItem"))?;
        Ok(())
    }

    async fn staff(&self, email: &str) -> Result<Option<StaffMember>, StoreError> {
        self.get_item(STAFF_PK.into(), &address_key(email))
            .await?
            .map(|i| data(&i))
            .transpose()
    }

    async fn list_staff(&self) -> Result<Vec<StaffMember>, StoreError> {
        let (items, _) = self
            .query_all(None, "pk = :p", vec![(":p", s(STAFF_PK))], true, usize::MAX)
            .await?;
        items.iter().map(data).collect()
    }
}
