//! The composition root: configuration and the DynamoDB client, built once per cold
//! start (`runtime.rs`), then borrowed by every invocation; and the first steps of every
//! route: who is calling, and is their session alive.

use lambda_http::Request;

use crate::auth::{Identity, authorization_header, bearer, dpop};
use crate::config::Config;
use crate::domain::{Account, DeviceId, Session, fingerprint_hash};
use crate::domain::{EndReason, Epoch, SessionEnded, now};
use crate::error::{AuthFailure, Error};
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

    /// Reads the caller's identity from the access token and, when the request
    /// carries one, its DPoP proof ([`App::identify`]), which must carry a current
    /// server nonce when they are on.
    pub async fn authenticate(&self, request: &Request) -> Result<Identity, Error> {
        let target = dpop::Target::of(request, self.config.public_base_url.as_deref());
        let authorization = authorization_header(request)?;
        let nonces = self.config.dpop_nonce.as_ref();
        self.identify(authorization, dpop::header(request)?, &target, nonces)
            .await
    }

    /// The `DPoP-Nonce` an answer to `request` carries: a fresh nonce when nonces are
    /// on and the request carries a proof, so the client's next proof has one
    /// (RFC 9449 §9).
    pub fn nonce_for(&self, request: &Request) -> Option<String> {
        let key = self.config.dpop_nonce.as_ref()?;
        request
            .headers()
            .contains_key(dpop::HEADER)
            .then(|| key.issue(self.now()))
    }

    /// The caller's identity from the raw `Authorization` and `DPoP` values and the
    /// request they came with (the authorizer's events give no `Request`): the token
    /// verified (no I/O, unless it names a published key not yet fetched), then the
    /// proof checked — with `nonces`, its server nonce too — and spent (one
    /// conditional write; docs/device-binding.md). Whether the session needs that key
    /// is the guard's to say.
    pub async fn identify(
        &self,
        authorization: Option<&str>,
        proof: Option<&str>,
        target: &dpop::Target,
        nonces: Option<&dpop::NonceKey>,
    ) -> Result<Identity, Error> {
        let mut identity = self
            .config
            .verifier
            .authenticate_header(authorization)
            .await?;
        tracing::Span::current().record("user", identity.user_id.as_str());
        let token = bearer(authorization)?;
        match proof {
            Some(proof) => {
                let proof =
                    dpop::verify(proof, token, target, self.now()).ok_or_else(dpop::invalid)?;
                if nonces.is_some_and(|key| !key.accepts(proof.nonce.as_deref(), self.now())) {
                    return Err(Error::Unauthorized(AuthFailure::NonceRequired));
                }
                // On the heap: the SDK's future is large, and callers hold several.
                if !Box::pin(self.store.remember_proof(&proof)).await? {
                    return Err(dpop::invalid());
                }
                identity.key = Some(proof.thumbprint);
            }
            // The DPoP scheme says the token is bound: no proof, no entry.
            None if authorization.is_some_and(|h| h.starts_with("DPoP ")) => {
                return Err(Error::Unauthorized(AuthFailure::ProofRequired));
            }
            None => {}
        }
        Ok(identity)
    }

    /// One Query of the caller's partition, and the session guard on its result:
    /// a revoked or expired session gets 401 on its very next request. For the routes
    /// that list the account; the others read [`App::caller_with`] their part of it.
    pub async fn caller(&self, identity: Identity) -> Result<Caller, Error> {
        let account = self.store.account(&identity.user_id).await?;
        let now = self.now();
        let session = self.guarded(&account, &identity, now).await?;
        Ok(Caller {
            identity,
            session,
            account,
            now,
        })
    }

    /// The session guard on the caller's session as `account` holds it: alive, and
    /// proved by this request's key when bound (`Session::admits`); else the 401 saying
    /// why, from its used-id marker when its item is gone (`Store::ended`).
    async fn guarded(
        &self,
        account: &Account,
        identity: &Identity,
        now: Epoch,
    ) -> Result<Session, Error> {
        let session = match account.guard(&identity.session_id, now) {
            Ok(session) => session,
            Err(SessionEnded(EndReason::NotRegistered)) => {
                let (user, id) = (&identity.user_id, &identity.session_id);
                return Err(self.store.ended(user, id, None, now).await);
            }
            Err(ended) => return Err(ended.into()),
        };
        session.admits(identity.key.as_deref())?;
        Ok(session.clone())
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
                // A bound session claims only its own device, which is its key: the
                // fingerprint must be that device's (docs/device-binding.md).
                let id = match session.key_thumbprint {
                    Some(_) => Some(session.device_id.clone()),
                    None => id,
                };
                let hash = fingerprint_hash(fingerprint);
                if let Some(device) = match id {
                    Some(id) => store.device(user, &id).await?,
                    None => None,
                } && device.fingerprint_hash == hash
                {
                    account.fingerprints.insert(hash, device.id.clone());
                    account.devices.push(device);
                }
                session
            }
            Part::DeviceSessions(id) => {
                let (sessions, device) = tokio::join!(store.sessions(user), store.device(user, id));
                account.sessions = sessions?;
                let session = self.guarded(&account, &identity, now).await?;
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
    /// fingerprint item, then one GetItem of the device it names (for a bound
    /// session, its own device, if the fingerprint is that device's).
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
