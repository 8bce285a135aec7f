//! The websockets open on this instance, by user and by client address: caps both, and ends a
//! socket when its session does. Revocations reach every instance as `SESSIONS_REVOKED` outbox
//! events (through the bus, so PostgreSQL is their truth); a periodic sweep re-reads PostgreSQL
//! for the sessions of every bound socket, so an event missed while the bus was away still
//! ends its sockets.

use crate::domain::ids::{SessionId, UserId};
use crate::errors::AppError;
use crate::services::events::{self, OutboxEvent};
use crate::services::{gate, AppState, Viewer};
use actix::Addr;
use castyou_actors::{NotificationHub, Subscribe, Topic};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Why a socket's session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Logged out, stolen refresh token detected, role changed, password reset.
    Revoked,
    /// The access token it was opened with expired.
    Expired,
}

struct Bound {
    id: u64,
    session_id: SessionId,
    end: Option<oneshot::Sender<SessionEnd>>,
}

#[derive(Default)]
struct Inner {
    by_user: HashMap<UserId, Vec<Bound>>,
    by_address: HashMap<String, usize>,
    next_id: u64,
}

/// This instance's open sockets.
pub struct LiveSessions {
    inner: Mutex<Inner>,
    max_per_user: usize,
    max_per_address: usize,
    /// Sockets open (each holds an `AddressSlot`): a stopping server waits for this to reach 0.
    open: tokio::sync::watch::Sender<usize>,
}

/// Holds one of an address's socket slots; dropping it frees the slot.
pub struct AddressSlot {
    live: Arc<LiveSessions>,
    address: String,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.live.inner.lock() {
            if let Some(n) = inner.by_address.get_mut(&self.address) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    inner.by_address.remove(&self.address);
                }
            }
        }
        self.live.open.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A socket bound to a signed-in session; dropping it unbinds the socket.
pub struct SessionSlot {
    live: Arc<LiveSessions>,
    user_id: UserId,
    id: u64,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.live.inner.lock() {
            if let Some(sockets) = inner.by_user.get_mut(&self.user_id) {
                sockets.retain(|b| b.id != self.id);
                if sockets.is_empty() {
                    inner.by_user.remove(&self.user_id);
                }
            }
        }
    }
}

impl LiveSessions {
    pub fn new(max_per_user: usize, max_per_address: usize) -> Arc<LiveSessions> {
        Arc::new(LiveSessions {
            inner: Mutex::new(Inner::default()),
            max_per_user,
            max_per_address,
            open: tokio::sync::watch::Sender::new(0),
        })
    }

    /// How many sockets are open here.
    pub fn open_sockets(&self) -> usize {
        *self.open.borrow()
    }

    /// Resolves once no socket is open here, or after `limit`; says whether they all closed.
    /// Sockets run as tasks of their own, so a stopping server waits here for them to finish
    /// closing (they are told to by the graceful-shutdown signal).
    pub async fn drained(&self, limit: Duration) -> bool {
        let mut open = self.open.subscribe();
        tokio::time::timeout(limit, open.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Takes a socket slot for `address`, or refuses when it holds its cap.
    pub fn open(self: &Arc<Self>, address: Option<&str>) -> Result<AddressSlot, AppError> {
        let address = address.unwrap_or("unknown").to_string();
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| anyhow::anyhow!("live sessions lock poisoned"))?;
        let n = inner.by_address.entry(address.clone()).or_insert(0);
        if *n >= self.max_per_address {
            return Err(AppError::RateLimited {
                retry_after_secs: 60,
            });
        }
        *n += 1;
        self.open.send_modify(|n| *n += 1);
        Ok(AddressSlot {
            live: self.clone(),
            address,
        })
    }

    /// Binds a socket to the viewer's session: `end` fires when the session is revoked. Refused
    /// when the user already holds their cap of sockets here.
    pub fn bind(
        self: &Arc<Self>,
        viewer: &Viewer,
        end: oneshot::Sender<SessionEnd>,
    ) -> Result<SessionSlot, AppError> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| anyhow::anyhow!("live sessions lock poisoned"))?;
        inner.next_id += 1;
        let id = inner.next_id;
        let sockets = inner.by_user.entry(viewer.user_id).or_default();
        if sockets.len() >= self.max_per_user {
            return Err(AppError::conflict(format!(
                "this account already has {} open connections here; close one first",
                self.max_per_user
            )));
        }
        sockets.push(Bound {
            id,
            session_id: viewer.session_id,
            end: Some(end),
        });
        Ok(SessionSlot {
            live: self.clone(),
            user_id: viewer.user_id,
            id,
        })
    }

    /// Ends the sockets of `sessions` (of `user`, when known); returns how many.
    pub fn revoke(&self, user: Option<UserId>, sessions: &[SessionId]) -> usize {
        let Ok(mut inner) = self.inner.lock() else {
            return 0;
        };
        let mut ended = 0;
        let mut end = |sockets: &mut Vec<Bound>| {
            for bound in sockets.iter_mut() {
                if sessions.contains(&bound.session_id) {
                    if let Some(tx) = bound.end.take() {
                        let _ = tx.send(SessionEnd::Revoked);
                        ended += 1;
                    }
                }
            }
        };
        match user {
            Some(user) => {
                if let Some(sockets) = inner.by_user.get_mut(&user) {
                    end(sockets);
                }
            }
            None => inner.by_user.values_mut().for_each(end),
        }
        ended
    }

    /// The sessions of every bound socket still live.
    fn bound_sessions(&self) -> Vec<SessionId> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let mut ids: Vec<SessionId> = inner
            .by_user
            .values()
            .flatten()
            .filter(|b| b.end.is_some())
            .map(|b| b.session_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// How often bound sessions are re-read from PostgreSQL.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Watches for revoked sessions for as long as the process runs: the `Sessions` topic of the
/// hub (each event ends its sockets and is cached in Redis for HTTP), and a periodic sweep.
pub fn start_watching(state: AppState, live: Arc<LiveSessions>, hub: Addr<NotificationHub>) {
    let (sweeper, swept) = (state.clone(), Arc::clone(&live));
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = sweep(&sweeper, &swept).await {
                tracing::warn!(error = %e, "could not re-check the sessions of open websockets");
            }
        }
    });
    actix_web::rt::spawn(async move {
        loop {
            let subscribed = hub
                .send(Subscribe {
                    topic: Topic::Sessions,
                    capacity: 4096,
                })
                .await;
            let Ok(mut subscription) = subscribed else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            while let Some(event) = subscription.events.recv().await {
                let Some(decoded) = events::decode(&event) else {
                    continue;
                };
                let OutboxEvent::SessionsRevoked(revoked) = &*decoded else {
                    continue;
                };
                let ended = live.revoke(Some(revoked.user_id), &revoked.session_ids);
                tracing::info!(ended, reason = %revoked.reason, "sessions revoked");
                gate::cache_revoked_sessions(&state, &revoked.session_ids).await;
            }
            // The hub restarted or cut this watcher off: what was missed, the sweep finds.
            if let Err(e) = sweep(&state, &live).await {
                tracing::warn!(error = %e, "could not re-check the sessions of open websockets");
            }
        }
    });
}

/// Ends the sockets whose sessions PostgreSQL says are revoked.
async fn sweep(state: &AppState, live: &LiveSessions) -> anyhow::Result<()> {
    let bound = live.bound_sessions();
    if bound.is_empty() {
        return Ok(());
    }
    let mut conn = state.pool.get().await?;
    let revoked = crate::db::sessions::revoked_among(&mut conn, &bound).await?;
    if !revoked.is_empty() {
        let ended = live.revoke(None, &revoked);
        tracing::info!(ended, "sockets of revoked sessions closed by the sweep");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use uuid::Uuid;

    fn viewer(user: u128, session: u128) -> Viewer {
        Viewer {
            user_id: UserId(Uuid::from_u128(user)),
            role: Role::Talent,
            session_id: SessionId(Uuid::from_u128(session)),
        }
    }

    #[test]
    fn sockets_are_capped_per_user_and_freed_when_dropped() {
        let live = LiveSessions::new(2, 10);
        let (a, _) = oneshot::channel();
        let (b, _) = oneshot::channel();
        let (c, _) = oneshot::channel();
        let first = live.bind(&viewer(1, 1), a);
        let second = live.bind(&viewer(1, 2), b);
        assert!(first.is_ok() && second.is_ok());
        let (d, _) = oneshot::channel();
        assert!(live.bind(&viewer(1, 3), c).is_err());
        drop(first);
        assert!(live.bind(&viewer(1, 3), d).is_ok());
    }

    #[test]
    fn addresses_are_capped() {
        let live = LiveSessions::new(2, 1);
        let slot = live.open(Some("10.0.0.1"));
        assert!(slot.is_ok());
        assert!(live.open(Some("10.0.0.1")).is_err());
        let other = live.open(Some("10.0.0.2"));
        assert!(other.is_ok());
        drop(slot);
        assert!(live.open(Some("10.0.0.1")).is_ok());
    }

    #[test]
    fn revoking_a_session_ends_only_its_sockets() {
        let live = LiveSessions::new(5, 5);
        let (a, mut ended_a) = oneshot::channel();
        let (b, mut ended_b) = oneshot::channel();
        let _a = live.bind(&viewer(1, 1), a);
        let _b = live.bind(&viewer(1, 2), b);
        let (user, session) = (viewer(1, 1).user_id, viewer(1, 1).session_id);
        assert_eq!(live.revoke(Some(user), &[session]), 1);
        assert_eq!(ended_a.try_recv().ok(), Some(SessionEnd::Revoked));
        assert!(ended_b.try_recv().is_err());
        assert_eq!(live.bound_sessions(), vec![viewer(1, 2).session_id]);
    }
}
