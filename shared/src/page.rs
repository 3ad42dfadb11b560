//! Pagination of the lists: `limit` and `cursor` in, one page and `nextCursor` out
//! (docs/api.md). A cursor is the hex of the last sort key answered.

use lambda_http::{Request, RequestExt};

use crate::error::Error;

/// One page of a list: `limit` (1 to 100) and an opaque `cursor` from the previous
/// page's `nextCursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    /// The sort key to continue after, decoded from the cursor.
    pub after: Option<String>,
}

pub const MAX_PAGE: usize = 100;

/// The `limit` and `cursor` query parameters. A cursor is the hex of a sort key the
/// service answered; one that does not decode to a key of `valid_key`'s shape is a
/// 400 (it names only a position inside the caller's own items, so a forged one
/// reaches nothing else).
pub fn page(
    request: &Request,
    default_limit: usize,
    valid_key: impl Fn(&str) -> bool,
) -> Result<Page, Error> {
    let query = request.query_string_parameters_ref();
    let limit = match query.and_then(|q| q.first("limit")) {
        None => default_limit,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::bad_request(
                    "INVALID_QUERY",
                    format!("Query parameter limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let after = match query.and_then(|q| q.first("cursor")) {
        None => None,
        Some(raw) => Some(
            hex::decode(raw)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .filter(|key| valid_key(key))
                .ok_or_else(|| Error::bad_request("INVALID_CURSOR", "Invalid cursor"))?,
        ),
    };
    Ok(Page { limit, after })
}

/// `limit` and `cursor` when the request gives either, else `None`: a list asked for
/// without them is answered whole, exactly as before pagination.
pub fn optional_page(
    request: &Request,
    default_limit: usize,
    valid_key: impl Fn(&str) -> bool,
) -> Result<Option<Page>, Error> {
    let query = request.query_string_parameters_ref();
    let asked = query.is_some_and(|q| q.first("limit").is_some() || q.first("cursor").is_some());
    if asked {
        page(request, default_limit, valid_key).map(Some)
    } else {
        Ok(None)
    }
}

impl Page {
    /// This page of `items` (sorted by `key`), and the cursor of the next when more
    /// remain.
    pub fn of<T>(&self, items: Vec<T>, key: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        let mut rest: Vec<T> = items
            .into_iter()
            .filter(|item| self.after.as_deref().is_none_or(|after| key(item) > after))
            .collect();
        let more = rest.len() > self.limit;
        rest.truncate(self.limit);
        let next = more
            .then(|| rest.last().map(|last| cursor(key(last))))
            .flatten();
        (rest, next)
    }
}

/// The cursor that continues after `key`.
pub fn cursor(key: &str) -> String {
    hex::encode(key)
}
