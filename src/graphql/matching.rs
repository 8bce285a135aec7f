//! The 9-factor match of a talent to a job: one pair's breakdown (`match`), and a job's
//! ranking weights (`Job.matchWeights`, `setJobMatchWeights`).

use super::applications::missing;
use super::connection::PageInfo;
use super::loaders::load_error;
use super::{loaders, state, viewer};
use crate::db::models::{Job, TalentProfile};
use crate::domain::ids::{JobId, UserId};
use crate::domain::UnionStatus;
use crate::services::matching::{self, PairMatch};
use crate::services::matching::{DiscoverFilterArgs, FeedPage, TalentRef};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};
use castyou_model::{Factor, Weights};
use chrono::{DateTime, Utc};

// The model's `Factor` and `Verdict` as GraphQL enums; `remote` derives the conversions.
/// The nine factors of a match, in their fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "castyou_model::Factor")]
pub enum MatchFactor {
    SalaryAlignment,
    WorkAuthorization,
    PhysicalAttributes,
    NotableWorks,
    ProductionExperience,
    Awards,
    DreamGig,
    Languages,
    Availability,
}

/// How one factor came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "castyou_model::Verdict")]
pub enum FactorVerdict {
    Match,
    Partial,
    NoMatch,
    /// Nothing to compare: neutral, left out of the total.
    NoData,
}

/// One factor's score, its weight in the total, its verdict and why.
#[derive(SimpleObject)]
pub struct FactorScore {
    pub factor: MatchFactor,
    /// 0..1.
    pub score: f64,
    /// This factor's share; the nine weights sum to 1.
    pub weight: f64,
    pub verdict: FactorVerdict,
    /// One plain sentence with the values compared.
    pub explanation: String,
}

/// A factor and its weight.
#[derive(SimpleObject)]
pub struct MatchWeight {
    pub factor: MatchFactor,
    pub weight: f64,
}

/// A factor's weight: any non-negative number (they are normalised to sum 1).
#[derive(InputObject)]
pub struct MatchWeightInput {
    pub factor: MatchFactor,
    pub weight: f64,
}

/// The nine weights, in factor order.
pub fn weights(weights: &Weights) -> Vec<MatchWeight> {
    weights
        .iter()
        .map(|(factor, weight)| MatchWeight {
            factor: factor.into(),
            weight: f64::from(weight),
        })
        .collect()
}

/// How well a talent fits a job.
pub struct Match(pub(crate) PairMatch);

#[Object]
impl Match {
    async fn job(&self) -> &Job {
        &self.0.job
    }
    async fn talent(&self, ctx: &Context<'_>) -> Result<TalentProfile> {
        match &self.0.talent {
            TalentRef::Loaded(profile) => Ok((**profile).clone()),
            TalentRef::Id(id) => loaders(ctx)
                .talents
                .load_one(*id)
                .await
                .map_err(load_error)?
                .ok_or_else(|| missing("talent profile", *id)),
        }
    }
    /// 0..100 = 100 × the weighted mean of the factors that had data.
    async fn score(&self) -> f64 {
        f64::from(self.0.scored.total)
    }
    /// All nine, in MatchFactor order.
    async fn factors(&self) -> Vec<FactorScore> {
        self.0
            .scored
            .factors
            .iter()
            .map(|f| FactorScore {
                factor: f.factor.into(),
                score: f64::from(f.score),
                weight: f64::from(self.0.weights.get(f.factor)),
                verdict: f.verdict.into(),
                explanation: f.explanation.clone(),
            })
            .collect()
    }
    async fn computed_at(&self) -> DateTime<Utc> {
        self.0.computed_at
    }
}

#[derive(SimpleObject)]
pub struct MatchEdge {
    pub node: Match,
    pub cursor: String,
}

#[derive(SimpleObject)]
pub struct MatchConnection {
    pub edges: Vec<MatchEdge>,
    pub page_info: PageInfo,
    /// How many pass the filter in all (computed only when asked for).
    pub total_count: i32,
}

impl From<FeedPage> for MatchConnection {
    fn from(page: FeedPage) -> Self {
        let end_cursor = page.items.last().map(|i| i.cursor.clone());
        MatchConnection {
            edges: page
                .items
                .into_iter()
                .map(|i| MatchEdge {
                    node: Match(i.pair),
                    cursor: i.cursor,
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next,
                end_cursor,
            },
            total_count: page
                .total
                .map_or(0, |t| i32::try_from(t).unwrap_or(i32::MAX)),
        }
    }
}

/// Which talents a discover feed shows.
#[derive(InputObject, Default)]
pub struct DiscoverFilter {
    /// 0..100.
    pub min_score: Option<f64>,
    /// The talent's country (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    pub union_status: Option<UnionStatus>,
    #[graphql(default_with = "Some(false)")]
    pub exclude_applicants: Option<bool>,
}

fn wants_total(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

#[derive(Default)]
pub struct MatchingQuery;

#[Object]
impl MatchingQuery {
    /// Every talent with a profile ranked for a job, best first (ties by id): the job's
    /// producer and admins. Pages are keyset cursors (score, then id).
    async fn discover_feed(
        &self,
        ctx: &Context<'_>,
        job_id: JobId,
        filter: Option<DiscoverFilter>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<MatchConnection> {
        let filter = filter.unwrap_or_default();
        let args = DiscoverFilterArgs {
            min_score: filter.min_score,
            country: filter.country,
            union_status: filter.union_status,
            exclude_applicants: filter.exclude_applicants.unwrap_or(false),
        };
        let page = matching::discover(
            state(ctx),
            viewer(ctx),
            job_id,
            args,
            first,
            after.as_deref(),
            wants_total(ctx),
        )
        .await?;
        Ok(page.into())
    }

    /// OPEN jobs before their deadline ranked for the signed-in talent, best first.
    async fn job_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<MatchConnection> {
        let page = matching::job_feed(
            state(ctx),
            viewer(ctx),
            first,
            after.as_deref(),
            wants_total(ctx),
        )
        .await?;
        Ok(page.into())
    }

    /// The breakdown of one talent against one job: the job's producer, that talent, admins.
    #[graphql(name = "match")]
    async fn match_(&self, ctx: &Context<'_>, job_id: JobId, talent_id: UserId) -> Result<Match> {
        Ok(Match(
            matching::pair(state(ctx), viewer(ctx), job_id, talent_id).await?,
        ))
    }
}

#[derive(Default)]
pub struct MatchingMutation;

#[Object]
impl MatchingMutation {
    /// Tunes the weights of the job's ranking (its producer and admins); factors left out keep
    /// their default; all are normalised to sum 1.
    async fn set_job_match_weights(
        &self,
        ctx: &Context<'_>,
        job_id: JobId,
        weights: Vec<MatchWeightInput>,
    ) -> Result<Job> {
        let pairs: Vec<(Factor, f64)> = weights
            .iter()
            .map(|w| (Factor::from(w.factor), w.weight))
            .collect();
        Ok(matching::set_weights(state(ctx), viewer(ctx), job_id, &pairs).await?)
    }
}
