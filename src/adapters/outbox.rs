//! `OutboxPort` over PostgreSQL: reads and marks `outbox_events` through the pool, and turns
//! `LISTEN castyou_outbox` on a dedicated connection into wake-ups. One per consumer: the bus
//! relay and the document consumer each keep their own progress and their own leader.

use crate::db::outbox::Consumer;
use crate::db::{self, PgPool};
use crate::services::events;
use castyou_actors::relay::PortFuture;
use castyou_actors::{Event, OutboxPort};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

pub const CHANNEL: &str = "castyou_outbox";

/// The advisory locks whose holders consume (arbitrary constants: "castyou outbox", "... docs").
const RELAY_LOCK: i64 = 0x6361_7374_796f_7501;
const DOCUMENTS_LOCK: i64 = 0x6361_7374_796f_7502;
const MAIL_LOCK: i64 = 0x6361_7374_796f_7503;

pub struct PgOutbox {
    consumer: Consumer,
    pool: PgPool,
    url: SecretString,
    /// How long delivered events are kept.
    retention: chrono::Duration,
    /// The session that holds (or tries for) the relay lock, and whether it holds it.
    leader: Arc<tokio::sync::Mutex<Option<(AsyncPgConnection, bool)>>>,
}

impl PgOutbox {
    /// The outbox as `consumer` reads it. Only the bus consumer prunes.
    pub fn new(
        consumer: Consumer,
        pool: PgPool,
        url: SecretString,
        retention: chrono::Duration,
    ) -> PgOutbox {
        PgOutbox {
            consumer,
            pool,
            url,
            retention,
            leader: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

impl OutboxPort for PgOutbox {
    /// Leads while holding a session-level advisory lock: when this instance dies, its session
    /// ends, the lock is released, and another instance takes over.
    fn lead(&self) -> PortFuture<bool> {
        let leader = self.leader.clone();
        let url = self.url.clone();
        let (lock, consumer) = match self.consumer {
            Consumer::Bus => (RELAY_LOCK, "relays the outbox"),
            Consumer::Documents => (DOCUMENTS_LOCK, "stores the outbox's documents"),
            Consumer::Mail => (MAIL_LOCK, "sends the outbox's mail"),
        };
        Box::pin(async move {
            let mut slot = leader.lock().await;
            if let Some((conn, leading)) = slot.as_mut() {
                if *leading {
                    if diesel::sql_query("SELECT 1").execute(conn).await.is_ok() {
                        return Ok(true);
                    }
                    *slot = None;
                }
            }
            if slot.is_none() {
                *slot = Some((
                    AsyncPgConnection::establish(url.expose_secret()).await?,
                    false,
                ));
            }
            let Some((conn, leading)) = slot.as_mut() else {
                return Ok(false);
            };
            match diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                .bind::<diesel::sql_types::BigInt, _>(lock)
                .get_result::<Locked>(conn)
                .await
            {
                Ok(got) => {
                    if got.locked {
                        tracing::info!("this instance now {consumer}");
                    }
                    *leading = got.locked;
                    Ok(got.locked)
                }
                Err(e) => {
                    *slot = None;
                    Err(e.into())
                }
            }
        })
    }

    fn undelivered(&self, limit: usize) -> PortFuture<Vec<Event>> {
        let pool = self.pool.clone();
        let consumer = self.consumer;
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let rows =
                db::outbox::pending(&mut conn, consumer, &events::known_kinds(), limit as i64)
                    .await?;
            Ok(rows.into_iter().map(events::to_event).collect())
        })
    }

    fn prune(&self) -> PortFuture<u64> {
        if self.consumer != Consumer::Bus {
            return Box::pin(async { Ok(0) });
        }
        let pool = self.pool.clone();
        let before = chrono::Utc::now() - self.retention;
        Box::pin(async move {
            let mut conn = pool.get().await?;
            let mut total = 0u64;
            // In batches, so one sweep never holds many row locks at once.
            loop {
                let n = db::outbox::prune_delivered(&mut conn, before, 1000).await?;
                total += n as u64;
                if n < 1000 {
                    return Ok(total);
                }
            }
        })
    }

    fn mark_delivered(&self, seqs: Vec<i64>) -> PortFuture<()> {
        let pool = self.pool.clone();
        let consumer = self.consumer;
        Box::pin(async move {
            let mut conn = pool.get().await?;
            db::outbox::mark_done(&mut conn, consumer, &seqs).await?;
            Ok(())
        })
    }

    fn wakeups(&self) -> PortFuture<BoxStream<'static, ()>> {
        let url = self.url.clone();
        Box::pin(async move {
            let mut conn = AsyncPgConnection::establish(url.expose_secret()).await?;
            diesel::sql_query(format!("LISTEN {CHANNEL}"))
                .execute(&mut conn)
                .await?;
            let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
            // The connection lives in its own task; the stream ends when the connection fails
            // (checked every few seconds), and the relay then listens again.
            tokio::spawn(async move {
                let mut health = tokio::time::interval(Duration::from_secs(5));
                loop {
                    let notification = {
                        let mut stream = std::pin::pin!(conn.notifications_stream());
                        tokio::select! {
                            n = stream.next() => Some(n),
                            _ = health.tick() => None,
                        }
                    };
                    match notification {
                        Some(Some(Ok(_))) => {
                            // A full queue already holds a wake-up; one is enough.
                            let _ = tx.try_send(());
                        }
                        Some(Some(Err(_)) | None) => break,
                        None => {
                            if tx.is_closed()
                                || diesel::sql_query("SELECT 1")
                                    .execute(&mut conn)
                                    .await
                                    .is_err()
                            {
                                break;
                            }
                        }
                    }
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|()| ((), rx))
            });
            Ok(stream.boxed())
        })
    }
}
