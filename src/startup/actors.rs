//! The realtime actors of one instance, each started under its `Supervisor` and wired to the
//! others: the hub (live subscribers), the event bus (every instance), the outbox relay (feeds
//! the bus), the document writer and its relay (MongoDB), the deadline scheduler and the
//! pipeline registry, the mailer with its relay, the indexes and the queue workers (media,
//! embeddings). `start` returns their handles; restarts are counted per `ActorName`.

use crate::adapters::deadlines::PgDeadlines;
use crate::adapters::documents::MongoDocuments;
use crate::adapters::embeddings::{EmbeddingWork, PgSemanticSource};
use crate::adapters::mail::LettreMail;
use crate::adapters::matching::PgMatchSource;
use crate::adapters::media::MediaWork;
use crate::adapters::outbox::PgOutbox;
use crate::adapters::redis_bus::RedisBus;
use crate::clients::ai::Ai;
use crate::configuration::BusKind;
use crate::db::outbox::Consumer;
use crate::services::lexical::{LexicalKeeper, TalentTexts};
use crate::services::pipelines::Pipelines;
use crate::services::snapshots::Snapshots;
use crate::services::AppState;
use actix::{Addr, Recipient, Supervisor};
use castyou_actors::deadlines::{DeadlinePort, DeadlineScheduler};
use castyou_actors::kept::{KeptIndex, KeptIndexActor, Save};
use castyou_actors::queue::{QueueSettings, QueueWorker, Wake};
use castyou_actors::semantic::HnswParams;
use castyou_actors::snapshots::SnapshotStore;
use castyou_actors::{
    ActorName, BusPort, DocumentPort, DocumentWriter, EventBus, MailFailures, MailPort, Mailer,
    MatchIndex, MatchSource, NotificationHub, OutboxPort, OutboxRelay, Publish, Restarts,
    SemanticIndex, SemanticSource,
};
use std::sync::Arc;
use std::time::Duration;

/// How often a relay looks for events when no notification woke it.
const OUTBOX_POLL: Duration = Duration::from_secs(1);

/// How long an embedding worker holds its subjects before another may take them (renewed
/// while it works).
const EMBEDDING_LEASE: Duration = Duration::from_secs(120);

/// The longest the media queue pauses after runs that failed as a whole (the database away).
const MEDIA_RETRY_MAX: Duration = Duration::from_secs(30);

/// How long a job's pipeline actor lives without a move.
const PIPELINE_IDLE: Duration = Duration::from_secs(300);

/// The handles of this instance's realtime actors (they stop when the handles are dropped).
pub struct RealtimeActors {
    pub hub: Addr<NotificationHub>,
    pub bus: Addr<EventBus>,
    pub pipelines: Pipelines,
    pub restarts: Restarts,
    pub mail_failures: MailFailures,
    _relay: Addr<OutboxRelay>,
    _mailer: Addr<Mailer>,
    _mail_relay: Addr<OutboxRelay>,
    _documents: Addr<DocumentWriter>,
    _document_relay: Addr<OutboxRelay>,
    _deadlines: Addr<DeadlineScheduler>,
    pub matches: Addr<MatchIndex<crate::db::models::Job>>,
    /// The lexical index of talents.
    pub lexical: Addr<LexicalKeeper>,
    /// The embedding queue's worker and the semantic index (with an endpoint only).
    pub semantic: Option<(Addr<QueueWorker<EmbeddingWork>>, Addr<SemanticIndex>)>,
    /// The media queue's worker (unless `media.process` is off).
    pub media: Option<Addr<QueueWorker<MediaWork>>>,
}

/// Queues whatever has no vectors of the configured model yet (first configuration, a new
/// model, seeded rows), then wakes the worker; retried until PostgreSQL answers.
fn queue_missing(state: AppState, ai: Ai, worker: Addr<QueueWorker<EmbeddingWork>>) {
    actix_web::rt::spawn(async move {
        let mut wait = Duration::from_millis(500);
        loop {
            let queued = async {
                let mut conn = state.conn().await.map_err(anyhow::Error::from)?;
                anyhow::Ok(
                    crate::db::embeddings::enqueue_missing(
                        &mut conn,
                        ai.embedding_model(),
                        ai.dimensions() as i32,
                    )
                    .await?,
                )
            }
            .await;
            match queued {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(queued = n, "subjects without vectors queued for embedding");
                    }
                    worker.do_send(Wake);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not queue subjects for embedding; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    });
}

/// A relay of the outbox for `consumer`, feeding `sink`.
fn outbox_relay(
    state: &AppState,
    restarts: &Restarts,
    consumer: Consumer,
    sink: Recipient<Publish>,
) -> Addr<OutboxRelay> {
    let retention = chrono::Duration::days(state.settings.realtime.outbox_retention_days);
    let port: Arc<dyn OutboxPort> = Arc::new(PgOutbox::new(
        consumer,
        state.pool.clone(),
        state.settings.database.url.clone(),
        retention,
    ));
    let counter = restarts.of(match consumer {
        Consumer::Bus => ActorName::Relay,
        Consumer::Documents => ActorName::DocumentRelay,
        Consumer::Mail => ActorName::MailRelay,
    });
    Supervisor::start(move |_| {
        OutboxRelay::new(port.clone(), sink.clone(), OUTBOX_POLL)
            .counting_restarts_in(counter.clone())
    })
}

/// The deadline scheduler: closes jobs at their deadline and sends the producers' reminders.
fn deadline_scheduler(state: &AppState, restarts: &Restarts) -> Addr<DeadlineScheduler> {
    let realtime = &state.settings.realtime;
    let port: Arc<dyn DeadlinePort> = Arc::new(PgDeadlines::new(
        state.clone(),
        chrono::Duration::seconds(realtime.deadline_reminder_secs),
    ));
    let sweep_every = Duration::from_secs(realtime.deadline_sweep_secs);
    let counter = restarts.of(ActorName::Deadlines);
    Supervisor::start(move |_| {
        DeadlineScheduler::new(port.clone(), sweep_every).counting_restarts_in(counter.clone())
    })
}

/// The match index: loads every talent and OPEN job, then follows their events.
fn match_index(
    state: &AppState,
    restarts: &Restarts,
    hub: &Addr<NotificationHub>,
) -> Addr<MatchIndex<crate::db::models::Job>> {
    let source: Arc<dyn MatchSource<Row = crate::db::models::Job>> =
        Arc::new(PgMatchSource::new(state.clone()));
    let (handle, to_hub) = (state.matches.clone(), hub.clone());
    let batch = state.settings.matching.load_batch;
    let counter = restarts.of(ActorName::MatchIndex);
    Supervisor::start(move |_| {
        handle
            .keeper(source.clone(), to_hub.clone(), batch)
            .counting_restarts_in(counter.clone())
    })
}

/// The lexical index of talents: built at start, then following profile changes.
fn lexical_index(
    state: &AppState,
    restarts: &Restarts,
    hub: &Addr<NotificationHub>,
    saving: &Saving,
) -> Addr<LexicalKeeper> {
    let source = Arc::new(TalentTexts::new(state.pool.clone()));
    let (handle, to_hub) = (state.lexical.clone(), hub.clone());
    let dir = std::path::PathBuf::from(&state.settings.search.dir);
    let batch = state.settings.matching.load_batch;
    let counter = restarts.of(ActorName::LexicalIndex);
    let saving = saving.clone();
    Supervisor::start(move |_| {
        let keeper = handle
            .keeper(dir.clone(), source.clone(), to_hub.clone(), batch)
            .counting_restarts_in(counter.clone());
        saved(keeper, &saving)
    })
}

/// Where the kept indexes save their copies, and how often (None: never).
type Saving = Option<(Arc<dyn SnapshotStore>, Duration)>;

fn saving(state: &AppState, snapshots: Option<Snapshots>) -> Saving {
    let every = Duration::from_secs(state.settings.search.snapshot_interval_secs);
    let store: Arc<dyn SnapshotStore> = Arc::new(snapshots?);
    Some((store, every))
}

fn saved<K: KeptIndex>(keeper: KeptIndexActor<K>, saving: &Saving) -> KeptIndexActor<K> {
    match saving {
        Some((store, every)) => keeper.saving_to(Arc::clone(store), *every),
        None => keeper,
    }
}

/// Where copies are kept (None when `search.snapshot_interval_secs` is 0): this instance's
/// `search.dir`, published to the media store when `search.publish_snapshots` is on.
pub async fn snapshots(state: &AppState) -> anyhow::Result<Option<Snapshots>> {
    let search = &state.settings.search;
    if search.snapshot_interval_secs == 0 {
        return Ok(None);
    }
    let store = search
        .publish_snapshots
        .then(|| Arc::clone(&state.media_store));
    let retention = chrono::Duration::days(state.settings.realtime.outbox_retention_days);
    let snapshots = Snapshots::new(
        std::path::PathBuf::from(&search.dir),
        state.pool.clone(),
        store,
        retention,
        search.snapshot_max_bytes,
    )
    .await?;
    Ok(Some(snapshots))
}

/// The embedding queue's worker (with an endpoint only).
fn embedding_worker(
    state: &AppState,
    ai: &Ai,
    restarts: &Restarts,
    hub: &Addr<NotificationHub>,
) -> Addr<QueueWorker<EmbeddingWork>> {
    let settings = &state.settings.ai;
    let work = Arc::new(EmbeddingWork::new(
        state.pool.clone(),
        ai.clone(),
        Arc::clone(&state.embedding_stats),
        settings.embedding_batch,
        EMBEDDING_LEASE,
        settings.worker_max_attempts,
    ));
    let queue = QueueSettings {
        concurrency: 1,
        batch: settings.embedding_batch,
        lease: EMBEDDING_LEASE,
        budget: EMBEDDING_LEASE * 5,
        poll: Duration::from_secs(settings.worker_poll_secs),
        retry_max: Duration::from_secs(settings.worker_retry_max_secs),
    };
    let (stats, to_hub) = (Arc::clone(&state.embedding_queue), hub.clone());
    let counter = restarts.of(ActorName::EmbeddingWorker);
    Supervisor::start(move |_| {
        QueueWorker::new(
            Arc::clone(&work),
            to_hub.clone(),
            stats.clone(),
            queue,
            Arc::default(),
        )
        .counting_restarts_in(counter.clone())
    })
}

/// With an endpoint: the embedding queue's worker (with whatever has no vectors yet queued)
/// and the semantic index.
fn semantic_actors(
    state: &AppState,
    restarts: &Restarts,
    hub: &Addr<NotificationHub>,
    saving: &Saving,
) -> Option<(Addr<QueueWorker<EmbeddingWork>>, Addr<SemanticIndex>)> {
    let ai = state.ai.as_ref()?;
    let worker = embedding_worker(state, ai, restarts, hub);
    queue_missing(state.clone(), ai.clone(), worker.clone());
    Some((
        worker,
        semantic_index(state, ai, restarts, hub, saving.clone()),
    ))
}

/// The semantic index over the stored embeddings (with an endpoint only).
fn semantic_index(
    state: &AppState,
    ai: &Ai,
    restarts: &Restarts,
    hub: &Addr<NotificationHub>,
    saving: Saving,
) -> Addr<SemanticIndex> {
    let settings = &state.settings.ai;
    let source: Arc<dyn SemanticSource> = Arc::new(PgSemanticSource::new(state.pool.clone(), ai));
    let (handle, to_hub) = (state.semantic.clone(), hub.clone());
    let params = HnswParams {
        dims: ai.dimensions(),
        m: settings.hnsw_m,
        ef_construction: settings.hnsw_ef_construction,
        ef_search: settings.hnsw_ef_search,
    };
    let batch = state.settings.matching.load_batch;
    let counter = restarts.of(ActorName::SemanticIndex);
    // A copy of vectors of another model or dimension is never opened.
    let fit = format!(
        "semantic-v2:{}:{}:m{}",
        ai.embedding_model(),
        ai.dimensions(),
        settings.hnsw_m
    );
    Supervisor::start(move |_| {
        let keeper = handle
            .keeper(
                source.clone(),
                to_hub.clone(),
                params,
                batch,
                Some(fit.clone()),
            )
            .counting_restarts_in(counter.clone());
        saved(keeper, &saving)
    })
}

/// The media queue's worker: processes uploads completed on any instance (unless
/// `media.process` is off).
fn media_worker(
    state: &AppState,
    restarts: &Restarts,
    hub: &Addr<NotificationHub>,
) -> Option<Addr<QueueWorker<MediaWork>>> {
    let settings = &state.settings.media;
    if !settings.process {
        return None;
    }
    let work = Arc::new(MediaWork::new(state.clone()));
    let queue = QueueSettings {
        concurrency: crate::services::media_workers::concurrency(state),
        batch: 1,
        lease: Duration::from_secs(settings.lease_secs),
        budget: Duration::from_secs(settings.item_timeout_secs),
        poll: Duration::from_secs(settings.poll_secs.max(1)),
        retry_max: MEDIA_RETRY_MAX,
    };
    let (stats, wake, to_hub) = (
        Arc::clone(&state.media_queue),
        Arc::clone(&state.media_wake),
        hub.clone(),
    );
    let counter = restarts.of(ActorName::MediaWorker);
    Some(Supervisor::start(move |_| {
        QueueWorker::new(
            Arc::clone(&work),
            to_hub.clone(),
            stats.clone(),
            queue,
            wake.clone(),
        )
        .counting_restarts_in(counter.clone())
    }))
}

impl RealtimeActors {
    /// Fails only on settings the mail transport cannot use.
    pub fn start(state: &AppState, snapshots: Option<Snapshots>) -> anyhow::Result<RealtimeActors> {
        let restarts = Restarts::new();
        let realtime = &state.settings.realtime;

        let counter = restarts.of(ActorName::Hub);
        let hub =
            Supervisor::start(move |_| NotificationHub::with_restart_counter(counter.clone()));

        let bus_port: Option<Arc<dyn BusPort>> = match realtime.bus {
            BusKind::Redis => Some(Arc::new(RedisBus::new(state.redis.clone()))),
            BusKind::Local => None,
        };
        let (to_hub, counter) = (hub.clone().recipient(), restarts.of(ActorName::Bus));
        let bus = Supervisor::start(move |_| {
            EventBus::new(bus_port.clone(), to_hub.clone()).counting_restarts_in(counter.clone())
        });

        // The bus consumer of the outbox: one relaying instance publishes every event.
        let relay = outbox_relay(state, &restarts, Consumer::Bus, bus.clone().recipient());

        // The document consumer: a second relay over the same outbox, with its own progress and
        // leader, feeding the writer that stores notifications, activity and audit entries and
        // then pushes the notifications on the bus.
        let store: Arc<dyn DocumentPort> = Arc::new(MongoDocuments::new(state.clone()));
        let (to_bus, counter) = (bus.clone().recipient(), restarts.of(ActorName::Documents));
        let documents = Supervisor::start(move |_| {
            DocumentWriter::new(store.clone(), to_bus.clone()).counting_restarts_in(counter.clone())
        });
        let document_relay = outbox_relay(
            state,
            &restarts,
            Consumer::Documents,
            documents.clone().recipient(),
        );

        // The mail consumer: its own relay, reading only events that ask for mail.
        let mail: Arc<dyn MailPort> = Arc::new(LettreMail::new(state.clone())?);
        let mail_failures = MailFailures::default();
        let (failures, counter) = (mail_failures.clone(), restarts.of(ActorName::Mailer));
        let mailer = Supervisor::start(move |_| {
            Mailer::new(mail.clone(), failures.clone()).counting_restarts_in(counter.clone())
        });
        let mail_relay = outbox_relay(state, &restarts, Consumer::Mail, mailer.clone().recipient());

        let deadlines = deadline_scheduler(state, &restarts);
        let matches = match_index(state, &restarts, &hub);
        let saving = saving(state, snapshots);
        let lexical = lexical_index(state, &restarts, &hub, &saving);
        let semantic = semantic_actors(state, &restarts, &hub, &saving);
        let media = media_worker(state, &restarts, &hub);
        if media.is_none() {
            tracing::info!("media.process is off: this instance leaves media processing to others");
        }

        let pipelines = Pipelines::start(
            state.clone(),
            PIPELINE_IDLE,
            restarts.of(ActorName::Pipelines),
            restarts.of(ActorName::Pipeline),
        );

        Ok(RealtimeActors {
            hub,
            bus,
            pipelines,
            restarts,
            mail_failures,
            _relay: relay,
            _mailer: mailer,
            _mail_relay: mail_relay,
            _documents: documents,
            _document_relay: document_relay,
            _deadlines: deadlines,
            matches,
            lexical,
            semantic,
            media,
        })
    }

    /// Saves a copy of each kept index that is saved (when the server stops), waiting at most
    /// `within` for each.
    pub async fn save_indexes(&self, within: Duration) {
        let mut indexes: Vec<(&str, Recipient<Save>)> =
            vec![("lexical index", self.lexical.clone().recipient())];
        if let Some((_, semantic)) = &self.semantic {
            indexes.push(("semantic index", semantic.clone().recipient()));
        }
        let saves = indexes.iter().map(|(index, actor)| async move {
            (*index, tokio::time::timeout(within, actor.send(Save)).await)
        });
        for (index, outcome) in futures_util::future::join_all(saves).await {
            match outcome {
                Ok(Ok(Ok(_))) => {}
                Ok(Ok(Err(e))) => {
                    tracing::error!(index, error = format!("{e:#}"), "no copy saved at shutdown")
                }
                Ok(Err(e)) => tracing::error!(index, error = %e, "no copy saved at shutdown"),
                Err(_) => tracing::error!(index, "saving a copy outlived the shutdown timeout"),
            }
        }
    }

    /// Each kept index by the name operators rebuild it by.
    pub fn rebuilders(&self) -> crate::http::indexes::Rebuilders {
        let mut indexes = vec![
            ("lexical", self.lexical.clone().recipient()),
            ("match", self.matches.clone().recipient()),
        ];
        if let Some((_, semantic)) = &self.semantic {
            indexes.push(("semantic", semantic.clone().recipient()));
        }
        crate::http::indexes::Rebuilders(indexes)
    }

    /// What the GraphQL schema needs of them.
    pub fn for_schema(&self) -> crate::graphql::Realtime {
        crate::graphql::Realtime {
            hub: self.hub.clone(),
            pipelines: self.pipelines.clone(),
            bus: self.bus.clone().recipient(),
        }
    }
}
