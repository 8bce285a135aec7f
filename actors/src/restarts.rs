//! Supervision helpers: per-actor restart counts (for `/metrics`), and the runner that turns a
//! panic in an actor's loop into a supervised restart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use strum::EnumCount;

/// Every supervised actor of an instance, by the name `/metrics` reports. `/metrics` iterates
/// this enum, so an actor cannot be counted where nobody sees it: naming a new actor here is the
/// only way to get its counter.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::EnumCount,
)]
#[strum(serialize_all = "snake_case")]
pub enum ActorName {
    Hub,
    Bus,
    Relay,
    Deadlines,
    /// The registry of per-job pipeline actors.
    Pipelines,
    /// The per-job pipeline actors, together.
    Pipeline,
    /// The document writer (notifications, activity, audit).
    Documents,
    /// The relay feeding the document writer.
    DocumentRelay,
    /// The mailer (account mail).
    Mailer,
    /// The relay feeding the mailer.
    MailRelay,
    /// The in-memory match index.
    MatchIndex,
    /// The HNSW index over talent vectors.
    SemanticIndex,
    /// The lexical index of talents (talent search).
    LexicalIndex,
    /// The embedding queue's worker (profile and job text into vectors).
    EmbeddingWorker,
    /// The media queue's worker (processing uploads).
    MediaWorker,
}

impl ActorName {
    pub fn all() -> &'static [ActorName] {
        <ActorName as strum::VariantArray>::VARIANTS
    }

    /// The `actor` label on `/metrics`.
    pub fn label(self) -> &'static str {
        self.into()
    }
}

/// One restart counter per `ActorName`, indexed by it: the set is complete by construction.
#[derive(Debug, Clone, Default)]
pub struct Restarts(Arc<[RestartCounter; ActorName::COUNT]>);

impl Restarts {
    pub fn new() -> Restarts {
        Restarts::default()
    }

    /// The counter of `actor`.
    pub fn of(&self, actor: ActorName) -> RestartCounter {
        self.0[actor as usize].clone()
    }

    /// Every actor with its count, in `ActorName` order.
    pub fn counts(&self) -> Vec<(ActorName, u64)> {
        ActorName::all()
            .iter()
            .map(|&name| (name, self.of(name).get()))
            .collect()
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_actor_has_its_own_counter() {
        let restarts = Restarts::new();
        restarts.of(ActorName::DocumentRelay).record();
        let counts = restarts.counts();
        assert_eq!(counts.len(), ActorName::all().len());
        assert!(counts.contains(&(ActorName::DocumentRelay, 1)));
        assert!(counts.contains(&(ActorName::Documents, 0)));
        assert_eq!(ActorName::DocumentRelay.label(), "document_relay");
    }
}
