//! The composition root: configuration and the DynamoDB client, built once per cold
//! start (`runtime.rs`), then borrowed by every invocation; and the first steps of every
//! route: who is calling, and is their session alive.

use lambda_http::Request;

use crate::auth::Identity;
use crate::config::Config;
use crate::domain::{Account, Session};
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
    /// a revoked or expired session gets 401 on its very next request.
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
}

/// A signed-in caller whose session passed the guard, with their whole account.
#[derive(Debug)]
pub struct Caller {
    pub identity: Identity,
    /// The caller's own session, alive when read.
    pub session: Session,
    pub account: Account,
    pub now: Epoch,
}
