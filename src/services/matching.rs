//! How well a talent fits a job, by the 9-factor model of `castyou-model`: the server's
//! profiles and jobs turned into the model's inputs, the job's weights, and one pair's
//! breakdown for the people entitled to see it.

use super::{events, jobs, signed_in, AppState, Viewer};
use crate::db::models::{Job, TalentProfile};
use crate::db::{self};
use crate::documents::explain::{verdict_letter, ExplainDoc, LoggedTalent, LoggedWeight};
use crate::documents::{bson_time, sort_key};
use crate::domain::ids::EventId;
use crate::domain::ids::{JobId, UserId};
use crate::domain::profiles as domain;
use crate::domain::values::CountryCode;
use crate::domain::{Role, UnionStatus};
use crate::errors::{AppError, AppResult};
use crate::services::embeddings::Part;
use anyhow::Context as _;
use base64::Engine as _;
use castyou_actors::matching::{After, DiscoverFilter, DiscoverQuery, IndexError, Page};
use castyou_model as model;
use castyou_model::{Factor, Weights};
pub use castyou_vocab::events::{Served, ServedPages, ServedTalent, StoredWeight};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection as _;
use futures_util::Stream;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

fn stored(weights: &Weights) -> Vec<StoredWeight> {
    weights
        .iter()
        .map(|(factor, weight)| StoredWeight {
            factor: factor.as_str().to_string(),
            weight,
        })
        .collect()
}

/// The weights a job's ranking uses: its own, or the model's defaults.
pub fn weights_of(job: &Job) -> Weights {
    let Some(stored) = &job.row.match_weights else {
        return Weights::default();
    };
    let parsed: Option<Vec<(Factor, f64)>> =
        serde_json::from_value::<Vec<StoredWeight>>(stored.clone())
            .ok()
            .map(|ws| {
                ws.iter()
                    .filter_map(|w| Some((Factor::parse(&w.factor)?, f64::from(w.weight))))
                    .collect()
            });
    match parsed.map(|pairs| Weights::normalised(&pairs)) {
        Some(Ok(weights)) => weights,
        _ => {
            tracing::error!(job = %job.row.id, "stored match weights do not decode; using the defaults");
            Weights::default()
        }
    }
}

fn languages(skills: &[domain::LanguageSkill]) -> Vec<model::LanguageSkill> {
    skills
        .iter()
        .map(|s| model::LanguageSkill {
            language: s.language.to_string(),
            proficiency: s.proficiency,
        })
        .collect()
}

/// A talent profile as the model reads it.
pub fn talent_input(profile: &TalentProfile) -> model::TalentInput {
    let row = &profile.row;
    model::TalentInput {
        location_country: row.country.as_ref().map(|c| c.to_string()),
        gender: row.gender.clone(),
        playing_age_min: row.playing_age_min,
        playing_age_max: row.playing_age_max,
        height_cm: row.height_cm,
        languages: languages(&profile.languages),
        accents: row.accents.clone(),
        work_authorizations: row
            .work_authorizations
            .iter()
            .map(|c| c.to_string())
            .collect(),
        notable_works: profile
            .notable_works
            .iter()
            .map(|w| model::NotableWork {
                title: w.title.clone(),
                year: w.year,
                role: w.role.clone(),
                production_type: w.production_type,
            })
            .collect(),
        production_experience_years: Some(row.production_experience_years),
        awards: profile
            .awards
            .iter()
            .map(|a| model::Award {
                name: a.name.clone(),
                year: a.year,
                won: a.won,
            })
            .collect(),
        dream_gigs: row.dream_gigs.clone(),
        rate_min: row.rate_min,
        rate_max: row.rate_max,
        currency: Some(row.currency.to_string()),
        availability: profile
            .availability
            .iter()
            .map(|w| model::AvailabilityWindow {
                from: w.from.date_naive(),
                to: w.to.date_naive(),
            })
            .collect(),
        works_vector: None,
        dreams_vector: None,
    }
}

/// Adds the embeddings of the talents' notable works and dream gigs (of the configured model)
/// to their model inputs. Without an embeddings endpoint nothing is added: the semantic parts
/// of NOTABLE_WORKS and DREAM_GIG are off and the word-overlap rules stand alone.
pub async fn add_talent_vectors(
    state: &AppState,
    conn: &mut db::PgConn,
    inputs: &mut [(Uuid, &mut model::TalentInput)],
) -> anyhow::Result<()> {
    let Some(ai) = &state.ai else { return Ok(()) };
    if inputs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = inputs.iter().map(|(id, _)| *id).collect();
    let parts = [Part::Works.as_str(), Part::Dreams.as_str()];
    let rows = db::embeddings::talent_vectors(
        conn,
        &ids,
        &parts,
        ai.embedding_model(),
        ai.dimensions() as i32,
    )
    .await
    .context("reading talents' work and dream-gig embeddings")?;
    let mut found: HashMap<(Uuid, String), Vec<f32>> = rows
        .into_iter()
        .map(|r| {
            (
                (r.subject_id, r.part),
                db::embeddings::from_bytes(&r.vector),
            )
        })
        .collect();
    for (id, input) in inputs.iter_mut() {
        input.works_vector = found.remove(&(*id, Part::Works.as_str().to_owned()));
        input.dreams_vector = found.remove(&(*id, Part::Dreams.as_str().to_owned()));
    }
    Ok(())
}

/// Adds the embeddings of the jobs' text (of the configured model) to their model inputs;
/// nothing without an embeddings endpoint.
pub async fn add_job_vectors(
    state: &AppState,
    conn: &mut db::PgConn,
    inputs: &mut [(Uuid, &mut model::JobInput)],
) -> anyhow::Result<()> {
    let Some(ai) = &state.ai else { return Ok(()) };
    if inputs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = inputs.iter().map(|(id, _)| *id).collect();
    let rows =
        db::embeddings::job_vectors(conn, &ids, ai.embedding_model(), ai.dimensions() as i32)
            .await
            .context("reading jobs' embeddings")?;
    let mut found: HashMap<Uuid, Vec<f32>> = rows
        .into_iter()
        .map(|r| (r.job_id, db::embeddings::from_bytes(&r.vector)))
        .collect();
    for (id, input) in inputs.iter_mut() {
        input.vector = found.remove(id);
    }
    Ok(())
}

/// A job as the model reads it.
pub fn job_input(job: &Job) -> anyhow::Result<model::JobInput> {
    let row = &job.row;
    let req = job
        .decoded_requirements()
        .context("decoding requirements")?;
    Ok(model::JobInput {
        title: row.title.clone(),
        description: row.description.clone(),
        project_name: row.project_name.clone(),
        production_type: row.production_type,
        location_country: row.country.as_ref().map(|c| c.to_string()),
        remote: row.remote,
        pay_min: row.pay_min,
        pay_max: row.pay_max,
        currency: Some(row.currency.to_string()),
        requirements: model::JobRequirements {
            gender: req.gender,
            playing_age_min: req.playing_age_min,
            playing_age_max: req.playing_age_max,
            height_min_cm: req.height_min_cm,
            height_max_cm: req.height_max_cm,
            languages: languages(&req.languages),
            accents: req.accents,
            work_authorizations: req
                .work_authorizations
                .iter()
                .map(|c| c.to_string())
                .collect(),
            min_experience_years: req.min_experience_years,
        },
        shoot_start: row.shoot_start.map(|d| d.date_naive()),
        shoot_end: row.shoot_end.map(|d| d.date_naive()),
        vector: None,
    })
}

/// The match index's record of a job; its row travels with it so feed pages need no query.
pub fn job_record(job: Job) -> anyhow::Result<castyou_actors::matching::JobRecord<Job>> {
    Ok(castyou_actors::matching::JobRecord {
        id: job.row.id.0,
        input: job_input(&job)?,
        weights: weights_of(&job),
        application_deadline: job.row.application_deadline,
        row: Arc::new(job),
    })
}

/// The talent of a match: loaded already, or to be loaded when a client asks for it.
pub enum TalentRef {
    Loaded(Box<TalentProfile>),
    Id(UserId),
}

/// One talent scored against one job.
pub struct PairMatch {
    pub job: Arc<Job>,
    pub talent: TalentRef,
    pub weights: Weights,
    pub scored: model::Scored,
    pub computed_at: DateTime<Utc>,
}

/// The breakdown of one pair, for the job's producer, that talent, or an admin.
pub async fn pair(
    state: &AppState,
    viewer: Option<Viewer>,
    job_id: JobId,
    talent_id: UserId,
) -> AppResult<PairMatch> {
    let viewer = signed_in(viewer)?;
    let job = jobs::find(state, Some(viewer), job_id)
        .await?
        .ok_or(AppError::NotFound("job"))?;
    let mut conn = state.conn().await?;
    let talent = db::profiles::find_talent(&mut conn, talent_id)
        .await
        .with_context(|| format!("reading the talent profile of {talent_id}"))?
        .ok_or(AppError::NotFound("talent"))?;
    if !(jobs::manages(&viewer, &job) || viewer.user_id == talent_id) {
        return Err(AppError::forbidden(
            "a match is visible to the job's producer and to that talent",
        ));
    }
    let weights = weights_of(&job);
    let mut t_input = talent_input(&talent);
    let mut j_input = job_input(&job)?;
    add_talent_vectors(state, &mut conn, &mut [(talent_id.0, &mut t_input)]).await?;
    add_job_vectors(state, &mut conn, &mut [(job.row.id.0, &mut j_input)]).await?;
    let now = Utc::now();
    let ctx = model::Context {
        rates: &state.rates,
        today: now.date_naive(),
    };
    let scored = model::score(
        &model::TalentFeatures::new(&t_input),
        &model::JobFeatures::new(&j_input),
        &weights,
        &ctx,
    );
    Ok(PairMatch {
        job: Arc::new(job),
        talent: TalentRef::Loaded(Box::new(talent)),
        weights,
        scored,
        computed_at: now,
    })
}

/// Sets a job's ranking weights (its producer and admins): any non-negative numbers, factors
/// left out keep their default, normalised to sum 1.
pub async fn set_weights(
    state: &AppState,
    viewer: Option<Viewer>,
    job_id: JobId,
    weights: &[(Factor, f64)],
) -> AppResult<Job> {
    let viewer = signed_in(viewer)?;
    let job = jobs::find(state, Some(viewer), job_id)
        .await?
        .ok_or(AppError::NotFound("job"))?;
    if !jobs::manages(&viewer, &job) {
        return Err(AppError::forbidden(
            "only the job's producer sets its match weights",
        ));
    }
    if weights.len() > Factor::ALL.len() {
        return Err(AppError::bad_input(
            "weights",
            "give each factor at most once",
        ));
    }
    let normalised =
        Weights::normalised(weights).map_err(|e| AppError::bad_input("weights", e.to_string()))?;
    let stored = serde_json::to_value(stored(&normalised)).context("encoding match weights")?;
    let mut conn = state.conn().await?;
    let (job, seq) = conn
        .transaction::<_, AppError, _>(async |c| {
            let job = db::jobs::set_match_weights(c, job_id, &stored)
                .await
                .with_context(|| format!("setting the match weights of job {job_id}"))?;
            events::job_updated(c, &job).await?;
            let seq = db::outbox::last_seq(c).await.context("outbox::last_seq")?;
            Ok((job, seq))
        })
        .await?;
    super::own_writes::note(state, viewer.user_id, seq).await;
    Ok(job)
}

/// The deepest a feed's `first` goes per page.
const MAX_FIRST: i32 = 100;

fn first_of(first: Option<i32>) -> AppResult<usize> {
    let first = first.unwrap_or(20);
    if !(0..=MAX_FIRST).contains(&first) {
        return Err(AppError::bad_input(
            "first",
            format!("must be between 0 and {MAX_FIRST}"),
        ));
    }
    Ok(first as usize)
}

/// A feed cursor: the exact score (its bits) and id of the last item seen.
pub fn encode_cursor(score: f32, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("m1:{:08x}:{id}", score.to_bits()))
}

fn decode_cursor(raw: Option<&str>) -> AppResult<Option<After>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let bad = || AppError::bad_input("after", "is not a cursor from this feed");
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let mut parts = text.splitn(3, ':');
    let (Some("m1"), Some(bits), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let score = u32::from_str_radix(bits, 16)
        .map(f32::from_bits)
        .ok()
        .filter(|s| s.is_finite())
        .ok_or_else(bad)?;
    let id = id.parse().map_err(|_| bad())?;
    Ok(Some(After { score, id }))
}

fn min_score(min: Option<f64>, field: &str) -> AppResult<Option<f32>> {
    match min {
        Some(m) if !(0.0..=100.0).contains(&m) => {
            Err(AppError::bad_input(field, "must be between 0 and 100"))
        }
        Some(m) => Ok(Some(m as f32)),
        None => Ok(None),
    }
}

fn index_error(e: IndexError) -> AppError {
    match e {
        IndexError::WarmingUp => AppError::WarmingUp(
            "the match index is still loading after a start; retry in a few seconds".into(),
        ),
        IndexError::NoProfile => AppError::NotFound("talent profile"),
        IndexError::NotIndexed => AppError::Internal(anyhow::anyhow!(
            "the job left the match index twice in a row"
        )),
        IndexError::Failed(e) => AppError::Internal(anyhow::anyhow!(e)),
    }
}

/// `DiscoverFilter` as asked.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverFilterArgs {
    pub min_score: Option<f64>,
    pub country: Option<String>,
    pub union_status: Option<UnionStatus>,
    pub exclude_applicants: bool,
}

/// One item of a feed, with its cursor.
pub struct FeedItem {
    pub pair: PairMatch,
    pub cursor: String,
}

pub struct FeedPage {
    pub items: Vec<FeedItem>,
    pub has_next: bool,
    pub total: Option<usize>,
}

/// Talents ranked for a job, best first: the job's producer and admins.
pub async fn discover(
    state: &AppState,
    viewer: Option<Viewer>,
    job_id: JobId,
    filter: DiscoverFilterArgs,
    first: Option<i32>,
    after: Option<&str>,
    count_total: bool,
) -> AppResult<FeedPage> {
    let viewer = signed_in(viewer)?;
    let first = first_of(first)?;
    let after_position = decode_cursor(after)?;
    let min = min_score(filter.min_score, "filter.minScore")?;
    let country = match filter.country.as_deref() {
        Some(c) => {
            let code = CountryCode::parse("filter.country", c)?;
            Some(model::Code::new(code.as_str()).ok_or_else(|| {
                AppError::bad_input("filter.country", "is not an ISO 3166 country code")
            })?)
        }
        None => None,
    };
    let job = jobs::find(state, Some(viewer), job_id)
        .await?
        .ok_or(AppError::NotFound("job"))?;
    if !jobs::manages(&viewer, &job) {
        return Err(AppError::forbidden(
            "the discover feed of a job is for its producer",
        ));
    }
    super::own_writes::wait(state, viewer.user_id).await;
    let exclude = if filter.exclude_applicants {
        let mut conn = state.conn().await?;
        db::applications::applicant_ids(&mut conn, job_id)
            .await
            .context("applications::applicant_ids")?
            .into_iter()
            .map(|u| u.0)
            .collect()
    } else {
        Default::default()
    };
    let query = DiscoverQuery {
        filter: DiscoverFilter {
            min_score: min,
            country,
            union_status: filter.union_status,
            exclude,
        },
        after: after_position,
        first,
        count_total,
    };
    let job = Arc::new(job);
    // An OPEN job is ranked from the index; only a job it does not hold (a draft, a closed
    // job, or one that just left it) needs its features built here.
    let fallback = || async {
        let mut record = job_record((*job).clone()).context("building the job's features")?;
        let mut conn = state.conn().await?;
        add_job_vectors(state, &mut conn, &mut [(record.id, &mut record.input)]).await?;
        Ok::<_, AppError>(record)
    };
    let first_try = match state.matches.job(job_id.0) {
        Some(_) => None,
        None => Some(fallback().await?),
    };
    let page = match state
        .matches
        .discover(job_id.0, first_try, query.clone())
        .await
    {
        Err(IndexError::NotIndexed) => state
            .matches
            .discover(job_id.0, Some(fallback().await?), query)
            .await
            .map_err(index_error)?,
        other => other.map_err(index_error)?,
    };
    let now = Utc::now();
    // The weights the page was ranked with: the index's (an OPEN job) or the job's own.
    let weights = state
        .matches
        .job(job_id.0)
        .map(|j| j.weights)
        .unwrap_or_else(|| weights_of(&job));
    let served = Served {
        job_id,
        viewer_id: viewer.user_id,
        viewer_role: viewer.role.to_string(),
        engine_version: model::ENGINE_VERSION.to_string(),
        weights: stored(&weights),
        request: serde_json::json!({ "filter": filter, "first": first, "after": after }),
        talents: page
            .items
            .iter()
            .map(|s| ServedTalent {
                talent_id: UserId(s.id),
                rank: s.rank.map_or(0, |r| u32::try_from(r).unwrap_or(u32::MAX)),
                score: s.scored.total,
                factors: s
                    .scored
                    .factors
                    .iter()
                    .map(|f| (f.score, f.verdict))
                    .collect(),
            })
            .collect(),
        at: now,
    };
    // Logged off the answer's path: the instance's stager writes it to the outbox in a batch
    // within `EXPLAIN_FLUSH`, and the document consumer ships it to MongoDB.
    state.explain.push(served);
    Ok(feed_page(page, now, |_| (Arc::clone(&job), weights)))
}

fn feed_page(
    page: Page<Job>,
    now: DateTime<Utc>,
    mut job_of: impl FnMut(usize) -> (Arc<Job>, Weights),
) -> FeedPage {
    let Page::<Job> {
        items,
        has_next,
        total,
        ..
    } = page;
    let items = items
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let (job, weights) = job_of(i);
            FeedItem {
                cursor: encode_cursor(s.scored.total, s.id),
                pair: PairMatch {
                    talent: TalentRef::Id(UserId(s.id)),
                    job,
                    weights,
                    scored: s.scored,
                    computed_at: now,
                },
            }
        })
        .collect();
    FeedPage {
        items,
        has_next,
        total,
    }
}

/// OPEN jobs before their deadline, ranked for the signed-in talent.
pub async fn job_feed(
    state: &AppState,
    viewer: Option<Viewer>,
    first: Option<i32>,
    after: Option<&str>,
    count_total: bool,
) -> AppResult<FeedPage> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Talent {
        return Err(AppError::forbidden("the job feed is for talents"));
    }
    let first = first_of(first)?;
    let after = decode_cursor(after)?;
    super::own_writes::wait(state, viewer.user_id).await;
    let page = state
        .matches
        .job_feed(viewer.user_id.0, after, first, count_total)
        .await
        .map_err(index_error)?;
    let rows: Vec<(Arc<Job>, Weights)> = page
        .jobs
        .iter()
        .map(|j| (Arc::clone(&j.row), j.weights))
        .collect();
    let talent = viewer.user_id;
    let mut page = feed_page(page, Utc::now(), |i| rows[i].clone());
    for item in &mut page.items {
        // The cursor of a job feed names the job.
        item.cursor = encode_cursor(item.pair.scored.total, item.pair.job.row.id.0);
        item.pair.talent = TalentRef::Id(talent);
    }
    Ok(page)
}

/// Jobs published (or changed while open) from now on that score at least `min_score` for
/// the signed-in talent, each at most once per subscription.
pub fn watch_jobs(
    state: &AppState,
    viewer: Option<Viewer>,
    min_score: f64,
) -> AppResult<impl Stream<Item = PairMatch> + use<>> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Talent {
        return Err(AppError::forbidden("the job feed is for talents"));
    }
    let min = self::min_score(Some(min_score), "minScore")?.unwrap_or(60.0);
    let watch = state.matches.watch(
        viewer.user_id.0,
        min,
        state.settings.matching.job_feed_queue,
    );
    let talent = viewer.user_id;
    Ok(futures_util::stream::unfold(
        watch,
        move |mut watch| async move {
            let pushed = watch.matches.recv().await?;
            let pair = PairMatch {
                job: Arc::clone(&pushed.job.row),
                talent: TalentRef::Id(talent),
                weights: pushed.job.weights,
                scored: pushed.scored,
                computed_at: Utc::now(),
            };
            Some((pair, watch))
        },
    ))
}

/// How long a served page waits, at most, before it is written to the outbox.
const EXPLAIN_FLUSH: std::time::Duration = std::time::Duration::from_millis(200);
/// Pages per outbox row (and a flush is started once this many wait).
const EXPLAIN_BATCH: usize = 200;
/// Pages kept waiting while PostgreSQL cannot take them; the oldest go first past this.
const EXPLAIN_MAX_WAITING: usize = 50_000;

/// The same page shown to the same viewer again within this long is logged once.
const EXPLAIN_REPEAT: std::time::Duration = std::time::Duration::from_secs(60);
/// Pages remembered for `EXPLAIN_REPEAT`, at most (older ones are forgotten first).
const EXPLAIN_REMEMBERED: usize = 20_000;

/// This instance's explain-log stager: pages served wait here (no I/O on the answer's path)
/// and are written to the outbox in batches every `EXPLAIN_FLUSH` by `run`, and once more when
/// the server stops. While PostgreSQL is away they keep waiting (up to `EXPLAIN_MAX_WAITING`,
/// then the oldest are dropped and counted); a crash loses at most the last flush interval.
/// A page already logged for the same viewer within `EXPLAIN_REPEAT` (same job, request,
/// weights, talents and scores) is not logged again: the log answers "what was shown, when",
/// and a client reloading a page in a loop must not write a 400-day document each time.
#[derive(Default)]
pub struct ExplainStage {
    waiting: std::sync::Mutex<std::collections::VecDeque<Served>>,
    recent: std::sync::Mutex<HashMap<u64, std::time::Instant>>,
    wake: tokio::sync::Notify,
    dropped: std::sync::atomic::AtomicU64,
    repeats: std::sync::atomic::AtomicU64,
}

/// What makes two served pages the same for the explain log.
fn page_fingerprint(served: &Served) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    served.job_id.0.hash(&mut h);
    served.viewer_id.0.hash(&mut h);
    served.viewer_role.hash(&mut h);
    served.engine_version.hash(&mut h);
    served.request.to_string().hash(&mut h);
    for w in &served.weights {
        w.factor.hash(&mut h);
        w.weight.to_bits().hash(&mut h);
    }
    for t in &served.talents {
        t.talent_id.0.hash(&mut h);
        t.rank.hash(&mut h);
        t.score.to_bits().hash(&mut h);
    }
    h.finish()
}

impl ExplainStage {
    fn waiting(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Served>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True when the same page was logged for the same viewer within `EXPLAIN_REPEAT`
    /// (remembering this one otherwise).
    fn is_repeat(&self, served: &Served) -> bool {
        let key = page_fingerprint(served);
        let now = std::time::Instant::now();
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent
            .get(&key)
            .is_some_and(|at| now.duration_since(*at) < EXPLAIN_REPEAT)
        {
            return true;
        }
        if recent.len() >= EXPLAIN_REMEMBERED {
            recent.retain(|_, at| now.duration_since(*at) < EXPLAIN_REPEAT);
            if recent.len() >= EXPLAIN_REMEMBERED {
                recent.clear();
            }
        }
        recent.insert(key, now);
        false
    }

    /// Pages not logged because they repeated one logged within the minute.
    pub fn repeats(&self) -> u64 {
        self.repeats.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn push(&self, served: Served) {
        if self.is_repeat(&served) {
            self.repeats
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let mut waiting = self.waiting();
        if waiting.len() >= EXPLAIN_MAX_WAITING {
            waiting.pop_front();
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(
                "the explain log is full while PostgreSQL is away; dropped the oldest page"
            );
        }
        waiting.push_back(served);
        if waiting.len() >= EXPLAIN_BATCH {
            self.wake.notify_one();
        }
    }

    /// Pages dropped because too many waited.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes every waiting page to the outbox; on failure they wait for the next flush.
    pub async fn flush(&self, state: &AppState) -> AppResult<usize> {
        let mut written = 0;
        loop {
            let batch: Vec<Served> = {
                let mut waiting = self.waiting();
                let n = waiting.len().min(EXPLAIN_BATCH);
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                return Ok(written);
            }
            let n = batch.len();
            let event = events::OutboxEvent::DiscoverServed(ServedPages { pages: batch });
            if let Err(e) = stage(state, &event).await {
                let events::OutboxEvent::DiscoverServed(ServedPages { pages }) = event else {
                    return Err(e);
                };
                let mut waiting = self.waiting();
                for page in pages.into_iter().rev() {
                    waiting.push_front(page);
                }
                return Err(e);
            }
            written += n;
        }
    }

    /// Flushes every `EXPLAIN_FLUSH` (sooner when a batch is full), for as long as the server runs.
    pub async fn run(self: std::sync::Arc<Self>, state: AppState) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(EXPLAIN_FLUSH) => {}
                () = self.wake.notified() => {}
            }
            if let Err(e) = self.flush(&state).await {
                tracing::error!(
                    code = e.code(),
                    "explain-log pages could not be staged; retrying"
                );
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

async fn stage(state: &AppState, event: &events::OutboxEvent) -> AppResult<()> {
    let (kind, payload) = event.to_columns()?;
    let mut conn = state.conn().await?;
    db::outbox::record_staged(&mut conn, EventId::generate(), kind, &payload)
        .await
        .context("outbox::record_staged")?;
    Ok(())
}

/// The explain-log documents of a staged row: the `n`th page's id is derived from the row's,
/// so shipping the row twice stores each page once.
pub fn explain_docs(pages: &ServedPages, row: Uuid) -> Vec<ExplainDoc> {
    pages
        .pages
        .iter()
        .enumerate()
        .map(|(n, page)| explain_doc(page, Uuid::new_v5(&row, n.to_string().as_bytes())))
        .collect()
}

fn explain_doc(served: &Served, id: Uuid) -> ExplainDoc {
    let at = bson_time(served.at);
    ExplainDoc {
        key: sort_key(at, &id.to_string()),
        id: id.to_string(),
        job_id: served.job_id.to_string(),
        viewer_id: served.viewer_id.to_string(),
        viewer_role: served.viewer_role.clone(),
        engine_version: served.engine_version.clone(),
        weights: served
            .weights
            .iter()
            .map(|w| LoggedWeight {
                factor: w.factor.clone(),
                weight: f64::from(w.weight),
            })
            .collect(),
        request: served.request.to_string(),
        talents: served
            .talents
            .iter()
            .map(|t| LoggedTalent {
                talent_id: t.talent_id.to_string(),
                rank: i64::from(t.rank),
                score: f64::from(t.score),
                scores: t.factors.iter().map(|(s, _)| f64::from(*s)).collect(),
                verdicts: t
                    .factors
                    .iter()
                    .map(|(_, v)| verdict_letter(v.as_str()))
                    .collect(),
            })
            .collect(),
        at,
    }
}
