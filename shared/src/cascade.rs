//! Cascades: ending many sessions at once (revoke-all, untrust, remove, the platform's
//! revocations), read-decide-write passes repeated while sign-ins overtake them, so no
//! session registered before the answer survives it (docs/design.md). The sign-in's
//! own loop sits beside it, in `signin/`.

use crate::app::App;
use crate::auth::{Identity, LEEWAY_SECONDS};
use crate::domain::{Actor, EventType, Origin, SecurityEvent, Target};
use crate::domain::{DeviceId, Session, SessionId, UserId};
use crate::error::{AuthFailure, Error};
use crate::metrics;
use crate::store::{DeviceChange, Spend};

/// What a cascade ends: every session of the account, or those of one device
/// before that device is untrusted or removed (or, for a platform service, left as
/// it is).
#[derive(Debug, Clone, Copy)]
pub enum Cascade<'a> {
    /// Revoke-all; `keep_current` spares the caller's own session.
    AllSessions {
        keep_current: bool,
    },
    Untrust(&'a DeviceId),
    Remove(&'a DeviceId),
    /// A device's sessions, the device kept (`/admin/…`).
    DeviceSessions(&'a DeviceId),
    /// A sign-in its owner reported ("This wasn't me", docs/report-link.md): its
    /// session, and the device it created with every session on it, which is
    /// removed; the code is spent in the same transaction.
    Report {
        session: &'a SessionId,
        device: Option<&'a DeviceId>,
        spend: &'a Spend,
    },
}

/// Who ends sessions: the user, through a session that must be alive (the guard), or
/// a platform service authorized by IAM, for a user it names.
#[derive(Debug, Clone)]
pub enum Principal {
    User(Identity),
    Service {
        arn: String,
        user: UserId,
    },
    /// Whoever holds a "This wasn't me" link of the user's: the link is the
    /// authority, and it ends only the sign-in it names.
    ReportLink {
        user: UserId,
    },
}

impl Principal {
    pub fn user(&self) -> &UserId {
        match self {
            Principal::User(identity) => &identity.user_id,
            Principal::Service { user, .. } | Principal::ReportLink { user } => user,
        }
    }

    fn actor(&self) -> Actor {
        match self {
            Principal::User(identity) => Actor::Session(identity.session_id.as_str().into()),
            Principal::Service { arn, .. } => Actor::Service(arn.clone()),
            Principal::ReportLink { .. } => Actor::System("report-link".into()),
        }
    }
}

/// Passes of a cascade before it gives up with 409. A pass repeats only when a
/// session was registered during it; sign-ins are rate-limited per user and need a
/// fresh token from the identity provider each, so a few passes always suffice.
const CASCADE_PASSES: usize = 10;

impl App {
    /// Ends the sessions the cascade names and applies its device change, with its
    /// security event (`reason`, if given); returns how many sessions ended. When it
    /// answers, every session registered before its last write is ended (the
    /// caller's aside with `keep_current`) and no live session is left on a removed
    /// device: a pass that a sign-in overtook reads the account again and ends what it
    /// missed (see `Store::revoke_sessions`).
    pub async fn cascade(
        &self,
        by: &Principal,
        cascade: Cascade<'_>,
        origin: Origin,
        reason: Option<&str>,
    ) -> Result<usize, Error> {
        let user = by.user();
        let mut ended = 0;
        for _ in 0..CASCADE_PASSES {
            // The user's session must be alive; a service needs no session.
            let (account, caller, now) = match by {
                Principal::User(identity) => {
                    let caller = self.caller(identity.clone()).await?;
                    // Platform services are not users: never asked to step up.
                    self.stepped_up(identity, &caller.session)?;
                    (caller.account, Some(identity), caller.now)
                }
                Principal::Service { .. } | Principal::ReportLink { .. } => {
                    (self.store.account(user).await?, None, self.now())
                }
            };
            let (device, change) = match cascade {
                Cascade::AllSessions { .. } => (None, None),
                // The device may be gone already (removed, aged out): the session alone.
                Cascade::Report { device, .. } => match device.and_then(|id| account.device(id)) {
                    Some(found) => (device, Some(DeviceChange::Remove(found))),
                    None => (None, None),
                },
                Cascade::Untrust(id) | Cascade::Remove(id) | Cascade::DeviceSessions(id) => {
                    let device = account.device(id).ok_or(Error::DeviceNotFound)?;
                    let change = match cascade {
                        Cascade::Remove(_) => Some(DeviceChange::Remove(device)),
                        Cascade::Untrust(_) => Some(DeviceChange::Untrust(device)),
                        _ => None,
                    };
                    (Some(id), change)
                }
            };
            let kept = match (cascade, caller) {
                (Cascade::AllSessions { keep_current: true }, Some(caller)) => {
                    Some(&caller.session_id)
                }
                _ => None,
            };
            let sessions: Vec<_> = match cascade {
                // Its device's sessions, and the reported one wherever it is.
                Cascade::Report { session, .. } => account
                    .alive_sessions(now, None)
                    .filter(|s| &s.id == session || device.is_some_and(|d| &s.device_id == d))
                    .map(|s| &s.id)
                    .collect(),
                _ => account
                    .alive_sessions(now, device)
                    .filter(|s| Some(&s.id) != kept)
                    .map(|s| &s.id)
                    .collect(),
            };
            let spend = match cascade {
                Cascade::Report { spend, .. } => Some(spend),
                _ => None,
            };
            let event =
                cascade_event(by, cascade, origin.clone(), reason).ended(ended + sessions.len());
            let pass = match self
                .store
                .revoke_sessions(
                    user,
                    caller,
                    &sessions,
                    change,
                    account.sign_ins,
                    &event,
                    spend,
                    now,
                )
                .await
            {
                // A reported sign-in's device went since the read (the owner removed
                // it, or another confirm did): read again and end the sign-in without
                // it; a confirm that came second meets the spent marker then.
                Err(Error::DeviceNotFound) if matches!(cascade, Cascade::Report { .. }) => {
                    continue;
                }
                pass => pass?,
            };
            ended += pass.ended;
            metrics::count(metrics::SESSIONS_ENDED, pass.ended);
            if pass.complete {
                metrics::count(metrics::REVOCATIONS, 1);
                return Ok(ended);
            }
            metrics::count(metrics::CONFLICT_RETRIES, 1);
            tracing::info!(ended, "a sign-in landed during the cascade: reading again");
        }
        Err(Error::Conflict(
            "Sessions kept being signed in during the revocation, retry",
        ))
    }

    /// Step-up (RFC 9470, docs/design.md "Step-up"): with `STEP_UP_MAX_AGE_SECONDS`
    /// set, a user ending another session (one, a device's, all) or granting trust
    /// must have signed in within that many seconds: the token's `auth_time`, else the
    /// registration of its session (`session`, the caller's, as read), so any identity
    /// provider can step up by signing in again. Signing oneself out never asks.
    pub fn stepped_up(&self, identity: &Identity, session: &Session) -> Result<(), Error> {
        let Some(max_age) = self.config.step_up_max_age else {
            return Ok(());
        };
        let signed_in = identity.auth_time.unwrap_or(session.started_at);
        // Checked: a sign-in in the future (past the clock leeway) is no sign-in.
        let age = self.now().checked_sub(signed_in);
        if !age.is_some_and(|age| (-(LEEWAY_SECONDS as i64)..=max_age).contains(&age)) {
            return Err(Error::Unauthorized(AuthFailure::StepUpRequired { max_age }));
        }
        Ok(())
    }
}

/// The one security event a cascade records, in its last transaction.
fn cascade_event(
    by: &Principal,
    cascade: Cascade<'_>,
    origin: Origin,
    reason: Option<&str>,
) -> SecurityEvent {
    let service = matches!(by, Principal::Service { .. });
    let (event_type, target) = match cascade {
        Cascade::AllSessions { .. } if service => {
            (EventType::AdminSessionsRevoked, Target::Account(by.user()))
        }
        Cascade::AllSessions { .. } => (EventType::AllSessionsRevoked, Target::Account(by.user())),
        Cascade::Untrust(id) => (EventType::DeviceUntrusted, Target::Device(id)),
        Cascade::Remove(id) => (EventType::DeviceRemoved, Target::Device(id)),
        Cascade::DeviceSessions(id) => (EventType::AdminSessionsRevoked, Target::Device(id)),
        // Names the reported session, and the device the sign-in created.
        Cascade::Report {
            session, device, ..
        } => {
            let event = SecurityEvent::of(
                by.user(),
                by.actor(),
                EventType::SignInReported,
                Target::Session(session),
                origin,
            );
            return match device {
                Some(device) => event.on_device(device),
                None => event,
            };
        }
    };
    let event = SecurityEvent::of(by.user(), by.actor(), event_type, target, origin);
    match reason {
        Some(reason) => event.because(reason),
        None => event,
    }
}
