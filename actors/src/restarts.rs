//! Supervision helpers: per-actor restart counts (for `/metrics`), and the runner that turns a
//! panic in an actor's loop into a supervised restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How many times a supervised actor has been restarted.
#[derive(Debug, Clone, Default)]
pub struct RestartCounter(Arc<AtomicU64>);

impl RestartCounter {
    pub fn record(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs an actor's long-lived loop inside its context. If the loop panics, the panic is
/// caught and the actor stops, so its `Supervisor` restarts it with its state rebuilt; the
/// process and the other actors carry on.
pub(crate) fn spawn_supervised_loop<A>(
    actor: &mut A,
    ctx: &mut actix::Context<A>,
    what: &'static str,
    run: impl std::future::Future<Output = ()> + 'static,
) where
    A: actix::Actor<Context = actix::Context<A>>,
{
    use actix::{ActorContext, ActorFutureExt, AsyncContext, WrapFuture};
    use futures_util::FutureExt;
    ctx.spawn(
        std::panic::AssertUnwindSafe(run)
            .catch_unwind()
            .into_actor(actor)
            .map(move |outcome, _actor, ctx| {
                if outcome.is_err() {
                    tracing::error!("{what} panicked; restarting");
                }
                ctx.stop();
            }),
    );
}
