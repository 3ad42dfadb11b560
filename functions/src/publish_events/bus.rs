//! The bus out: EventBridge entries, and the `Bus` the consumer puts them on.

use std::future::Future;

use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared::config::is_loopback_url;
use shared::domain::{SecurityEvent, rfc3339};
use shared::report::{self, ReportKeys};
use shared::views::SecurityEventView;

use super::SOURCE;

/// What a new-device sign-in's event carries besides what the user's log shows: the
/// "This wasn't me" link (docs/report-link.md). Made here, on the way to the bus,
/// and never written back: the table, its stream and the API never hold it.
#[derive(Debug)]
pub struct Links {
    pub keys: ReportKeys,
    /// Seconds a link works (`REPORT_LINK_TTL_SECONDS`).
    pub ttl: i64,
    /// The API's URL (`PUBLIC_BASE_URL`), where the page is.
    pub base_url: String,
}

impl Links {
    /// From the environment; none (and one line in the log) when the key or the URL
    /// is missing: events are then published without links.
    pub fn from_env() -> Result<Option<Links>, String> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let local = get("AWS_ENDPOINT_URL_DYNAMODB").is_some_and(|url| is_loopback_url(&url));
        let keys = ReportKeys::from_lookup(get, local).map_err(|e| e.to_string())?;
        let ttl = match get(report::TTL_VARIABLE) {
            None => report::DEFAULT_TTL,
            Some(raw) => raw
                .parse()
                .ok()
                .filter(|ttl| (60..=30 * 86_400).contains(ttl))
                .ok_or(format!(
                    "{}: 60 to 2592000 seconds, got {raw:?}",
                    report::TTL_VARIABLE
                ))?,
        };
        Ok(match (keys, get("PUBLIC_BASE_URL")) {
            (Some(keys), Some(base_url)) => Some(Links {
                keys,
                ttl,
                base_url,
            }),
            _ => None,
        })
    }
}

/// The EventBridge entry of an event: what `GET /security-events` shows, as the detail,
/// and for a new-device sign-in its "This wasn't me" link (`reportLink`,
/// `reportLinkExpiresAt`) when links are on.
pub fn entry(event: &SecurityEvent, bus: &str, links: Option<&Links>) -> PutEventsRequestEntry {
    let mut detail = serde_json::to_value(SecurityEventView::new(event))
        .expect("a view of strings and numbers always serializes");
    if let Some(links) = links
        && let Some((code, expires_at)) = report::issue(&links.keys, event, links.ttl)
        && let Some(fields) = detail.as_object_mut()
    {
        fields.insert(
            "reportLink".into(),
            report::link(&links.base_url, &code).into(),
        );
        fields.insert("reportLinkExpiresAt".into(), rfc3339(expires_at).into());
    }
    let detail = detail.to_string();
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
