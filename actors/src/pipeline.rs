//! `PipelineRegistry` and `PipelineActor`: one actor per job with activity. Every move of a
//! job's applications on this instance goes through that job's actor, which runs them one at a
//! time, so they queue in its mailbox instead of contending for row locks. The database still
//! guards against other instances.
//!
//! The registry starts a job's actor on its first command and lets it go once it has been idle
//! for a while. Each actor is supervised: a command that panics fails alone, the actor restarts
//! and the commands queued behind it still run.

use crate::RestartCounter;
use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, AtomicResponse, Context, Handler,
    Message, ResponseActFuture, Supervised, Supervisor, WrapFuture,
};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How the pipeline actors change a job's pipeline: the server's commands and their outcomes.
pub trait PipelinePort: Send + Sync + 'static {
    type Command: Send + 'static;
    type Outcome: Send + 'static;

    /// Carries out `command` on the pipeline of `job`.
    fn apply(&self, job: Uuid, command: Self::Command) -> BoxFuture<'static, Self::Outcome>;
}

/// Why a command has no outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineError {
    /// The command panicked; the job's actor was restarted.
    Panicked,
    /// The job's actor went away before answering.
    Unavailable,
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PipelineError::Panicked => "the pipeline command panicked",
            PipelineError::Unavailable => "the pipeline actor is unavailable",
        })
    }
}

impl std::error::Error for PipelineError {}

/// Runs `command` on the pipeline of `job`, after the commands already queued for that job.
pub struct Apply<P: PipelinePort> {
    pub job: Uuid,
    pub command: P::Command,
}

impl<P: PipelinePort> Message for Apply<P> {
    type Result = Result<P::Outcome, PipelineError>;
}

/// Asks how many job actors are running.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountPipelines;

/// A supervision drill: the actor of `job` panics while handling it, as a failing command
/// would. Nothing outside the process can send it.
#[derive(Message)]
#[rtype(result = "Result<(), PipelineError>")]
pub struct Crash {
    pub job: Uuid,
}

/// One job's actor: runs that job's commands one after another.
pub struct PipelineActor<P: PipelinePort> {
    job: Uuid,
    port: Arc<P>,
    restarts: RestartCounter,
}

impl<P: PipelinePort> Actor for PipelineActor<P> {
    type Context = Context<Self>;
}

impl<P: PipelinePort> Supervised for PipelineActor<P> {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        tracing::warn!(job = %self.job, "pipeline actor restarting");
    }
}

impl<P: PipelinePort> PipelineActor<P> {
    /// Runs `work` to completion before the next message is handled. A panic becomes
    /// `Panicked` and stops the actor, so its supervisor restarts it.
    fn exclusively<T: 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> AtomicResponse<Self, Result<T, PipelineError>> {
        let job = self.job;
        AtomicResponse::new(Box::pin(
            AssertUnwindSafe(work).catch_unwind().into_actor(self).map(
                move |outcome, _actor, ctx| {
                    outcome.map_err(|_| {
                        tracing::error!(%job, "a pipeline command panicked");
                        ctx.stop();
                        PipelineError::Panicked
                    })
                },
            ),
        ))
    }
}

/// A command handed from the registry to the job's actor.
struct Run<P: PipelinePort>(P::Command);

impl<P: PipelinePort> Message for Run<P> {
    type Result = Result<P::Outcome, PipelineError>;
}

impl<P: PipelinePort> Handler<Run<P>> for PipelineActor<P> {
    type Result = AtomicResponse<Self, Result<P::Outcome, PipelineError>>;

    fn handle(&mut self, Run(command): Run<P>, _ctx: &mut Context<Self>) -> Self::Result {
        let work = self.port.apply(self.job, command);
        self.exclusively(work)
    }
}

impl<P: PipelinePort> Handler<Crash> for PipelineActor<P> {
    type Result = AtomicResponse<Self, Result<(), PipelineError>>;

    fn handle(&mut self, _msg: Crash, _ctx: &mut Context<Self>) -> Self::Result {
        let job = self.job;
        self.exclusively(async move { panic!("supervision drill on the pipeline of {job}") })
    }
}

struct Running<P: PipelinePort> {
    addr: Addr<PipelineActor<P>>,
    /// Tells this actor apart from a later one for the same job.
    generation: u64,
    in_flight: usize,
    last_used: Instant,
}

/// This instance's job actors, started on demand and let go when idle.
pub struct PipelineRegistry<P: PipelinePort> {
    port: Arc<P>,
    idle_after: Duration,
    running: HashMap<Uuid, Running<P>>,
    generation: u64,
    restarts: RestartCounter,
    actor_restarts: RestartCounter,
}

impl<P: PipelinePort> PipelineRegistry<P> {
    /// A registry whose actors stop after `idle_after` without a command.
    pub fn new(port: Arc<P>, idle_after: Duration) -> Self {
        PipelineRegistry {
            port,
            idle_after,
            running: HashMap::new(),
            generation: 0,
            restarts: RestartCounter::default(),
            actor_restarts: RestartCounter::default(),
        }
    }

    /// Counts the registry's restarts in `registry` and its job actors' in `actors`.
    pub fn counting_restarts_in(
        mut self,
        registry: RestartCounter,
        actors: RestartCounter,
    ) -> Self {
        self.restarts = registry;
        self.actor_restarts = actors;
        self
    }

    /// The actor of `job`, started if it is not running; marked busy until `finished`.
    fn checkout(&mut self, job: Uuid) -> (Addr<PipelineActor<P>>, u64) {
        let running = match self.running.entry(job) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                self.generation += 1;
                let port = self.port.clone();
                let restarts = self.actor_restarts.clone();
                let addr = Supervisor::start(move |_| PipelineActor {
                    job,
                    port,
                    restarts,
                });
                slot.insert(Running {
                    addr,
                    generation: self.generation,
                    in_flight: 0,
                    last_used: Instant::now(),
                })
            }
        };
        running.in_flight += 1;
        running.last_used = Instant::now();
        (running.addr.clone(), running.generation)
    }

    fn finished(&mut self, job: Uuid, generation: u64) {
        if let Some(running) = self.running.get_mut(&job) {
            if running.generation == generation {
                running.in_flight = running.in_flight.saturating_sub(1);
                running.last_used = Instant::now();
            }
        }
    }

    /// Hands `msg` to the actor of `job` and answers with its answer; the actor counts as busy
    /// until then.
    fn forward<M, T>(
        &mut self,
        job: Uuid,
        msg: M,
    ) -> ResponseActFuture<Self, Result<T, PipelineError>>
    where
        M: Message<Result = Result<T, PipelineError>> + Send + 'static,
        T: Send + 'static,
        PipelineActor<P>: Handler<M>,
        <PipelineActor<P> as Actor>::Context: actix::dev::ToEnvelope<PipelineActor<P>, M>,
    {
        let (addr, generation) = self.checkout(job);
        Box::pin(
            addr.send(msg)
                .into_actor(self)
                .map(move |answer, registry, _ctx| {
                    registry.finished(job, generation);
                    answer.unwrap_or(Err(PipelineError::Unavailable))
                }),
        )
    }

    /// Lets go of the actors with nothing to do for `idle_after`: once the registry drops its
    /// address, an actor stops after its mailbox is empty.
    fn let_idle_go(&mut self) {
        let idle_after = self.idle_after;
        self.running
            .retain(|_, r| r.in_flight > 0 || r.last_used.elapsed() < idle_after);
    }
}

impl<P: PipelinePort> Actor for PipelineRegistry<P> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = (self.idle_after / 2).max(Duration::from_millis(100));
        ctx.run_interval(every, |registry, _ctx| registry.let_idle_go());
    }
}

impl<P: PipelinePort> Supervised for PipelineRegistry<P> {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record();
        // The job actors finish what they hold and stop; new ones start on demand.
        self.running.clear();
    }
}

impl<P: PipelinePort> Handler<Apply<P>> for PipelineRegistry<P> {
    type Result = ResponseActFuture<Self, Result<P::Outcome, PipelineError>>;

    fn handle(&mut self, msg: Apply<P>, _ctx: &mut Context<Self>) -> Self::Result {
        self.forward(msg.job, Run::<P>(msg.command))
    }
}

impl<P: PipelinePort> Handler<Crash> for PipelineRegistry<P> {
    type Result = ResponseActFuture<Self, Result<(), PipelineError>>;

    fn handle(&mut self, msg: Crash, _ctx: &mut Context<Self>) -> Self::Result {
        self.forward(msg.job, msg)
    }
}

impl<P: PipelinePort> Handler<CountPipelines> for PipelineRegistry<P> {
    type Result = usize;

    fn handle(&mut self, _msg: CountPipelines, _ctx: &mut Context<Self>) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Records the order commands ran in, per job; `Step::Panic` panics; `Step::Work` checks
    /// that no other command of the same job runs at the same time.
    #[derive(Default)]
    struct Recorder(Arc<Record>);

    #[derive(Default)]
    struct Record {
        log: Mutex<Vec<(Uuid, u32)>>,
        busy: Mutex<HashMap<Uuid, usize>>,
        overlaps: AtomicUsize,
    }

    enum Step {
        Work(u32),
        Panic,
    }

    impl PipelinePort for Recorder {
        type Command = Step;
        type Outcome = u32;

        fn apply(&self, job: Uuid, command: Step) -> BoxFuture<'static, u32> {
            let recorder = self.0.clone();
            Box::pin(async move {
                match command {
                    Step::Panic => panic!("a failing command"),
                    Step::Work(n) => {
                        {
                            let mut busy = recorder.busy.lock().unwrap_or_else(|e| e.into_inner());
                            let count = busy.entry(job).or_default();
                            if *count > 0 {
                                recorder.overlaps.fetch_add(1, Ordering::SeqCst);
                            }
                            *count += 1;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        recorder
                            .log
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((job, n));
                        let mut busy = recorder.busy.lock().unwrap_or_else(|e| e.into_inner());
                        *busy.entry(job).or_default() -= 1;
                        n
                    }
                }
            })
        }
    }

    fn registry(idle: Duration) -> (Arc<Recorder>, Addr<PipelineRegistry<Recorder>>) {
        let port = Arc::new(Recorder::default());
        let registry = PipelineRegistry::new(port.clone(), idle).start();
        (port, registry)
    }

    #[actix::test]
    async fn a_jobs_commands_run_one_at_a_time_in_arrival_order() -> anyhow::Result<()> {
        let (port, registry) = registry(Duration::from_secs(60));
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let sent: Vec<_> = (0..20)
            .map(|n| {
                registry.send(Apply::<Recorder> {
                    job: if n % 2 == 0 { a } else { b },
                    command: Step::Work(n),
                })
            })
            .collect();
        let answers = futures_util::future::join_all(sent).await;
        for (n, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer?, Ok(n as u32));
        }
        assert_eq!(port.0.overlaps.load(Ordering::SeqCst), 0);
        let log = port.0.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let of = |job| log.iter().filter(move |(j, _)| *j == job).map(|(_, n)| *n);
        assert!(of(a).eq((0..20).step_by(2)));
        assert!(of(b).eq((1..20).step_by(2)));
        assert_eq!(registry.send(CountPipelines).await?, 2);
        Ok(())
    }

    #[actix::test]
    async fn a_panicking_command_fails_alone_and_the_actor_carries_on() -> anyhow::Result<()> {
        let (_port, registry) = registry(Duration::from_secs(60));
        let job = Uuid::from_u128(7);
        let before = registry.send(Apply::<Recorder> {
            job,
            command: Step::Work(1),
        });
        let panics = registry.send(Apply::<Recorder> {
            job,
            command: Step::Panic,
        });
        let after = registry.send(Apply::<Recorder> {
            job,
            command: Step::Work(3),
        });
        assert_eq!(before.await?, Ok(1));
        assert_eq!(panics.await?, Err(PipelineError::Panicked));
        assert_eq!(
            after.await?,
            Ok(3),
            "the command queued behind the panic runs"
        );
        assert_eq!(
            registry.send(Crash { job }).await?,
            Err(PipelineError::Panicked)
        );
        assert_eq!(
            registry
                .send(Apply::<Recorder> {
                    job,
                    command: Step::Work(4)
                })
                .await?,
            Ok(4)
        );
        Ok(())
    }

    #[actix::test]
    async fn idle_actors_are_let_go_and_come_back_on_demand() -> anyhow::Result<()> {
        let (_port, registry) = registry(Duration::from_millis(200));
        let job = Uuid::from_u128(9);
        registry
            .send(Apply::<Recorder> {
                job,
                command: Step::Work(1),
            })
            .await??;
        assert_eq!(registry.send(CountPipelines).await?, 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(registry.send(CountPipelines).await?, 0);
        let again = registry
            .send(Apply::<Recorder> {
                job,
                command: Step::Work(2),
            })
            .await?;
        assert_eq!(again, Ok(2));
        Ok(())
    }
}
