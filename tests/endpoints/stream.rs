//! The table's stream, read from a point on: the order in which changes committed.
//! DynamoDB Local numbers every stream record in one sequence as it commits, so the
//! race tests compare sequence numbers to tell what committed before what (on AWS the
//! order is only promised per item; these tests run against DynamoDB Local).

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};

/// One change: what happened to which item, at which place in the commit order.
#[derive(Debug, Clone)]
pub struct Change {
    pub sequence: u128,
    pub operation: Option<OperationType>,
    pub keys: HashMap<String, AttributeValue>,
    pub new_image: HashMap<String, AttributeValue>,
}

impl Change {
    pub fn text(&self, attribute: &str) -> Option<&str> {
        let value = self
            .keys
            .get(attribute)
            .or_else(|| self.new_image.get(attribute))?;
        value.as_s().ok().map(String::as_str)
    }
}

/// The stream from the moment `StreamTail::start` returned.
pub struct StreamTail {
    client: Client,
    stream_arn: String,
    /// Per open shard, its id and where to read next.
    iterators: Vec<(String, String)>,
}

impl StreamTail {
    pub async fn start(table: &str) -> Self {
        let sdk = shared::App::sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let table = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("DescribeTable");
        let stream_arn = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .expect("the table has a stream (template.yaml)")
            .to_string();
        let client = Client::new(&sdk);
        let mut iterators = Vec::new();
        for shard in shards(&client, &stream_arn).await {
            let open = shard
                .sequence_number_range()
                .is_none_or(|r| r.ending_sequence_number().is_none());
            if open {
                let id = shard.shard_id().unwrap();
                let at = iterator(&client, &stream_arn, id, ShardIteratorType::Latest).await;
                iterators.push((id.to_string(), at));
            }
        }
        StreamTail {
            client,
            stream_arn,
            iterators,
        }
    }

    /// Every change committed since `start` (or the last call), in commit order.
    pub async fn changes(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut pending = std::mem::take(&mut self.iterators);
        while let Some((shard, mut position)) = pending.pop() {
            loop {
                let answer = self
                    .client
                    .get_records()
                    .shard_iterator(&position)
                    .send()
                    .await
                    .expect("GetRecords");
                changes.extend(answer.records().iter().map(change));
                match (answer.next_shard_iterator(), answer.records().is_empty()) {
                    (Some(next), false) => position = next.to_string(),
                    // Read up to now: go on from here next time.
                    (Some(next), true) => {
                        self.iterators.push((shard, next.to_string()));
                        break;
                    }
                    // Closed (DynamoDB rotates shards): its children, from their start.
                    (None, _) => {
                        for child in shards(&self.client, &self.stream_arn).await {
                            let id = child.shard_id().unwrap();
                            if child.parent_shard_id() == Some(shard.as_str()) {
                                let at = iterator(
                                    &self.client,
                                    &self.stream_arn,
                                    id,
                                    ShardIteratorType::TrimHorizon,
                                );
                                pending.push((id.to_string(), at.await));
                            }
                        }
                        break;
                    }
                }
            }
        }
        changes.sort_by_key(|c| c.sequence);
        changes
    }
}

async fn shards(client: &Client, stream_arn: &str) -> Vec<aws_sdk_dynamodbstreams::types::Shard> {
    let mut shards = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let answer = client
            .describe_stream()
            .stream_arn(stream_arn)
            .set_exclusive_start_shard_id(after)
            .send()
            .await
            .expect("DescribeStream");
        let description = answer.stream_description().expect("a stream description");
        shards.extend(description.shards().iter().cloned());
        match description.last_evaluated_shard_id() {
            Some(last) => after = Some(last.to_string()),
            None => return shards,
        }
    }
}

async fn iterator(
    client: &Client,
    stream_arn: &str,
    shard: &str,
    kind: ShardIteratorType,
) -> String {
    client
        .get_shard_iterator()
        .stream_arn(stream_arn)
        .shard_id(shard)
        .shard_iterator_type(kind)
        .send()
        .await
        .expect("GetShardIterator")
        .shard_iterator()
        .expect("an iterator")
        .to_string()
}

fn change(record: &Record) -> Change {
    let data = record.dynamodb().expect("a change");
    Change {
        sequence: data
            .sequence_number()
            .and_then(|n| n.parse().ok())
            .expect("a numeric sequence number"),
        operation: record.event_name().cloned(),
        keys: data.keys().cloned().unwrap_or_default(),
        new_image: data.new_image().cloned().unwrap_or_default(),
    }
}
