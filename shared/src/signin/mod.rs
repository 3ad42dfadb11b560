//! The sign-in (`POST /sessions`): [`App::sign_in`], its read-decide-write loop with
//! the session cap's evictions and the device limit's removals, beside the cascade's
//! loop (`cascade.rs`); what its body says is in `body.rs`. The rules are in
//! docs/design.md.

use std::time::{Duration, Instant};

use lambda_http::Request;

use crate::app::App;
use crate::auth::{Identity, LEEWAY_SECONDS};
use crate::config::{Config, SessionLimit};
use crate::domain::{Account, Device, Session};
use crate::domain::{Epoch, Lifetime, SessionId, TrustLevel, UserId, trust_level, used_id_ttl};
use crate::domain::{EventType, Origin, SecurityEvent, Target};
use crate::error::{AuthFailure, Error};
use crate::input;
use crate::metrics;
use crate::runtime::{DEADLINE_MARGIN, Deadline};
use crate::store::SignInWrite;

mod body;
pub use body::SignIn;

/// How long a sign-in keeps trying when the invocation has no deadline (tests, a local
/// stack); under Lambda it tries until [`ONE_TRY`] before the deadline's margin.
const PATIENCE: Duration = Duration::from_secs(8);

/// Time left for one more read and write: a sign-in does not start a try it cannot
/// finish before the deadline.
const ONE_TRY: Duration = Duration::from_secs(1);

/// A try's shortest length, for pausing: the ceiling of the pause after try n is the
/// last try's length (at least this) times 2^n, up to 2^[`LONGEST_PAUSE_STEP`], and a
/// pause is anywhere under its ceiling ("full jitter"): sign-ins that must commit one after another (each
/// evicting at the cap) spread out until each has its turn, at whatever pace the
/// table answers, instead of meeting again.
const PAUSE: Duration = Duration::from_millis(20);
const LONGEST_PAUSE_STEP: u32 = 6;

/// A registered sign-in: the device and session as stored, and whether this call
/// created the session (else it is the same registration again).
#[derive(Debug)]
pub struct SignedIn {
    pub created: bool,
    pub device: Device,
    pub session: Session,
    pub now: Epoch,
}

impl App {
    /// Binds the token's session to the device with this fingerprint, creating the
    /// device on first sight. The same registration again finds the same binding; the
    /// same session on another fingerprint is 409. An ended session id can never be
    /// registered again, so a token that could name it once its used-id marker is gone
    /// is refused (401 `TOKEN_OUTLIVES_SESSION`, [`registrable`]) before anything is
    /// written. Past the session cap,
    /// the sign-in evicts or is refused (`evictions`); past the device limit, a new
    /// device makes room or is refused (`removals`). Every sign-in writes on the count
    /// of sign-ins it read, allowing only as many landed since as its decision has
    /// room for (`room`): the others read again.
    pub async fn sign_in(
        &self,
        identity: &Identity,
        sign_in: &SignIn,
        request: &Request,
    ) -> Result<SignedIn, Error> {
        registrable(identity, &self.config, self.now())?;
        // The device is its key: a sign-in that proves one finds only the device bound
        // to it; one that does not, only an unbound device (docs/device-binding.md).
        let key = identity.key.as_deref();
        if key.is_none() && self.config.binding_required {
            return Err(Error::Unauthorized(AuthFailure::ProofRequired));
        }
        // Concurrent sign-ins of one user meet on the account item: the losers read
        // again, after a jittered pause that grows, for as long as the invocation
        // allows (docs/design.md, "Bursts of sign-ins").
        let give_up = Instant::now()
            + Deadline::of_request(request)
                .remaining()
                .map_or(PATIENCE, |left| {
                    left.saturating_sub(DEADLINE_MARGIN + ONE_TRY)
                });
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tried = Instant::now();
            let account = self.store.account(&identity.user_id).await?;
            let now = self.now();
            let known_device = match key {
                Some(key) => account.device_by_key(key),
                None => account.device_by_fingerprint(sign_in.fingerprint.as_str()),
            };
            if let Some(session) = account.session(&identity.session_id) {
                if let Some(reason) = session.lifetime.ended(now) {
                    return Err(Error::Unauthorized(AuthFailure::SessionEnded(reason)));
                }
                session.admits(key)?;
                return match known_device {
                    Some(device) if device.id == session.device_id => Ok(SignedIn {
                        created: false,
                        device: device.clone(),
                        session: session.clone(),
                        now,
                    }),
                    _ => Err(Error::Conflict(
                        "Session is already bound to another device",
                    )),
                };
            }
            let device = sign_in.device(request, known_device, key, now);
            let session =
                sign_in.session(&identity.session_id, &device, request, &self.config, now);
            let is_new = known_device.is_none();
            let event = SecurityEvent::by(
                &identity.user_id,
                &identity.session_id,
                match is_new {
                    true => EventType::NewDeviceSignIn,
                    false => EventType::SuccessfulLogin,
                },
                Target::Session(&identity.session_id),
                Origin {
                    location: session.location.clone(),
                    ..input::origin(request)
                },
            )
            .on_device(&device.id);
            let evicted = evictions(self, &identity.user_id, &account, &session, now)?;
            let removed = match is_new {
                true => removals(self, &identity.user_id, &account, &evicted, &session, now)?,
                false => Vec::new(),
            };
            let ceiling = account.sign_ins + room(self, &account, &evicted, &removed, is_new, now);
            let write = SignInWrite {
                session: &session,
                device: &device,
                device_is_new: is_new,
                event: &event,
                evicted,
                removed,
                sign_ins: account.sign_ins,
                ceiling,
            };
            if self.store.register(&identity.user_id, &write, now).await? {
                // Revoked sessions leave the account's reads (docs/design.md, "Revoked
                // sessions are swept"), time allowing; what one sign-in leaves, the
                // next one sweeps.
                if Instant::now() < give_up
                    && let Err(error) = self
                        .store
                        .sweep(&identity.user_id, &account, &device.id, now)
                        .await
                {
                    tracing::warn!(%error, "revoked sessions not swept");
                }
                metrics::count(
                    match is_new {
                        true => metrics::SIGN_INS_NEW_DEVICE,
                        false => metrics::SIGN_INS_KNOWN_DEVICE,
                    },
                    1,
                );
                return Ok(SignedIn {
                    created: true,
                    device,
                    session,
                    now,
                });
            }
            if Instant::now() >= give_up {
                tracing::warn!(attempt, "sign-in gave up: the account kept changing");
                return Err(Error::Conflict("Concurrent sign-ins, retry"));
            }
            metrics::count(metrics::CONFLICT_RETRIES, 1);
            let ceiling = tried.elapsed().max(PAUSE) * 2u32.pow(attempt.min(LONGEST_PAUSE_STEP));
            let pause = ceiling.mul_f64(fastrand::f64());
            tokio::time::sleep(pause.min(give_up.saturating_duration_since(Instant::now()))).await;
        }
    }
}

/// Whether this token may register its session id: only while no used-id marker of
/// that id can have gone (docs/design.md, "Ended session ids never come back"). The
/// marker lives the absolute timeout plus the tombstone period past registration, so
/// the token must expire before it goes, and its sign-in (`auth_time`, else `iat`;
/// identity providers keep the session id across refreshes) must be at most the
/// absolute timeout old: a later registration of the id could only name an older
/// sign-in. A token naming no sign-in, or absurd times, is refused; all arithmetic on
/// claims is checked.
fn registrable(identity: &Identity, config: &Config, now: Epoch) -> Result<(), Error> {
    let leeway = LEEWAY_SECONDS as i64;
    let remembered_until = used_id_ttl(
        &Lifetime::start(now, config.idle_timeout, config.absolute_timeout),
        config.tombstone,
    );
    let expires_in_time = identity
        .expires_at
        .checked_add(leeway)
        .is_some_and(|expiry| expiry <= remembered_until);
    let signed_in_lately = identity
        .auth_time
        .or(identity.issued_at)
        .and_then(|signed_in| now.checked_sub(signed_in))
        .is_some_and(|age| (-leeway..=config.absolute_timeout).contains(&age));
    if expires_in_time && signed_in_lately {
        Ok(())
    } else {
        Err(Error::Unauthorized(AuthFailure::TokenOutlivesSession))
    }
}

/// How many sign-ins may land between this one's read and its write with its decision
/// still right: each adds at most one live session and one device, so while both the
/// cap and (for a new device) the limit leave that much room, no other sign-in can
/// make this one overshoot them. Evicting or removing anything leaves no room: those
/// decisions hold only on the exact view read (no session bound to a removed device
/// since). Without this, every concurrent sign-in of a user would serialize on the
/// count and most of a burst would read again and again.
fn room(
    app: &App,
    account: &Account,
    evicted: &[(&SessionId, SecurityEvent)],
    removed: &[(&Device, SecurityEvent)],
    is_new: bool,
    now: Epoch,
) -> i64 {
    if !evicted.is_empty() || !removed.is_empty() {
        return 0;
    }
    let alive = account.alive_sessions(now, None).count();
    let sessions = app.config.max_sessions.saturating_sub(alive + 1);
    let devices = match is_new {
        true => app
            .config
            .max_devices
            .saturating_sub(account.devices.len() + 1),
        false => usize::MAX,
    };
    sessions.min(devices) as i64
}

/// The devices this sign-in removes to create its device within the device limit,
/// each with its event: the least recently seen first (ties: the earliest created)
/// among those not trusted (trust HIGH) and with no live session once this sign-in's
/// evictions are done. When there are too few, the sign-in is refused.
fn removals<'a>(
    app: &App,
    user: &UserId,
    account: &'a Account,
    evicted: &[(&SessionId, SecurityEvent)],
    session: &Session,
    now: Epoch,
) -> Result<Vec<(&'a Device, SecurityEvent)>, Error> {
    let over = (account.devices.len() + 1).saturating_sub(app.config.max_devices);
    if over == 0 {
        return Ok(Vec::new());
    }
    let in_use = |device: &Device| {
        account
            .alive_sessions(now, Some(&device.id))
            .any(|s| !evicted.iter().any(|(id, _)| *id == &s.id))
    };
    let mut unused: Vec<&Device> = account
        .devices
        .iter()
        .filter(|d| trust_level(d.trust, d.trust_expires_at, now) != TrustLevel::High)
        .filter(|d| !in_use(d))
        .collect();
    if unused.len() < over {
        return Err(Error::DeviceLimitReached);
    }
    unused.sort_by_key(|d| {
        (
            account.last_seen(d),
            d.created_at,
            d.id.as_str().to_string(),
        )
    });
    Ok(unused
        .into_iter()
        .take(over)
        .map(|device| {
            let event = SecurityEvent::by(
                user,
                &session.id,
                EventType::DeviceRemoved,
                Target::Device(&device.id),
                Origin::default(),
            )
            .because("DEVICE_LIMIT");
            (device, event)
        })
        .collect())
}

/// The sessions this sign-in ends to stay under the cap, each with its event: the
/// least recently active first (ties: the earliest started). Refused instead under
/// the `refuse` policy.
fn evictions<'a>(
    app: &App,
    user: &UserId,
    account: &'a Account,
    session: &Session,
    now: Epoch,
) -> Result<Vec<(&'a SessionId, SecurityEvent)>, Error> {
    let mut alive: Vec<_> = account.alive_sessions(now, None).collect();
    let over = (alive.len() + 1).saturating_sub(app.config.max_sessions);
    if over == 0 {
        return Ok(Vec::new());
    }
    if app.config.session_limit == SessionLimit::Refuse {
        return Err(Error::SessionLimitReached);
    }
    alive.sort_by_key(|s| (s.last_activity, s.started_at, s.id.as_str().to_string()));
    Ok(alive
        .into_iter()
        .take(over)
        .map(|evicted| {
            let event = SecurityEvent::by(
                user,
                &session.id,
                EventType::SessionEvicted,
                Target::Session(&evicted.id),
                Origin::default(),
            )
            .on_device(&evicted.device_id)
            .because("SESSION_LIMIT");
            (&evicted.id, event)
        })
        .collect())
}
