//! Metrics in CloudWatch's embedded metric format (EMF): one JSON log line per
//! invocation, which CloudWatch Logs turns into metrics with no call from the function
//! (docs/operations.md#metrics). The wrapper of each function builds its [`Line`] from
//! the outcome (function, status, refusal code, end reason); code deeper down adds to
//! the invocation's counters with [`count`] (a revocation, a retry after a conflict).
//!
//! Dimension values are `&'static str` by type: names from the route table, status
//! codes, refusal codes and end reasons. A user id, session id or IP address is a
//! runtime string, so it cannot become a dimension (each distinct value would be a
//! metric of its own, billed, and a record of who did what).

use std::cell::RefCell;
use std::future::Future;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

/// The namespace when `METRICS_NAMESPACE` is not set (locally); the template sets one
/// per stack, so two stacks in one account never mix their metrics.
pub const DEFAULT_NAMESPACE: &str = "Flashback/DeviceSessions";

/// Every dimension a metric here may take; none names a user, session, device or
/// address (checked by tests/contract/test_operations.py against the template too).
pub const DIMENSIONS: &[&str] = &["Function", "Status", "Code", "EndReason"];

// Per request (the wrapper, from the outcome).
pub const REQUESTS: &str = "Requests";
pub const REFUSALS: &str = "Refusals";
pub const RATE_LIMITED: &str = "RateLimited";
pub const CONFLICTS: &str = "Conflicts";
// Counted where they happen ([`count`]).
pub const REVOCATIONS: &str = "Revocations";
pub const SESSIONS_ENDED: &str = "SessionsEnded";
pub const SIGN_INS_NEW_DEVICE: &str = "SignInsNewDevice";
pub const SIGN_INS_KNOWN_DEVICE: &str = "SignInsKnownDevice";
pub const CONFLICT_RETRIES: &str = "ConflictRetries";
pub const DEADLINE_UNAVAILABLE: &str = "DeadlineUnavailable";
pub const KEY_REFRESH_FAILURES: &str = "KeyRefreshFailures";
/// A DPoP refusal: how a copied or replayed token of a bound session shows.
pub const DPOP_REFUSALS: &str = "DpopRefusals";
// The authorizer.
pub const ALLOWS: &str = "Allows";
pub const DENIES: &str = "Denies";
// The stream consumer.
pub const EVENTS_PUBLISHED: &str = "EventsPublished";
pub const EVENTS_RETRIED: &str = "EventsRetried";
pub const EVENTS_SKIPPED: &str = "EventsSkipped";

/// The specification's limits: metrics per directive, dimensions per set.
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
pub const MAX_DIMENSIONS_PER_SET: usize = 30;

type Counts = Vec<(&'static str, f64)>;

tokio::task_local! {
    static COUNTS: RefCell<Counts>;
}

/// A failed key fetch at cold start, outside any invocation: the next line carries it.
static PENDING: Mutex<Counts> = Mutex::new(Vec::new());

/// Adds `n` to the counter `name` of the running invocation.
pub fn count(name: &'static str, n: usize) {
    let n = n as f64;
    let add = |counts: &mut Counts| match counts.iter_mut().find(|(k, _)| *k == name) {
        Some((_, total)) => *total += n,
        None => counts.push((name, n)),
    };
    // Outside an invocation only the cold start's key fetch is kept for the next line;
    // anything else has no invocation to belong to.
    if COUNTS.try_with(|c| add(&mut c.borrow_mut())).is_err() && name == KEY_REFRESH_FAILURES {
        add(&mut PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Runs one invocation's `work` with counters of its own; returns what it counted.
pub async fn counted<T>(work: impl Future<Output = T>) -> (T, Counts) {
    let pending = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    COUNTS
        .scope(RefCell::new(pending), async {
            let out = work.await;
            (out, COUNTS.with(|c| c.take()))
        })
        .await
}

/// One EMF line: the function and its dimensions as top-level members, each metric's
/// value as a top-level member, and the `_aws` metadata naming them.
#[derive(Debug, Clone)]
pub struct Line {
    members: Map<String, Value>,
    /// Directives: a list of dimension sets, and the metrics reported under them.
    directives: Vec<(Vec<Vec<&'static str>>, Vec<&'static str>)>,
}

impl Line {
    /// A line for `function` (a name of the route table, `authorize`, `publish-events`).
    pub fn new(function: &'static str) -> Self {
        let mut members = Map::new();
        members.insert("Function".into(), json!(function));
        Line {
            members,
            directives: Vec::new(),
        }
    }

    /// Sets the dimension `name` (one of [`DIMENSIONS`]) to `value`.
    pub fn dimension(mut self, name: &'static str, value: &'static str) -> Self {
        debug_assert!(DIMENSIONS.contains(&name), "{name} is not a dimension");
        self.members.insert(name.into(), json!(value));
        self
    }

    /// Adds `value` (a count) to the metric `name`, reported under each of `sets`.
    pub fn count(mut self, name: &'static str, value: f64, sets: &[&[&'static str]]) -> Self {
        let sets: Vec<Vec<&'static str>> = sets.iter().map(|set| set.to_vec()).collect();
        let total = self
            .members
            .get(name)
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
            + value;
        self.members.insert(name.into(), json!(total));
        match self.directives.iter_mut().find(|(s, _)| *s == sets) {
            Some((_, metrics)) if !metrics.contains(&name) => metrics.push(name),
            Some(_) => {}
            None => self.directives.push((sets, vec![name])),
        }
        self
    }

    /// The invocation's counters, each by function.
    pub fn counters(self, counts: &[(&'static str, f64)]) -> Self {
        counts.iter().fold(self, |line, (name, value)| {
            line.count(name, *value, &[&["Function"]])
        })
    }

    /// The line as JSON, stamped `at` (milliseconds since the epoch). It also carries
    /// `level` and an RFC 3339 `timestamp`, as every line here does, so Lambda's log
    /// filter reads it as INFO (docs/operations.md#metrics).
    pub fn to_json(&self, namespace: &str, at: std::time::SystemTime) -> Value {
        let at = time::OffsetDateTime::from(at);
        let directives: Vec<Value> = self
            .directives
            .iter()
            .flat_map(|(sets, metrics)| {
                metrics
                    .chunks(MAX_METRICS_PER_DIRECTIVE)
                    .map(move |chunk| (sets, chunk))
            })
            .map(|(sets, metrics)| {
                json!({
                    "Namespace": namespace,
                    "Dimensions": sets,
                    "Metrics": metrics
                        .iter()
                        .map(|name| json!({ "Name": name, "Unit": "Count" }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut line = self.members.clone();
        let millis = (at.unix_timestamp_nanos() / 1_000_000) as i64;
        line.insert(
            "_aws".into(),
            json!({ "Timestamp": millis, "CloudWatchMetrics": directives }),
        );
        line.insert("level".into(), json!("INFO"));
        let rfc3339 = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        line.insert("timestamp".into(), json!(rfc3339));
        line.insert("message".into(), json!("metrics"));
        Value::Object(line)
    }

    /// Writes the line to stdout, where Lambda hands it to CloudWatch Logs.
    pub fn emit(&self) {
        let line = self.to_json(&namespace(), std::time::SystemTime::now());
        println!("{line}");
    }
}

/// `METRICS_NAMESPACE`, else [`DEFAULT_NAMESPACE`].
pub fn namespace() -> String {
    std::env::var("METRICS_NAMESPACE")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
}

/// A status code as a dimension value: the codes this service answers, else `other`.
pub fn status_dimension(status: u16) -> &'static str {
    const KNOWN: &[&str] = &[
        "200", "201", "204", "400", "401", "403", "404", "405", "409", "413", "415", "429", "500",
        "503",
    ];
    let text = status.to_string();
    KNOWN
        .iter()
        .find(|known| **known == text)
        .unwrap_or(&"other")
}

/// The line of one answered request: `Requests` by function and status; a refusal by
/// its code and, for an ended session, its reason; 429s and 409s by name; and what
/// the invocation counted.
pub fn request_line(
    function: &'static str,
    status: u16,
    code: Option<&'static str>,
    reason: Option<&'static str>,
    counts: &[(&'static str, f64)],
) -> Line {
    let mut line = Line::new(function)
        .dimension("Status", status_dimension(status))
        .count(REQUESTS, 1.0, &[&["Function", "Status"]]);
    if let Some(code) = code {
        line = line
            .dimension("Code", code)
            .count(REFUSALS, 1.0, &[&["Function", "Code"]]);
    }
    if let Some(reason) = reason {
        // The same refusal (one member, one value) reported under a second set.
        line =
            line.dimension("EndReason", reason)
                .count(REFUSALS, 0.0, &[&["Function", "EndReason"]]);
    }
    match status {
        429 => line = line.count(RATE_LIMITED, 1.0, &[&["Function"]]),
        409 => line = line.count(CONFLICTS, 1.0, &[&["Function"]]),
        _ => {}
    }
    line.counters(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `line` against the embedded metric format's specification
    /// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
    /// a root object with `_aws`, whose `Timestamp` is an integer of milliseconds and
    /// whose `CloudWatchMetrics` is an array of directives, each with a `Namespace`
    /// string, `Dimensions` an array of arrays of strings (each a top-level member
    /// whose value is a string, at most 30 per set), and `Metrics` an array of at
    /// most 100 `{Name, Unit}`, each name a top-level member holding a number (or an
    /// array of at most 100 numbers). Returns what is wrong, if anything.
    pub(crate) fn emf_violations(line: &Value) -> Vec<String> {
        let mut wrong = Vec::new();
        let Some(root) = line.as_object() else {
            return vec!["the line is not a JSON object".into()];
        };
        let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
            return vec!["no _aws object".into()];
        };
        if !aws.get("Timestamp").is_some_and(|t| t.is_u64()) {
            wrong.push("_aws.Timestamp is not an integer of milliseconds".into());
        }
        let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
            wrong.push("_aws.CloudWatchMetrics is not an array".into());
            return wrong;
        };
        if directives.is_empty() {
            wrong.push("no metric directive".into());
        }
        const UNITS: &[&str] = &["Count", "Milliseconds", "Seconds", "None", "Percent"];
        for directive in directives {
            let namespace = directive.get("Namespace").and_then(Value::as_str);
            if !namespace.is_some_and(|n| (1..=255).contains(&n.len())) {
                wrong.push(format!("a directive without a Namespace: {directive}"));
            }
            match directive.get("Dimensions").and_then(Value::as_array) {
                None => wrong.push(format!("Dimensions is not an array: {directive}")),
                Some(sets) => {
                    for set in sets {
                        let Some(keys) = set.as_array() else {
                            wrong.push(format!("a dimension set is not an array: {set}"));
                            continue;
                        };
                        if keys.len() > MAX_DIMENSIONS_PER_SET {
                            wrong.push(format!("more than 30 dimensions: {set}"));
                        }
                        for key in keys {
                            let member = key.as_str().and_then(|k| root.get(k));
                            if !member.is_some_and(Value::is_string) {
                                wrong.push(format!("dimension {key} is not a string member"));
                            }
                        }
                    }
                }
            }
            match directive.get("Metrics").and_then(Value::as_array) {
                None => wrong.push(format!("Metrics is not an array: {directive}")),
                Some(metrics) => {
                    if metrics.len() > MAX_METRICS_PER_DIRECTIVE {
                        wrong.push("more than 100 metrics in a directive".into());
                    }
                    for metric in metrics {
                        let name = metric.get("Name").and_then(Value::as_str).unwrap_or("");
                        if !(1..=255).contains(&name.len()) {
                            wrong.push(format!("a metric without a Name: {metric}"));
                        }
                        let unit = metric.get("Unit").and_then(Value::as_str);
                        if unit.is_some_and(|u| !UNITS.contains(&u)) {
                            wrong.push(format!("unit {unit:?} of {name}"));
                        }
                        let numeric = match root.get(name) {
                            Some(Value::Number(_)) => true,
                            Some(Value::Array(values)) => {
                                values.len() <= 100 && values.iter().all(Value::is_number)
                            }
                            _ => false,
                        };
                        if !numeric {
                            wrong.push(format!("metric {name} has no numeric member"));
                        }
                    }
                }
            }
        }
        wrong
    }

    fn at() -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_790_000_000_123_456_789)
    }

    #[test]
    fn every_kind_of_line_meets_the_specification() {
        let counts = [
            (REVOCATIONS, 1.0),
            (SESSIONS_ENDED, 3.0),
            (CONFLICT_RETRIES, 2.0),
        ];
        let lines = [
            request_line("revoke-all-sessions", 200, None, None, &counts),
            request_line(
                "list-devices",
                401,
                Some("SESSION_ENDED"),
                Some("REVOKED"),
                &[],
            ),
            request_line("trust-device", 429, Some("RATE_LIMITED"), None, &[]),
            request_line("register-session", 409, Some("CONFLICT"), None, &counts),
            Line::new("authorize")
                .dimension("Code", "INVALID_TOKEN")
                .count(DENIES, 1.0, &[&["Function"], &["Function", "Code"]]),
            Line::new("publish-events").counters(&[(EVENTS_PUBLISHED, 10.0)]),
        ];
        for line in lines {
            let json = line.to_json(DEFAULT_NAMESPACE, at());
            assert_eq!(emf_violations(&json), Vec::<String>::new(), "{json}");
            assert_eq!(json["_aws"]["Timestamp"], 1_790_000_000_123u64);
            assert_eq!(json["level"], "INFO");
            assert_eq!(json["timestamp"], "2026-09-21T14:13:20.123456789Z");
        }
    }

    #[test]
    fn the_check_finds_what_breaks_the_specification() {
        let good = request_line("list-devices", 404, Some("DEVICE_NOT_FOUND"), None, &[])
            .to_json(DEFAULT_NAMESPACE, at());
        let broken = |edit: fn(&mut Value)| {
            let mut line = good.clone();
            edit(&mut line);
            emf_violations(&line)
        };
        assert!(!broken(|l| l["_aws"]["Timestamp"] = json!("2026-01-01")).is_empty());
        assert!(!broken(|l| l["_aws"]["Timestamp"] = json!(1.5)).is_empty());
        assert!(
            !broken(|l| l.as_object_mut().unwrap().remove("Status").map_or((), drop)).is_empty()
        );
        assert!(!broken(|l| l["Requests"] = json!("1")).is_empty());
        assert!(
            !broken(|l| l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!(["Function"]))
                .is_empty()
        );
        assert!(
            !broken(|l| l["_aws"]["CloudWatchMetrics"][0]
                .as_object_mut()
                .unwrap()
                .remove("Namespace")
                .map_or((), drop))
            .is_empty()
        );
        let many: Vec<Value> = (0..31).map(|_| json!("Function")).collect();
        let mut line = good.clone();
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([many]);
        assert!(!emf_violations(&line).is_empty());
    }

    #[test]
    fn a_refusal_is_counted_by_code_and_by_end_reason() {
        let json = request_line(
            "list-devices",
            401,
            Some("SESSION_ENDED"),
            Some("REVOKED"),
            &[],
        )
        .to_json(DEFAULT_NAMESPACE, at());
        let directives = json["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        let sets: Vec<&Value> = directives.iter().map(|d| &d["Dimensions"]).collect();
        assert!(sets.contains(&&json!([["Function", "Status"]])), "{json}");
        assert!(sets.contains(&&json!([["Function", "Code"]])), "{json}");
        assert!(
            sets.contains(&&json!([["Function", "EndReason"]])),
            "{json}"
        );
        assert_eq!(json["Refusals"], 1.0);
        assert_eq!(
            (json["Code"].as_str(), json["EndReason"].as_str()),
            (Some("SESSION_ENDED"), Some("REVOKED"))
        );
    }

    #[test]
    fn many_metrics_are_split_into_directives_of_at_most_100() {
        let names: Vec<&'static str> = (0..150)
            .map(|i| &*Box::leak(format!("M{i}").into_boxed_str()))
            .collect();
        let counts: Vec<_> = names.iter().map(|n| (*n, 1.0)).collect();
        let json = Line::new("list-devices")
            .counters(&counts)
            .to_json(DEFAULT_NAMESPACE, at());
        assert_eq!(
            json["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(),
            2
        );
        assert_eq!(emf_violations(&json), Vec::<String>::new());
    }

    #[test]
    fn only_named_dimensions_and_static_values() {
        for line in [
            request_line("revoke-session", 200, None, None, &[(REVOCATIONS, 1.0)]),
            request_line(
                "get-device",
                401,
                Some("SESSION_ENDED"),
                Some("EXPIRED"),
                &[],
            ),
        ] {
            let json = line.to_json(DEFAULT_NAMESPACE, at());
            for directive in json["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                for set in directive["Dimensions"].as_array().unwrap() {
                    for key in set.as_array().unwrap() {
                        assert!(DIMENSIONS.contains(&key.as_str().unwrap()), "{key}");
                    }
                }
            }
        }
        assert_eq!(status_dimension(404), "404");
        assert_eq!(status_dimension(418), "other");
    }

    #[tokio::test]
    async fn counts_belong_to_their_invocation_and_cold_start_counts_to_the_next() {
        count(KEY_REFRESH_FAILURES, 1);
        count(REVOCATIONS, 1);
        let ((), first) = counted(async {
            count(REVOCATIONS, 1);
            count(SESSIONS_ENDED, 2);
            count(SESSIONS_ENDED, 3);
        })
        .await;
        // Other tests may fail key fetches meanwhile: at least this one.
        let refresh = first.iter().find(|(name, _)| *name == KEY_REFRESH_FAILURES);
        assert!(refresh.is_some_and(|(_, n)| *n >= 1.0), "{first:?}");
        assert!(
            first.contains(&(REVOCATIONS, 1.0)),
            "only the invocation's own"
        );
        assert!(first.contains(&(SESSIONS_ENDED, 5.0)));
        let ((), second) = counted(async {}).await;
        assert!(
            !second.iter().any(|(name, _)| *name == REVOCATIONS),
            "{second:?}"
        );
    }
}
