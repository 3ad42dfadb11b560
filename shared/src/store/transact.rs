//! Transactions and the errors of DynamoDB: one `ClientRequestToken` per logical
//! write, conflicts tried again, cancellations explained, SDK failures mapped once.

use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::domain::{EndReason, now};
use crate::error::{AuthFailure, Error};

use super::codec::session_ended;

use super::{Item, Store};

/// DynamoDB's limit of actions in one `TransactWriteItems`.
pub(super) const MAX_TRANSACTION_ITEMS: usize = 100;

/// Tries of a write that meets another transaction on its items. A transaction holds
/// its items for tens of milliseconds; the pauses between tries grow from
/// [`CONFLICT_PAUSE`] (20, 40, 80 ms at most, jittered so racing writers spread out),
/// 140 ms in all: far inside the function's timeout. Past them: 409, retry later.
pub const CONFLICT_ATTEMPTS: u32 = 4;
const CONFLICT_PAUSE: Duration = Duration::from_millis(20);

/// What a write refused for a concurrent transaction answers, once out of tries.
const CHANGED_CONCURRENTLY: &str = "The resource changed concurrently, retry";

/// What an action in a transaction stands for, to explain a cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The caller's own session (its condition is the guard).
    Caller,
    /// The session the caller asked to end.
    Target,
    /// The device the caller named.
    Device,
    /// Anything whose failure means a concurrent change: retry.
    Other,
    /// The session id's used-id marker: the id was registered before.
    UsedBefore,
    /// A write budget for this minute; seconds until the next one.
    RateLimited(u64),
    /// The account's sign-in count: a session was registered since the read.
    SignedInSince,
    /// A "This wasn't me" code's marker: the sign-in was reported already.
    Spent,
}

impl Store {
    /// One transaction, tried again while it only meets other transactions. One
    /// logical write is one `ClientRequestToken`, for our tries and the SDK's alike:
    /// a try repeated after one that committed (its answer lost to a timeout or a
    /// dropped connection) succeeds without writing again, instead of failing on the
    /// conditions its own first try changed. A cancelled try commits nothing, so
    /// DynamoDB runs the next one with the same token afresh.
    pub(super) async fn transact(
        &self,
        actions: Vec<(TransactWriteItem, Role)>,
    ) -> Result<(), TransactError> {
        let (items, roles): (Vec<_>, Vec<_>) = actions.into_iter().unzip();
        let token = uuid::Uuid::new_v4().hyphenated().to_string();
        let attempt = || self.transact_once(items.clone(), &roles, &token);
        tried_again(attempt, |error| matches!(error, Conflict)).await
    }

    async fn transact_once(
        &self,
        items: Vec<TransactWriteItem>,
        roles: &[Role],
        token: &str,
    ) -> Result<(), TransactError> {
        let caller = caller_key(&items, roles);
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(context)) => match context.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let reasons = cancelled.cancellation_reasons();
                    let failed: Vec<_> = reasons
                        .iter()
                        .zip(roles)
                        .filter(|(reason, _)| reason.code() == Some("ConditionalCheckFailed"))
                        .collect();
                    let conflict = reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"));
                    // A dead caller learns nothing else: its failure is reported first,
                    // with why its session ended (its old item comes back with it, or,
                    // when the item is gone, its used-id marker says: `Store::ended_at`).
                    if let Some((reason, _)) = failed.iter().find(|(_, r)| **r == Role::Caller) {
                        let ended = match caller {
                            Some(key) => self.ended_at(key, reason.item(), now()).await,
                            None => session_ended(reason.item(), now()),
                        };
                        return Err(Failed(ended));
                    }
                    match failed.first() {
                        Some((_, role)) => Err(Cancelled(**role)),
                        // Another transaction was writing the same items.
                        None if conflict => Err(Conflict),
                        None => Err(Failed(Error::Unavailable(format!(
                            "transaction cancelled: {cancelled}"
                        )))),
                    }
                }
                _ => Err(Failed(fault(SdkError::ServiceError(context)))),
            },
            Err(other) => Err(Failed(fault(other))),
        }
    }
}

/// The key of the caller's own action in a transaction (a condition on, or a write of,
/// its session item).
fn caller_key(items: &[TransactWriteItem], roles: &[Role]) -> Option<Item> {
    let action = &items[roles.iter().position(|role| *role == Role::Caller)?];
    let key = action
        .condition_check()
        .map(|check| check.key())
        .or_else(|| action.update().map(|update| update.key()))
        .or_else(|| action.delete().map(|delete| delete.key()))?;
    Some(key.clone())
}

#[derive(Debug)]
pub(super) enum TransactError {
    Cancelled(Role),
    /// Only other transactions in the way: worth another try.
    Conflict,
    Failed(Error),
}
pub(super) use TransactError::{Cancelled, Conflict, Failed};

/// An UpdateItem, tried again while another transaction holds the item.
pub(super) async fn send_update(
    request: UpdateItemFluentBuilder,
) -> Result<UpdateItemOutput, SdkError<UpdateItemError, HttpResponse>> {
    let conflict = |error: &SdkError<UpdateItemError, HttpResponse>| {
        matches!(
            error.as_service_error(),
            Some(UpdateItemError::TransactionConflictException(_))
        )
    };
    tried_again(|| request.clone().send(), conflict).await
}

/// Runs `attempt` up to [`CONFLICT_ATTEMPTS`] times, pausing between tries, while it
/// fails with a conflict.
async fn tried_again<T, E, F>(
    attempt: impl Fn() -> F,
    conflict: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if conflict(&error) && tries < CONFLICT_ATTEMPTS => {
                crate::metrics::count(crate::metrics::CONFLICT_RETRIES, 1);
                conflict_pause(tries).await;
                tries += 1;
            }
            done => return done,
        }
    }
}

/// The pause after try `tries`: between half and all of 20 ms × 2^(tries - 1), at
/// random, so writers that met do not meet again.
pub async fn conflict_pause(tries: u32) {
    let ceiling = CONFLICT_PAUSE * 2u32.pow(tries - 1);
    let pause = ceiling / 2 + ceiling.mul_f64(fastrand::f64()) / 2;
    tokio::time::sleep(pause).await;
}

/// What a cancelled transaction means to the caller.
pub(super) fn explain(error: TransactError) -> Error {
    match error {
        // Reported with its reason where the cancellation is read; never left here.
        Cancelled(Role::Caller) => {
            Error::Unauthorized(AuthFailure::SessionEnded(EndReason::NotRegistered))
        }
        Cancelled(Role::Target) => Error::SessionNotFound,
        Cancelled(Role::Device) => Error::DeviceNotFound,
        // Only the marker is left: the session item went by TTL at its absolute expiry.
        Cancelled(Role::UsedBefore) => {
            Error::Unauthorized(AuthFailure::SessionEnded(EndReason::AbsoluteTimeout))
        }
        Cancelled(Role::Other | Role::SignedInSince) | Conflict => {
            Error::Conflict(CHANGED_CONCURRENTLY)
        }
        Cancelled(Role::RateLimited(retry_after)) => Error::RateLimited { retry_after },
        // The same answer as an unknown or expired code (docs/report-link.md).
        Cancelled(Role::Spent) => Error::CodeNotFound,
        Failed(error) => error,
    }
}

/// The old item when an update failed its condition; any other failure is a fault.
pub(super) fn condition_failed_item<R: std::fmt::Debug>(
    error: SdkError<UpdateItemError, R>,
) -> Result<Option<Item>, Error> {
    match error {
        SdkError::ServiceError(context) => match context.err() {
            UpdateItemError::ConditionalCheckFailedException(failed) => Ok(failed.item().cloned()),
            _ => Err(fault(SdkError::ServiceError(context))),
        },
        other => Err(fault(other)),
    }
}

/// An SDK failure as our error: DynamoDB unreachable, slow or throttling (after the
/// SDK's own retries) is 503; an item another transaction still held after our tries
/// is 409; anything else 500. The detail is only logged.
pub fn fault<E, R>(error: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&error));
    if let SdkError::ServiceError(context) = &error
        && context.err().code() == Some("TransactionConflictException")
    {
        return Error::Conflict(CHANGED_CONCURRENTLY);
    }
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => matches!(
            context.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionInProgressException"
            )
        ),
        _ => false,
    };
    if transient {
        Error::Unavailable(detail)
    } else {
        Error::Internal(detail)
    }
}

pub(super) fn build_fault(error: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::Internal(format!("request build: {error}"))
}
