//! The composition root: configuration and the DynamoDB client, built once per cold
//! start (`runtime.rs`), then borrowed by every invocation; and the first steps of every
//! route: who is calling, and is their session alive.

use lambda_http::Request;

use crate::auth::Identity;
use crate::config::Config;
use crate::domain::{Account, DeviceId, Session, fingerprint_hash};
use crate::domain::{Epoch, now};
use crate::error::Error;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
}

impl App {
    pub fn new(config: Config, client: aws_sdk_dynamodb::Client) -> Self {
        let store = Store::new(client, &config);
        App { config, store }
    }

    pub fn now(&self) -> Epoch {
        now()
    }

    /// Reads the caller's identity from the Bearer token (no I/O, unless a token
    /// names a published key not yet fetched).
    pub async fn authenticate(&self, request: &Request) -> Result<Identity, Error> {
        let identity = self.config.verifier.authenticate(request).await?;
        tracing::Span::current().record("user", identity.user_id.as_str());
        Ok(identity)
    }

    /// One Query of the caller's partition, and the session guard on its result:
    /// a revoked or expired session gets 401 on its very next request. For the routes
    /// that list the account; the others read [`App::caller_with`] their part of it.
    pub async fn caller(&self, identity: Identity) -> Result<Caller, Error> {
        let account = self.store.account(&identity.user_id).await?;
        let now = self.now();
        let session = account.guard(&identity.session_id, now)?.clone();
        Ok(Caller {
            identity,
            session,
            account,
            now,
        })
    }

    /// The session guard on the caller's session and `part` of their account, read
    /// by key: one or two items whatever the account's size (docs/design.md#reads).
    /// The caller's `account` holds what was read, and their session.
    pub async fn caller_with(&self, identity: Identity, part: Part<'_>) -> Result<Caller, Error> {
        let (store, user, now) = (&self.store, &identity.user_id, self.now());
        let mut account = Account::default();
        let session = match part {
            Part::Session => store.guard(&identity, now).await?,
            Part::OwnDevice => {
                let session = store.guard(&identity, now).await?;
                account
                    .devices
                    .extend(store.device(user, &session.device_id).await?);
                session
            }
            Part::Device(id) => {
                let (session, device) = store.guard_and_device(&identity, id, now).await?;
                account.devices.extend(device);
                session
            }
            Part::Fingerprint(fingerprint) => {
                let (session, id) = store
                    .guard_and_fingerprint(&identity, fingerprint, now)
                    .await?;
                if let Some(id) = id {
                    account.devices.extend(store.device(user, &id).await?);
                    account
                        .fingerprints
                        .insert(fingerprint_hash(fingerprint), id);
                }
                session
            }
            Part::DeviceSessions(id) => {
                let (sessions, device) = tokio::join!(store.sessions(user), store.device(user, id));
                account.sessions = sessions?;
                let session = account.guard(&identity.session_id, now)?.clone();
                account.devices.extend(device?);
                return Ok(Caller {
                    identity,
                    session,
                    account,
                    now,
                });
            }
        };
        account.sessions.push(session.clone());
        Ok(Caller {
            identity,
            session,
            account,
            now,
        })
    }
}

/// What a route reads of the caller's account besides their session
/// ([`App::caller_with`]), never the whole partition.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// Nothing else: one GetItem.
    Session,
    /// The device the session is on (its trust): two GetItems, one after the other.
    OwnDevice,
    /// One device: one BatchGetItem of it and the session.
    Device(&'a DeviceId),
    /// The device with this fingerprint: one BatchGetItem of the session and the
    /// fingerprint item, then one GetItem of the device it names.
    Fingerprint(&'a str),
    /// One device and every session item (what the device shows of them, its last
    /// activity): one GetItem and one Query of the `SESSION#` prefix, at once.
    DeviceSessions(&'a DeviceId),
}

/// A signed-in caller whose session passed the guard, with their account: all of it
/// ([`App::caller`]), or the part the route read ([`App::caller_with`]).
#[derive(Debug)]
pub struct Caller {
    pub identity: Identity,
    /// The caller's own session, alive when read.
    pub session: Session,
    pub account: Account,
    pub now: Epoch,
}
