//! A DynamoDB endpoint in front of the emulator that answers chosen requests itself,
//! with the errors real DynamoDB sends and the emulator never does (throttling,
//! transaction conflicts), loses the answers of others as a network would, and passes
//! every other request on unchanged. The service talks to it through the real SDK, as
//! it would to DynamoDB. It counts the requests of each operation.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the front does with one request.
pub enum Verdict {
    /// Pass it on and hand back the emulator's answer.
    Pass,
    /// Answer it with this DynamoDB error body; the emulator never sees it.
    Refuse(String),
    /// Pass it on, so it runs, then close the connection without answering: the
    /// answer lost on the way back, as a timeout or a network fault loses it.
    LoseAnswer,
}

/// Decides, from a request's operation (`TransactWriteItems` …) and JSON body.
type Decide = dyn Fn(&str, &Value) -> Verdict + Send + Sync;

#[derive(Default)]
struct Log {
    operations: Vec<String>,
}

pub struct Front {
    pub endpoint: String,
    log: Arc<Mutex<Log>>,
}

impl Front {
    /// A front answering the requests `answer` picks (`Some(error body)`) and passing
    /// on the rest.
    pub async fn start(
        answer: impl Fn(&str, &Value) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self::deciding(move |operation, request| match answer(operation, request) {
            Some(error) => Verdict::Refuse(error),
            None => Verdict::Pass,
        })
        .await
    }

    pub async fn deciding(
        decide: impl Fn(&str, &Value) -> Verdict + Send + Sync + 'static,
    ) -> Self {
        let decide: Arc<Decide> = Arc::new(decide);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Log::default()));
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, decide.clone(), kept.clone()));
            }
        });
        Front { endpoint, log }
    }

    /// How many requests of `operation` reached the front, answered or passed on.
    pub fn count(&self, operation: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.operations.iter().filter(|o| *o == operation).count()
    }
}

/// A DynamoDB error response body of the given type.
pub fn error(kind: &str, extra: Value) -> String {
    let mut body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": kind,
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body.to_string()
}

/// A transaction cancelled because another transaction holds its first item, with
/// one reason per action as DynamoDB gives them.
pub fn transaction_conflict(request: &Value) -> String {
    let actions = request["TransactItems"].as_array().map_or(1, Vec::len);
    let reasons: Vec<Value> = (0..actions)
        .map(|i| match i {
            0 => json!({ "Code": "TransactionConflict", "Message": "Transaction is ongoing for the item" }),
            _ => json!({ "Code": "None" }),
        })
        .collect();
    error(
        "TransactionCanceledException",
        json!({ "CancellationReasons": reasons }),
    )
}

async fn serve(mut socket: TcpStream, decide: Arc<Decide>, log: Arc<Mutex<Log>>) {
    let mut buffer = Vec::new();
    while let Some((head, body)) = read_request(&mut socket, &mut buffer).await {
        let operation = header(&head, "x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_string();
        log.lock().unwrap().operations.push(operation.clone());
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let verdict = decide(&operation, &request);
        let response = match verdict {
            Verdict::Refuse(error) => format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{error}",
                error.len()
            )
            .into_bytes(),
            // One connection to the emulator per request, closed by both ends after
            // it: the response's framing then needs no reading here.
            Verdict::Pass | Verdict::LoseAnswer => {
                let Some(response) = pass_on(&head, &body).await else {
                    return;
                };
                if !matches!(verdict, Verdict::LoseAnswer) {
                    let _ = socket.write_all(&response).await;
                }
                return;
            }
        };
        if socket.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// Sends the request to the emulator (`AWS_ENDPOINT_URL_DYNAMODB`) with
/// `connection: close` and returns its whole response, marked `connection: close`.
async fn pass_on(head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let emulator = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok()?;
    let address = emulator.trim_start_matches("http://").trim_end_matches('/');
    let mut upstream = TcpStream::connect(address).await.ok()?;
    upstream.write_all(&closing(head)).await.ok()?;
    upstream.write_all(body).await.ok()?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response).await.ok()?;
    let end = find(&response, b"\r\n\r\n")?;
    let mut whole = closing(&String::from_utf8_lossy(&response[..end]));
    whole.extend_from_slice(&response[end + 4..]);
    Some(whole)
}

/// A message head with any `connection` header replaced by `connection: close`, and
/// the blank line that ends it.
fn closing(head: &str) -> Vec<u8> {
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}

/// One HTTP/1.1 request: its head (without the blank line) and its Content-Length
/// body; what follows stays in `buffer`. `None` once the client hangs up.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = header(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let body = buffer[end + 4..end + 4 + length].to_vec();
                buffer.drain(..end + 4 + length);
                return Some((head, body));
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
