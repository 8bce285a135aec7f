//! `DeadlineScheduler`: closes jobs at their application deadline and sends the reminder
//! before it. The schedule lives in storage, not in memory: every sweep asks the port to act on
//! whatever is due by the database's clock, so deadlines set or edited later, restarts and
//! clock jumps need nothing special, and the port's conditional updates make each close and
//! reminder happen once across instances.

use crate::relay::PortFuture;
use actix::{Actor, Context, Supervised};
use std::sync::Arc;
use std::time::Duration;

/// What a sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub closed: usize,
    pub reminded: usize,
}

/// How the scheduler reaches the jobs.
pub trait DeadlinePort: Send + Sync + 'static {
    /// Closes every job past its deadline and reminds every deadline within the reminder
    /// window, each once.
    fn sweep(&self) -> PortFuture<Swept>;
}

pub struct DeadlineScheduler {
    restarts: crate::RestartCounter,
    port: Arc<dyn DeadlinePort>,
    every: Duration,
}

impl DeadlineScheduler {
    pub fn new(port: Arc<dyn DeadlinePort>, every: Duration) -> Self {
        DeadlineScheduler {
            restarts: crate::RestartCounter::default(),
            port,
            every,
        }
    }
}

impl DeadlineScheduler {
    /// Counts this actor's restarts in `restarts`.
    pub fn counting_restarts_in(mut self, restarts: crate::RestartCounter) -> Self {
        self.restarts = restarts;
        self
    }
}

impl Actor for DeadlineScheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let port = self.port.clone();
        let every = self.every;
        let run = async move {
            loop {
                match port.sweep().await {
                    Ok(swept) if swept != Swept::default() => {
                        tracing::info!(
                            closed = swept.closed,
                            reminded = swept.reminded,
                            "deadlines swept"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "deadline sweep failed; retrying"),
                }
                tokio::time::sleep(every).await;
            }
        };
        crate::restarts::spawn_supervised_loop(self, ctx, "deadline scheduler", run);
    }
}

impl Supervised for DeadlineScheduler {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        tracing::warn!("deadline scheduler restarting");
    }
}
