//! The devices page's hand-off codes (`crate::handoff`): one item per code, in a
//! partition of its own — never a user's, so no account read ever fetches one — holding
//! only the sealed credentials and the expiry (docs/design.md, "Data").

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::actions::Budget;
use super::codec::{n, number, s};
use super::transact::{Role, explain, fault};
use super::{Item, Store, TTL_ATTRIBUTE};
use crate::auth::Identity;
use crate::domain::Epoch;
use crate::error::Error;

/// The partition key prefix of a hand-off code's item, and its sort key.
pub const PAGE_CODE: &str = "PAGECODE#";
pub const PAGE_CODE_SK: &str = "CODE";

/// A code's item as taken from the table: what `handoff::open` needs.
#[derive(Debug)]
pub struct SealedHandoff {
    pub sealed: Vec<u8>,
    pub expires_at: Epoch,
}

fn key(storage_key: &str) -> Item {
    HashMap::from([
        ("PK".to_string(), s(format!("{PAGE_CODE}{storage_key}"))),
        ("SK".to_string(), s(PAGE_CODE_SK)),
    ])
}

impl Store {
    /// Stores a new code's sealed credentials until `expires_at` (TTL cleans up after;
    /// [`Store::take_handoff`] enforces the expiry itself), spending one write of the
    /// calling session's budget in the same transaction: a token can mint codes no
    /// faster than its session may write (429 past it, nothing stored).
    pub async fn put_handoff(
        &self,
        identity: &Identity,
        storage_key: &str,
        sealed: Vec<u8>,
        expires_at: Epoch,
        now: Epoch,
    ) -> Result<(), Error> {
        let mut item = key(storage_key);
        item.insert("sealed".into(), AttributeValue::B(Blob::new(sealed)));
        item.insert("expiresAt".into(), n(expires_at));
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
        let budget = Budget::Session(&identity.session_id);
        let actions = vec![
            self.rate_limit(&identity.user_id, budget, now)?,
            // 256 random bits never meet, but a code is never stored over another.
            (self.create(item)?, Role::Other),
        ];
        self.transact(actions).await.map_err(explain)
    }

    /// Takes a code's item: deletes it if it is there and not expired, and answers what
    /// it held — in one conditional DeleteItem, so of any number of redeems racing for
    /// one code exactly one gets it. Unknown, used and expired all answer none. (A
    /// delete whose answer is lost and is tried again answers none too: the code is
    /// spent, never handed out twice.)
    pub async fn take_handoff(
        &self,
        storage_key: &str,
        now: Epoch,
    ) -> Result<Option<SealedHandoff>, Error> {
        let taken = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(storage_key)))
            .condition_expression("attribute_exists(PK) AND expiresAt > :now")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match taken {
            Ok(output) => output.attributes,
            Err(SdkError::ServiceError(context))
                if matches!(
                    context.err(),
                    DeleteItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(fault(error)),
        };
        let Some(old) = old else {
            return Ok(None);
        };
        let sealed = match old.get("sealed") {
            Some(AttributeValue::B(blob)) => blob.clone().into_inner(),
            _ => return Ok(None),
        };
        Ok(number(&old, "expiresAt").map(|expires_at| SealedHandoff { sealed, expires_at }))
    }
}
