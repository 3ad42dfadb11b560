//! `publish-events` — not a route: the consumer of the table's DynamoDB stream, which
//! puts every security event (and every session expired by TTL) on EventBridge, in
//! order, 10 per call. It answers with a partial-batch response, so a failure resumes
//! at the first record not published and a record that cannot be read never holds the
//! stream back. Logs name the event and its user, never the IP address or User-Agent
//! it carries. What goes on the bus, and when: docs/security-events.md.

mod bus;
mod decide;
mod record;

use std::time::Duration;

use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde_json::Value;
use shared::{Deadline, metrics};

pub use bus::{Bus, Links, entry};
pub use decide::{Decision, decide, expired_session};
pub use record::{BatchResponse, Item, ItemFailure, StreamEvent, attribute, image};

/// The `source` of every event this service puts on the bus; rules select the
/// service's events with `{"source": ["flashback.device-sessions"]}`.
pub const SOURCE: &str = "flashback.device-sessions";

/// The bus when `EVENT_BUS_NAME` is not set: the account's default bus.
pub const DEFAULT_EVENT_BUS: &str = "default";

/// Entries PutEvents accepts in one call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

/// Time kept before the invocation's deadline: one PutEvents call is bounded to ~4 s by
/// the SDK configuration, so none starts with less than this left.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// Publishes the batch's events in order, 10 per call, and says where the stream must
/// resume: nowhere (all done), or at the first record not published. Stops there;
/// events after it in the same call that were put are put again on the retry (same id).
pub async fn publish(
    bus: &impl Bus,
    bus_name: &str,
    links: Option<&Links>,
    records: &[Value],
    deadline: Deadline,
) -> BatchResponse {
    let mut pending = Vec::new();
    for record in records {
        match decide(record) {
            (Some(sequence), Decision::Publish(event)) => pending.push((sequence, event)),
            (_, Decision::Ignore) => {}
            (sequence, decision) => {
                let why = match decision {
                    Decision::Skip(why) => why,
                    _ => "a record without a sequence number".to_string(),
                };
                let event_id = record.get("eventID").and_then(Value::as_str);
                tracing::warn!(sequence, event_id, why, "stream record skipped");
                metrics::count(metrics::EVENTS_SKIPPED, 1);
            }
        }
    }
    // What is left to publish: retried from the stream when the batch stops early.
    let mut left = pending.len();
    let retried = |left: usize| metrics::count(metrics::EVENTS_RETRIED, left);
    for chunk in pending.chunks(MAX_ENTRIES_PER_CALL) {
        let first = &chunk[0].0;
        if deadline
            .remaining()
            .is_some_and(|left| left < DEADLINE_MARGIN)
        {
            tracing::warn!(sequence = %first, "the invocation's deadline is near: the rest is retried");
            retried(left);
            return BatchResponse::retry_from(first);
        }
        let entries = chunk
            .iter()
            .map(|(_, event)| entry(event, bus_name, links))
            .collect();
        let results = match bus.put(entries).await {
            Ok(results) => results,
            Err(error) => {
                tracing::warn!(sequence = %first, %error, "PutEvents failed: retried from this record");
                retried(left);
                return BatchResponse::retry_from(first);
            }
        };
        let mut failed = None;
        for (i, (sequence, event)) in chunk.iter().enumerate() {
            match results.get(i) {
                Some(Ok(())) => {
                    metrics::count(metrics::EVENTS_PUBLISHED, 1);
                    // One put after a failure is put again on the retry (same id).
                    if failed.is_none() {
                        left -= 1;
                    }
                    tracing::info!(
                        event_type = event.event_type.as_str(),
                        event_id = %event.id,
                        user = event.user.as_str(),
                        "published"
                    )
                }
                outcome => {
                    let code = match outcome {
                        Some(Err(code)) => code.as_str(),
                        _ => "NoResult",
                    };
                    tracing::warn!(event_id = %event.id, %sequence, code, "event not published");
                    failed = failed.or(Some(sequence));
                }
            }
        }
        if let Some(sequence) = failed {
            retried(left);
            return BatchResponse::retry_from(sequence);
        }
    }
    BatchResponse::default()
}

/// Runs the consumer as a Lambda function (`src/bin/publish-events.rs`).
pub async fn run() -> Result<(), lambda_runtime::Error> {
    shared::runtime::init_logging();
    let bus_name = std::env::var("EVENT_BUS_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| DEFAULT_EVENT_BUS.to_string());
    // New-device sign-ins' "This wasn't me" links (docs/report-link.md).
    let links = Links::from_env()?;
    if links.is_none() {
        tracing::warn!("no REPORT_LINK_KEY or PUBLIC_BASE_URL: events go without report links");
    }
    // The same time bounds as the DynamoDB client of every route.
    let client = aws_sdk_eventbridge::Client::new(&shared::App::sdk_config().await);
    let (client, bus_name, links) = (&client, bus_name.as_str(), links.as_ref());
    lambda_runtime::run(service_fn(|event: LambdaEvent<StreamEvent>| async move {
        let deadline = Deadline::of(&event.context);
        let work = publish(client, bus_name, links, &event.payload.records, deadline);
        let (response, counts) = metrics::counted(work).await;
        metrics::Line::new("publish-events")
            .counters(&counts)
            .emit();
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}

#[cfg(test)]
mod tests;
