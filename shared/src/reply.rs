//! The success envelope: `{"success": true, "data": …, "message"?: …}` plus the
//! documented top-level keys the published client reads (docs/api.md). Failures are
//! rendered by `error.rs`.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::json_response;
use crate::page::Page;

/// A successful answer, built by the endpoint and rendered once by [`Reply::into_response`].
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    /// None: an answer without a body (a CORS preflight's 204).
    body: Option<Map<String, Value>>,
    headers: Vec<(header::HeaderName, String)>,
}

impl Reply {
    /// 200 with `data` as the canonical payload.
    pub fn ok(data: impl Serialize) -> Self {
        let mut body = Map::new();
        body.insert("success".into(), Value::Bool(true));
        body.insert("data".into(), to_value(data));
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    /// 204 with these headers and no body.
    pub fn no_content(headers: Vec<(header::HeaderName, String)>) -> Self {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers,
        }
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn message(self, message: &str) -> Self {
        self.with("message", message)
    }

    /// A documented top-level key (`devices`, `trustExpiresAt`, …) kept beside `data`
    /// so the published TypeScript client keeps working.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        if let Some(body) = &mut self.body {
            body.insert(key.into(), to_value(value));
        }
        self
    }

    /// A list under its documented key (`devices`, `sessions`): whole without a page,
    /// exactly as the published client reads it; else one page, and `nextCursor`
    /// (null on the last).
    pub fn list<T: Serialize>(
        key: &str,
        items: Vec<T>,
        page: Option<Page>,
        id: impl Fn(&T) -> &str,
    ) -> Self {
        match page {
            None => Reply::ok(&items).with(key, &items),
            Some(page) => {
                let (items, next_cursor) = page.of(items, id);
                Reply::ok(&items)
                    .with(key, &items)
                    .with("nextCursor", next_cursor)
            }
        }
    }

    pub fn into_response(self) -> Response<Body> {
        match self.body {
            Some(body) => json_response(self.status, &Value::Object(body), self.headers),
            None => {
                let mut builder = Response::builder().status(self.status);
                for (name, value) in self.headers {
                    builder = builder.header(name, value);
                }
                builder.body(Body::Empty).expect("valid headers")
            }
        }
    }
}

fn to_value(value: impl Serialize) -> Value {
    // Our views are plain structs of strings, numbers and booleans: serializing
    // them cannot fail.
    serde_json::to_value(value).expect("response views serialize")
}
