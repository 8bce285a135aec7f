//! `searchTalents`: hybrid talent search (see `services::search`).

use super::applications::missing;
use super::connection::PageInfo;
use super::loaders::load_error;
use super::{loaders, state, viewer};
use crate::db::models::TalentProfile;
use crate::domain::ids::UserId;
use crate::services::search::{self, SearchSignal};
use async_graphql::{Context, Object, Result, SimpleObject};

/// A talent found by a search, with the lists that found it.
pub struct TalentSearchHit {
    talent_id: UserId,
    score: f64,
    signals: Vec<SearchSignal>,
}

#[Object]
impl TalentSearchHit {
    async fn talent(&self, ctx: &Context<'_>) -> Result<TalentProfile> {
        loaders(ctx)
            .talents
            .load_one(self.talent_id)
            .await
            .map_err(load_error)?
            .ok_or_else(|| missing("talent profile", self.talent_id))
    }
    /// Fused relevance (reciprocal rank fusion), higher is better.
    async fn score(&self) -> f64 {
        self.score
    }
    /// Which kinds of match found this talent.
    async fn signals(&self) -> &[SearchSignal] {
        &self.signals
    }
}

#[derive(SimpleObject)]
pub struct TalentSearchEdge {
    pub node: TalentSearchHit,
    pub cursor: String,
}

#[derive(SimpleObject)]
pub struct TalentSearchConnection {
    pub edges: Vec<TalentSearchEdge>,
    pub page_info: PageInfo,
}

#[derive(Default)]
pub struct SearchQuery;

#[Object]
impl SearchQuery {
    /// Talents by name (typos and spellings that sound alike forgiven) and by what they did;
    /// signed-in users. `query` is 1–200 characters.
    async fn search_talents(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default_with = "Some(true)")] semantic: Option<bool>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<TalentSearchConnection> {
        let page = search::search_talents(
            state(ctx),
            viewer(ctx),
            &query,
            semantic.unwrap_or(true),
            first,
            after.as_deref(),
        )
        .await?;
        let end_cursor = page.hits.last().map(|h| h.cursor.clone());
        Ok(TalentSearchConnection {
            edges: page
                .hits
                .into_iter()
                .map(|h| TalentSearchEdge {
                    cursor: h.cursor,
                    node: TalentSearchHit {
                        talent_id: h.talent_id,
                        score: h.score,
                        signals: h.signals,
                    },
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next,
                end_cursor,
            },
        })
    }
}
