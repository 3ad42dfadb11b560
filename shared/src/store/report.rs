//! "This wasn't me" links (`crate::report`): the sign-in a code names, whether it was
//! spent, spending it, and the per-address budget of the page's calls. Each in a
//! partition no account read touches (docs/report-link.md):
//!
//! | item          | PK                    | SK                         | TTL            |
//! |---------------|-----------------------|----------------------------|----------------|
//! | spent marker  | `REPORTED#<userId>`   | the event's sort key       | the link's expiry |
//! | budget        | `NOTME#<source IP>`   | the minute (epoch seconds) | the minute + 2 |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::actions::{Minute, counted};
use super::codec::{event_from, n, s};
use super::transact::{Role, build_fault, condition_failed_item, fault};
use super::{EVENTS, Item, Store, TTL_ATTRIBUTE};
use crate::domain::{Epoch, SecurityEvent, UserId};
use crate::error::Error;

/// The partition key prefixes of spent markers and of the page's per-address budget.
pub const REPORTED: &str = "REPORTED#";
pub const NOT_ME_BUDGET: &str = "NOTME#";

/// Calls the page may make per minute from one source address (lookups and confirms
/// together): a person needs two or three; probing codes needs far more.
pub const NOT_ME_CALLS_PER_MINUTE: i64 = 20;

/// The sign-in a code names, as read: its event, and whether it was already reported.
#[derive(Debug)]
pub struct ReportedSignIn {
    pub event: SecurityEvent,
    pub spent: bool,
}

/// The marker that a sign-in was reported: one per sign-in, whatever the code.
#[derive(Debug, Clone)]
pub struct Spend {
    pub user: UserId,
    pub event_sort_key: String,
    pub expires_at: Epoch,
}

fn item(pk: String, sk: String) -> Item {
    HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))])
}

impl Store {
    /// Counts one call from `source` against this minute's budget; past it, 429 with
    /// the seconds to the next minute. One conditional UpdateItem.
    pub async fn not_me_budget(&self, source: &str, now: Epoch) -> Result<(), Error> {
        let minute = Minute::of(now);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item(
                format!("{NOT_ME_BUDGET}{source}"),
                minute.window.to_string(),
            )));
        match counted!(request, NOT_ME_CALLS_PER_MINUTE, minute)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                condition_failed_item(error)?;
                Err(Error::RateLimited {
                    retry_after: minute.retry_after(now),
                })
            }
        }
    }

    /// The event at `sort_key` in the user's events and whether its sign-in was
    /// reported: two strongly consistent GetItems at once; nothing written.
    pub async fn reported_sign_in(
        &self,
        user: &UserId,
        sort_key: &str,
    ) -> Result<Option<ReportedSignIn>, Error> {
        let get = |pk: String| {
            self.client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(item(pk, sort_key.to_string())))
                .consistent_read(true)
                .send()
        };
        let (event, marker) = tokio::join!(
            get(format!("{EVENTS}{}", user.as_str())),
            get(format!("{REPORTED}{}", user.as_str()))
        );
        let event = event.map_err(fault)?.item;
        let spent = marker.map_err(fault)?.item.is_some();
        Ok(event
            .as_ref()
            .and_then(event_from)
            .map(|event| ReportedSignIn { event, spent }))
    }

    /// Spending a code, as a transaction action: creates the sign-in's marker, or
    /// fails when it exists, so of any number of confirms exactly one lands.
    pub(super) fn spend_action(&self, spend: &Spend) -> Result<(TransactWriteItem, Role), Error> {
        let mut marker = item(
            format!("{REPORTED}{}", spend.user.as_str()),
            spend.event_sort_key.clone(),
        );
        marker.insert(TTL_ATTRIBUTE.into(), n(spend.expires_at));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(build_fault)?;
        Ok((TransactWriteItem::builder().put(put).build(), Role::Spent))
    }
}
