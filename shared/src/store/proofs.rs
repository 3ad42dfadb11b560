//! The memory of spent DPoP proofs (docs/device-binding.md "Replay"): one small item
//! per proof, keyed by its key's thumbprint and its `jti`'s hash, in a partition of its
//! own (account reads never meet it), kept by TTL only as long as the proof could be
//! accepted. The stream consumer's filter never delivers these items.

use aws_sdk_dynamodb::operation::put_item::PutItemError;

use crate::auth::dpop::Proof;
use crate::error::Error;

use super::codec::{n, s};
use super::transact::fault;
use super::{PROOFS, Store, TTL_ATTRIBUTE};

impl Store {
    /// Spends `proof`: `true` the first time it is seen, `false` for a replay. One
    /// conditional PutItem (1 write unit), so of two requests racing with one proof,
    /// exactly one gets `true`.
    pub async fn remember_proof(&self, proof: &Proof) -> Result<bool, Error> {
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(format!("{PROOFS}{}", proof.thumbprint)))
            .item("SK", s(&proof.jti))
            // Past the last moment it could be accepted: TTL may take it then.
            .item(TTL_ATTRIBUTE, n(proof.usable_until + 1))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(fault(error)),
        }
    }
}
