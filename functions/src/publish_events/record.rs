//! Stream records in: what Lambda hands the consumer, read one record at a time, and
//! the partial-batch response it answers with.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An item as the AWS SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

/// What Lambda passes: the batch of stream records. Each record is read on its own, so
/// one malformed record cannot fail the batch.
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<Value>,
}

/// The partial-batch response (`ReportBatchItemFailures`): empty when every record is
/// done, else the sequence number of the first record not published.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchResponse {
    pub(super) fn retry_from(sequence_number: &str) -> Self {
        BatchResponse {
            batch_item_failures: vec![ItemFailure {
                item_identifier: sequence_number.to_string(),
            }],
        }
    }
}

/// One stream record, as Lambda delivers it (the fields used).
#[derive(Debug, Deserialize)]
pub(super) struct Record {
    #[serde(rename = "eventID")]
    pub(super) event_id: String,
    #[serde(rename = "eventName")]
    pub(super) event_name: String,
    pub(super) dynamodb: Change,
    #[serde(rename = "userIdentity")]
    pub(super) user_identity: Option<UserIdentity>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Change {
    #[serde(rename = "Keys", default)]
    pub(super) keys: Map<String, Value>,
    #[serde(rename = "NewImage")]
    pub(super) new_image: Option<Map<String, Value>>,
    #[serde(rename = "OldImage")]
    pub(super) old_image: Option<Map<String, Value>>,
    #[serde(rename = "SequenceNumber")]
    pub(super) sequence_number: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct UserIdentity {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(rename = "principalId")]
    pub(super) principal_id: String,
}

/// A stream image (`{"PK": {"S": "…"}, "count": {"N": "3"}, …}`) as an SDK item, so
/// that the store's own readers (`event_from`) parse it.
pub fn image(image: &Map<String, Value>) -> Result<Item, String> {
    image
        .iter()
        .map(|(name, value)| {
            Ok((
                name.clone(),
                attribute(value).map_err(|e| format!("{name}: {e}"))?,
            ))
        })
        .collect()
}

/// One attribute value in DynamoDB's JSON: an object with exactly one type key.
pub fn attribute(value: &Value) -> Result<AttributeValue, String> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or("not a typed value")?;
    let (kind, inner) = object.iter().next().ok_or("not a typed value")?;
    let string = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .ok_or(format!("{kind} is not a string"))
    };
    let strings = |v: &Value| -> Result<Vec<String>, String> {
        v.as_array()
            .ok_or(format!("{kind} is not a list"))?
            .iter()
            .map(string)
            .collect()
    };
    let blob = |v: &Value| -> Result<Blob, String> {
        let encoded = v.as_str().ok_or(format!("{kind} is not base64"))?;
        aws_smithy_types::base64::decode(encoded)
            .map(Blob::new)
            .map_err(|_| format!("{kind} is not base64"))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(string(inner)?),
        "N" => AttributeValue::N(string(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or("BOOL is not a boolean")?),
        "NULL" => AttributeValue::Null(inner.as_bool().ok_or("NULL is not a boolean")?),
        "M" => AttributeValue::M(image(inner.as_object().ok_or("M is not a map")?)?),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .ok_or("L is not a list")?
                .iter()
                .map(attribute)
                .collect::<Result<_, _>>()?,
        ),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "B" => AttributeValue::B(blob(inner)?),
        "BS" => AttributeValue::Bs(
            inner
                .as_array()
                .ok_or("BS is not a list")?
                .iter()
                .map(blob)
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("unknown type {other}")),
    })
}
