//! `Mailer`: the outbox's mail consumer. A relay of its own (own progress, own leader) hands it
//! every event that asks for mail; it sends through its port and answers only once the mail
//! server took it, so an event is marked mailed only then. While the server is down, sends
//! fail, the events wait in the outbox, and each retry waits longer (up to `MAX_BACKOFF`): a
//! mail server outage delays mail and loses none. Sending is at least once (a crash between
//! sending and marking sends again).

use crate::bus::Publish;
use crate::relay::PortFuture;
use crate::Event;
use actix::{Actor, Context, Handler, ResponseFuture, Supervised};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How the mailer reaches a mail server.
pub trait MailPort: Send + Sync + 'static {
    /// Sends the mail `event` asks for; an event that asks for none succeeds at once.
    fn send(&self, event: Arc<Event>) -> PortFuture<()>;
}

/// Failed attempts to send, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MailFailures(Arc<AtomicU64>);

impl MailFailures {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

pub struct Mailer {
    restarts: crate::RestartCounter,
    port: Arc<dyn MailPort>,
    failures: MailFailures,
    /// Failures in a row; the next attempt waits for 2^streak × 250 ms.
    streak: Arc<AtomicU32>,
}

impl Mailer {
    pub fn new(port: Arc<dyn MailPort>, failures: MailFailures) -> Self {
        Mailer {
            restarts: crate::RestartCounter::default(),
            port,
            failures,
            streak: Arc::default(),
        }
    }

    /// Counts this actor's restarts in `restarts`.
    pub fn counting_restarts_in(mut self, restarts: crate::RestartCounter) -> Self {
        self.restarts = restarts;
        self
    }
}

impl Actor for Mailer {
    type Context = Context<Self>;
}

impl Supervised for Mailer {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        tracing::warn!("mailer restarting");
    }
}

/// The wait before the next attempt after `streak` failures in a row.
fn backoff(streak: u32) -> Duration {
    if streak == 0 {
        return Duration::ZERO;
    }
    let wait = Duration::from_millis(250).saturating_mul(1 << streak.min(16));
    wait.min(MAX_BACKOFF)
}

impl Handler<Publish> for Mailer {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, Publish(event): Publish, _ctx: &mut Context<Self>) -> Self::Result {
        let port = self.port.clone();
        let failures = self.failures.clone();
        let streak = self.streak.clone();
        Box::pin(async move {
            tokio::time::sleep(backoff(streak.load(Ordering::Acquire))).await;
            match port.send(event).await {
                Ok(()) => {
                    streak.store(0, Ordering::Release);
                    Ok(())
                }
                Err(e) => {
                    failures.0.fetch_add(1, Ordering::Relaxed);
                    streak.fetch_add(1, Ordering::AcqRel);
                    Err(format!("sending mail: {e:#}"))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[derive(Default)]
    struct Server {
        down: AtomicBool,
        sent: AtomicU64,
    }

    impl MailPort for Server {
        fn send(&self, _event: Arc<Event>) -> PortFuture<()> {
            let down = self.down.load(Ordering::SeqCst);
            if !down {
                self.sent.fetch_add(1, Ordering::SeqCst);
            }
            Box::pin(async move {
                if down {
                    anyhow::bail!("connection refused");
                }
                Ok(())
            })
        }
    }

    fn event() -> Arc<Event> {
        Arc::new(Event {
            id: uuid::Uuid::from_u128(7),
            seq: 1,
            topics: vec![],
            body: serde_json::json!({ "kind": "EMAIL_VERIFICATION_REQUESTED" }),
            at: chrono::Utc::now(),
            event: None,
        })
    }

    #[test]
    fn waits_grow_with_failures_and_are_capped() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[actix::test]
    async fn a_failure_is_reported_counted_and_the_next_success_resets_the_wait(
    ) -> anyhow::Result<()> {
        let server = Arc::new(Server::default());
        let failures = MailFailures::default();
        let mailer = Mailer::new(server.clone(), failures.clone()).start();
        server.down.store(true, Ordering::SeqCst);
        assert!(mailer.send(Publish(event())).await?.is_err());
        assert_eq!(failures.get(), 1);
        server.down.store(false, Ordering::SeqCst);
        mailer
            .send(Publish(event()))
            .await?
            .map_err(anyhow::Error::msg)?;
        assert_eq!(server.sent.load(Ordering::SeqCst), 1);
        assert_eq!(failures.get(), 1);
        Ok(())
    }
}
