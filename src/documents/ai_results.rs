//! AI results: one document per model-backed generation (a job flier), with the model, the
//! latency, the token usage, the outcome and why a fallback answered. Never the key, the prompt
//! or what the producer wrote.

use super::{bson_time, insert_once, DocResult, Documents};
use castyou_vocab::events::{AiResult, GeneratedBy};
use mongodb::bson::DateTime as BsonDateTime;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const COLLECTION: &str = "ai_results";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiResultDoc {
    /// The staged event's id, so a redelivery stores nothing twice.
    #[serde(rename = "_id")]
    pub id: String,
    pub task: String,
    pub job_id: String,
    pub user_id: String,
    pub model: Option<String>,
    pub outcome: String,
    pub fallback_reason: Option<String>,
    pub attempts: i32,
    pub latency_ms: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub at: BsonDateTime,
}

impl AiResultDoc {
    pub fn new(result: &AiResult, event_id: Uuid) -> AiResultDoc {
        AiResultDoc {
            id: event_id.to_string(),
            task: result.task.clone(),
            job_id: result.job_id.to_string(),
            user_id: result.user_id.to_string(),
            model: result.model.clone(),
            outcome: match result.outcome {
                GeneratedBy::Model => "model".into(),
                GeneratedBy::Template => "template".into(),
            },
            fallback_reason: result.fallback_reason.clone(),
            attempts: result.attempts as i32,
            latency_ms: result.latency_ms.min(i64::MAX as u64) as i64,
            prompt_tokens: result.prompt_tokens.into(),
            completion_tokens: result.completion_tokens.into(),
            total_tokens: result.total_tokens.into(),
            at: bson_time(result.at),
        }
    }
}

pub async fn store(docs: &Documents, doc: &AiResultDoc) -> DocResult<()> {
    insert_once(docs, COLLECTION, doc).await
}
