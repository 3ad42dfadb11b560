//! The bus out: EventBridge entries, and the `Bus` the consumer puts them on.

use std::future::Future;

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared::domain::SecurityEvent;
use shared::views::SecurityEventView;

use super::SOURCE;

/// The EventBridge entry of an event: what `GET /security-events` shows, as the detail.
pub fn entry(event: &SecurityEvent, bus: &str) -> PutEventsRequestEntry {
    let detail = serde_json::to_string(&SecurityEventView::new(event))
        .expect("a view of strings and numbers always serializes");
    PutEventsRequestEntry::builder()
        .source(SOURCE)
        .detail_type(event.event_type.as_str())
        .detail(detail)
        .time(DateTime::from_millis(event.at_millis))
        .event_bus_name(bus)
        .build()
}

/// Where entries go: EventBridge, or a stand-in in the tests.
pub trait Bus {
    /// Puts at most [`super::MAX_ENTRIES_PER_CALL`] entries. `Ok`: one outcome per entry, in
    /// order (`Err` with the error code of an entry refused). `Err`: the call failed.
    fn put(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> impl Future<Output = Result<Vec<Result<(), String>>, String>> + Send;
}

impl Bus for aws_sdk_eventbridge::Client {
    async fn put(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> Result<Vec<Result<(), String>>, String> {
        let sent = entries.len();
        let output = self
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| match e.code() {
                // The service's answer: its code and message, not the raw response.
                Some(code) => format!("{code}: {}", e.message().unwrap_or_default()),
                None => aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string(),
            })?;
        if output.failed_entry_count() > 0 {
            tracing::warn!(
                failed = output.failed_entry_count(),
                sent,
                "PutEvents refused entries"
            );
        }
        let results = output.entries();
        // One result per entry, in order; an entry without a result was not put.
        Ok((0..sent)
            .map(|i| match results.get(i) {
                Some(r) if r.error_code().is_none() && r.event_id().is_some() => Ok(()),
                Some(r) => Err(r.error_code().unwrap_or("NoEventId").to_string()),
                None => Err("NoResult".to_string()),
            })
            .collect())
    }
}
