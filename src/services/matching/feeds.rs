//! The ranked feeds: a job's discover feed of talents, a talent's job feed, and the jobs
//! announced to a talent as they open; one cursor for all of them.

use super::{add_job_vectors, job_record, stored, weights_of, PairMatch, TalentRef};
use crate::db::models::Job;
use crate::db::{self};
use crate::domain::ids::{JobId, UserId};
use crate::domain::page::{self, page_size, CursorKey};
use crate::domain::values::CountryCode;
use crate::domain::{Role, UnionStatus};
use crate::errors::{AppError, AppResult};
use crate::services::{jobs, signed_in, AppState, Viewer};
use anyhow::Context as _;
use castyou_actors::matching::{After, DiscoverFilter, DiscoverQuery, IndexError, Page};
use castyou_model as model;
use castyou_model::Weights;
use castyou_vocab::events::{Served, ServedTalent};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::Serialize;
use std::sync::Arc;
use uuid::Uuid;

/// A feed's cursor, written `m1:<score bits>:<id>`: the exact score and id of the last item
/// seen.
struct FeedCursor(After);

impl CursorKey for FeedCursor {
    fn write(&self) -> String {
        format!("m1:{:08x}:{}", self.0.score.to_bits(), self.0.id)
    }

    fn read(text: &str) -> Option<FeedCursor> {
        let mut parts = text.splitn(3, ':');
        let (Some("m1"), Some(bits), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let score = u32::from_str_radix(bits, 16)
            .map(f32::from_bits)
            .ok()
            .filter(|s| s.is_finite())?;
        Some(FeedCursor(After {
            score,
            id: id.parse().ok()?,
        }))
    }
}

/// The cursor of a feed item scored `score`.
fn feed_cursor(score: f32, id: Uuid) -> String {
    FeedCursor(After { score, id }).encode()
}

/// Where a feed page after `after` starts.
fn feed_after(after: Option<&str>) -> AppResult<Option<After>> {
    Ok(page::after::<FeedCursor>(after)?.map(|FeedCursor(a)| a))
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
    let first = page_size(first)?;
    let after_position = feed_after(after)?;
    let min = min_score(filter.min_score, "filter.minScore")?;
    let country = country_of(filter.country.as_deref())?;
    let job = jobs::find(state, Some(viewer), job_id)
        .await?
        .ok_or(AppError::NotFound("job"))?;
    if !jobs::manages(&viewer, &job) {
        return Err(AppError::forbidden(
            "the discover feed of a job is for its producer",
        ));
    }
    crate::services::own_writes::wait(state, viewer.user_id).await;
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
    let page = ranked(state, &job, query).await?;
    let now = Utc::now();
    // The weights the page was ranked with: the index's (an OPEN job) or the job's own.
    let weights = state
        .matches
        .job(job_id.0)
        .map(|j| j.weights)
        .unwrap_or_else(|| weights_of(&job));
    let request = serde_json::json!({ "filter": filter, "first": first, "after": after });
    // Logged off the answer's path: the instance's stager writes it to the outbox in a batch
    // within `EXPLAIN_FLUSH`, and the document consumer ships it to MongoDB.
    state
        .explain
        .push(served(&viewer, job_id, &weights, request, &page, now));
    Ok(feed_page(page, now, |_| (Arc::clone(&job), weights)))
}

/// The model's code for a filter's country.
fn country_of(country: Option<&str>) -> AppResult<Option<model::Code>> {
    let Some(c) = country else {
        return Ok(None);
    };
    let code = CountryCode::parse("filter.country", c)?;
    model::Code::new(code.as_str())
        .map(Some)
        .ok_or_else(|| AppError::bad_input("filter.country", "is not an ISO 3166 country code"))
}

/// The job's discover page. An OPEN job is ranked from the index; only a job it does not hold
/// (a draft, a closed job, or one that just left it) needs its features built here.
async fn ranked(state: &AppState, job: &Arc<Job>, query: DiscoverQuery) -> AppResult<Page<Job>> {
    let job_id = job.row.id;
    let fallback = || async {
        let mut record = job_record((**job).clone()).context("building the job's features")?;
        let mut conn = state.conn().await?;
        add_job_vectors(state, &mut conn, &mut [(record.id, &mut record.input)]).await?;
        Ok::<_, AppError>(record)
    };
    let first_try = match state.matches.job(job_id.0) {
        Some(_) => None,
        None => Some(fallback().await?),
    };
    match state
        .matches
        .discover(job_id.0, first_try, query.clone())
        .await
    {
        Err(IndexError::NotIndexed) => state
            .matches
            .discover(job_id.0, Some(fallback().await?), query)
            .await
            .map_err(index_error),
        other => other.map_err(index_error),
    }
}

/// What the explain log keeps of a served discover page.
fn served(
    viewer: &Viewer,
    job_id: JobId,
    weights: &Weights,
    request: serde_json::Value,
    page: &Page<Job>,
    at: DateTime<Utc>,
) -> Served {
    Served {
        job_id,
        viewer_id: viewer.user_id,
        viewer_role: viewer.role.to_string(),
        engine_version: model::ENGINE_VERSION.to_string(),
        weights: stored(weights),
        request,
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
        at,
    }
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
                cursor: feed_cursor(s.scored.total, s.id),
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
    let first = page_size(first)?;
    let after = feed_after(after)?;
    crate::services::own_writes::wait(state, viewer.user_id).await;
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
        item.cursor = feed_cursor(item.pair.scored.total, item.pair.job.row.id.0);
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
