//! Redis: one lazily connected, self-reconnecting connection per worker, behind a circuit
//! breaker, with every key in the deployment's namespace.

use std::sync::Arc;

/// A lazily connected, self-reconnecting Redis connection shared by all requests, behind a
/// circuit breaker: a command that fails to reach Redis (refused, dropped, or no answer within
/// `COMMAND_TIMEOUT`) opens it for `BREAKER_OPEN`, and meanwhile every caller is told at once
/// that Redis is unavailable and takes its fallback (rate limits counted in this instance,
/// sessions checked in PostgreSQL) instead of waiting on a dead or hung server at each request.
/// The first command after that time probes Redis again.
#[derive(Clone)]
pub struct RedisHandle {
    client: Arc<redis::Client>,
    manager: Arc<tokio::sync::OnceCell<redis::aio::ConnectionManager>>,
    prefix: Arc<str>,
    breaker: Arc<Breaker>,
}

/// How long one command (and connecting for it) may take before Redis counts as unavailable.
const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1000);
/// How long Redis is left alone after it failed a command.
const BREAKER_OPEN: std::time::Duration = std::time::Duration::from_secs(3);

/// Until when Redis is left alone (milliseconds since `epoch`; 0: closed).
struct Breaker {
    epoch: std::time::Instant,
    open_until_ms: std::sync::atomic::AtomicU64,
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_open(&self) -> bool {
        self.now_ms()
            < self
                .open_until_ms
                .load(std::sync::atomic::Ordering::Acquire)
    }

    fn trip(&self) {
        let until = self
            .now_ms()
            .saturating_add(BREAKER_OPEN.as_millis() as u64);
        self.open_until_ms
            .store(until, std::sync::atomic::Ordering::Release);
    }

    fn close(&self) {
        self.open_until_ms
            .store(0, std::sync::atomic::Ordering::Release);
    }
}

fn unavailable(why: &'static str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::IoError,
        "redis is unavailable",
        why.to_string(),
    ))
}

/// Whether `e` says Redis could not be reached (as opposed to a command it refused).
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
}

impl RedisHandle {
    pub fn new(url: &str, prefix: String) -> anyhow::Result<RedisHandle> {
        Ok(RedisHandle {
            client: Arc::new(redis::Client::open(url)?),
            manager: Arc::new(tokio::sync::OnceCell::new()),
            prefix: prefix.into(),
            breaker: Arc::new(Breaker {
                epoch: std::time::Instant::now(),
                open_until_ms: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// The shared connection; the first caller connects, later callers reuse it. Refused at
    /// once while the breaker is open.
    pub async fn connection(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        if self.breaker.is_open() {
            return Err(unavailable("it failed a command moments ago"));
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(std::time::Duration::from_secs(2))
            .set_response_timeout(std::time::Duration::from_secs(2))
            .set_number_of_retries(1);
        self.manager
            .get_or_try_init(|| {
                redis::aio::ConnectionManager::new_with_config((*self.client).clone(), config)
            })
            .await
            .cloned()
    }

    /// Runs `command` on the shared connection within `COMMAND_TIMEOUT`, through the breaker.
    pub async fn run<T, F, Fut>(&self, command: F) -> redis::RedisResult<T>
    where
        F: FnOnce(redis::aio::ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let conn = self.connection().await?;
            command(conn).await
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, attempt).await {
            Ok(Ok(value)) => {
                self.breaker.close();
                Ok(value)
            }
            Ok(Err(e)) => {
                if unreachable(&e) && !self.breaker.is_open() {
                    self.breaker.trip();
                }
                Err(e)
            }
            Err(_) => {
                self.breaker.trip();
                Err(unavailable("it did not answer in time"))
            }
        }
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A key in this deployment's namespace.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 48);
        key.push_str(&self.prefix);
        key.push_str(&parts.join(":"));
        key
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        self.run(|mut conn| async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await?;
            Ok(())
        })
        .await
    }
}
