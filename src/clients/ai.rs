//! The OpenAI-compatible endpoint (`ai.*`): embeddings and structured chat completions through
//! `async-openai`, with our own request and answer types so any compatible server (OpenAI,
//! Ollama, vLLM, LiteLLM) answers. The client retries 429 and 5xx answers with exponential
//! backoff for at most `ai.retry_budget_ms`; each call is cut off after its timeout. The key
//! never appears in logs or errors.

use crate::configuration::AiSettings;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::Client;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a call to the endpoint produced nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiError {
    #[error("the endpoint did not answer in time")]
    Timeout,
    #[error("the endpoint could not be reached: {0}")]
    Unreachable(String),
    /// An error answer (after the retries for 429 and 5xx).
    #[error("the endpoint answered with an error: {0}")]
    Api(String),
    #[error("the endpoint's answer could not be read: {0}")]
    Malformed(String),
}

impl AiError {
    /// A short, stable name for logs and the AI-results record.
    pub fn code(&self) -> &'static str {
        match self {
            AiError::Timeout => "timeout",
            AiError::Unreachable(_) => "unreachable",
            AiError::Api(_) => "api_error",
            AiError::Malformed(_) => "malformed_answer",
        }
    }
}

/// Keeps error texts short: servers may answer with whole HTML pages.
fn brief(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

impl From<OpenAIError> for AiError {
    fn from(e: OpenAIError) -> Self {
        match e {
            OpenAIError::Reqwest(e) if e.is_timeout() => AiError::Timeout,
            OpenAIError::Reqwest(e) => {
                // reqwest's text names the URL, never the headers.
                AiError::Unreachable(brief(&e.without_url().to_string()))
            }
            OpenAIError::ApiError(api) => AiError::Api(brief(&api.message)),
            OpenAIError::JSONDeserialize(e, _) => AiError::Malformed(brief(&e.to_string())),
            other => AiError::Malformed(brief(&other.to_string())),
        }
    }
}

/// Token counts an answer reports (absent on some servers).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
    #[serde(default)]
    pub total_tokens: u32,
}

#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
}

#[derive(Deserialize)]
struct EmbeddingAnswer {
    data: Vec<EmbeddingDatum>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct EmbeddingDatum {
    index: usize,
    embedding: Vec<f32>,
}

/// Vectors for a batch of texts, in the order given.
#[derive(Debug)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub usage: Usage,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 2],
    response_format: ResponseFormat<'a>,
    stream: bool,
    temperature: f32,
    max_tokens: u32,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct ResponseFormat<'a> {
    r#type: &'static str,
    json_schema: JsonSchema<'a>,
}

#[derive(Serialize)]
struct JsonSchema<'a> {
    name: &'a str,
    strict: bool,
    schema: &'a serde_json::Value,
}

#[derive(Deserialize)]
struct ChatAnswerWire {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<ChatChoiceWire>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ChatChoiceWire {
    message: ChatMessageWire,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessageWire {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

/// What a structured chat completion said.
#[derive(Debug, Clone)]
pub struct ChatAnswer {
    /// The model that answered (as the server names it).
    pub model: String,
    pub reply: ChatReply,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatReply {
    /// The JSON text of the answer (not yet checked against the schema).
    Content(String),
    /// The model declined; its reason.
    Refusal(String),
    /// The answer was cut off (length or content filter).
    Incomplete(String),
}

/// A configured endpoint; cheap to clone.
#[derive(Clone)]
pub struct Ai {
    embeddings: Client<OpenAIConfig>,
    chat: Client<OpenAIConfig>,
    settings: std::sync::Arc<AiSettings>,
}

impl std::fmt::Debug for Ai {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ai")
            .field("base_url", &self.settings.endpoint())
            .field("embedding_model", &self.settings.embedding_model)
            .field("chat_model", &self.settings.chat_model)
            .finish()
    }
}

impl Ai {
    /// The endpoint of `settings`, or None when none is configured.
    pub fn from_settings(settings: &AiSettings) -> anyhow::Result<Option<Ai>> {
        let Some(base) = settings.endpoint() else {
            return Ok(None);
        };
        let mut config = OpenAIConfig::new().with_api_base(base.trim_end_matches('/'));
        if let Some(key) = &settings.api_key {
            config = config.with_api_key(key.expose_secret());
        }
        let client = |timeout_ms: u64| -> anyhow::Result<Client<OpenAIConfig>> {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_millis(timeout_ms))
                .connect_timeout(Duration::from_millis(timeout_ms.min(5_000)))
                .build()?;
            let backoff = backoff::ExponentialBackoff {
                initial_interval: Duration::from_millis(200),
                max_interval: Duration::from_secs(2),
                max_elapsed_time: Some(Duration::from_millis(settings.retry_budget_ms)),
                ..Default::default()
            };
            Ok(Client::build(http, config.clone(), backoff))
        };
        Ok(Some(Ai {
            embeddings: client(settings.embedding_timeout_ms)?,
            chat: client(settings.chat_timeout_ms)?,
            settings: std::sync::Arc::new(settings.clone()),
        }))
    }

    pub fn embedding_model(&self) -> &str {
        &self.settings.embedding_model
    }

    pub fn dimensions(&self) -> usize {
        self.settings.embedding_dimensions as usize
    }

    pub fn chat_model(&self) -> &str {
        &self.settings.chat_model
    }

    /// Cuts a text to what may reach a model (`ai.max_input_chars`), on a character boundary.
    pub fn bounded<'t>(&self, text: &'t str) -> &'t str {
        match text.char_indices().nth(self.settings.max_input_chars) {
            Some((at, _)) => &text[..at],
            None => text,
        }
    }

    /// One embeddings call for `inputs` (each already bounded, none empty). Every vector has
    /// the configured length, else the answer is malformed.
    pub async fn embed(&self, inputs: &[String]) -> Result<Embedded, AiError> {
        if inputs.is_empty() {
            return Ok(Embedded {
                vectors: Vec::new(),
                usage: Usage::default(),
            });
        }
        let request = EmbeddingRequest {
            model: &self.settings.embedding_model,
            input: inputs,
            encoding_format: "float",
            dimensions: self
                .settings
                .send_dimensions
                .then_some(self.settings.embedding_dimensions),
        };
        let answer: EmbeddingAnswer = self.embeddings.embeddings().create_byot(request).await?;
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; inputs.len()];
        for datum in answer.data {
            let slot = vectors.get_mut(datum.index).ok_or_else(|| {
                AiError::Malformed(format!("an embedding for input {}", datum.index))
            })?;
            if datum.embedding.len() != self.dimensions() {
                return Err(AiError::Malformed(format!(
                    "a vector of {} dimensions where {} were expected",
                    datum.embedding.len(),
                    self.dimensions()
                )));
            }
            if datum.embedding.iter().any(|x| !x.is_finite()) {
                return Err(AiError::Malformed(
                    "a vector with a non-finite value".into(),
                ));
            }
            *slot = Some(datum.embedding);
        }
        let vectors = vectors
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| AiError::Malformed("fewer vectors than inputs".into()))?;
        Ok(Embedded {
            vectors,
            usage: answer.usage.unwrap_or_default(),
        })
    }

    /// One chat completion whose answer must follow `schema` (structured outputs, strict).
    /// `system` holds our instructions; `user` holds data only.
    pub async fn chat_json(
        &self,
        system: &str,
        user: &str,
        schema_name: &str,
        schema: &serde_json::Value,
        max_tokens: u32,
    ) -> Result<ChatAnswer, AiError> {
        let request = ChatRequest {
            model: &self.settings.chat_model,
            messages: [
                ChatMessage {
                    role: "system",
                    content: system,
                },
                ChatMessage {
                    role: "user",
                    content: user,
                },
            ],
            response_format: ResponseFormat {
                r#type: "json_schema",
                json_schema: JsonSchema {
                    name: schema_name,
                    strict: true,
                    schema,
                },
            },
            stream: false,
            temperature: 0.4,
            max_tokens,
        };
        let answer: ChatAnswerWire = self.chat.chat().create_byot(request).await?;
        let model = answer
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.settings.chat_model.clone());
        let usage = answer.usage.unwrap_or_default();
        let choice = answer
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| AiError::Malformed("an answer without choices".into()))?;
        let reply = if let Some(refusal) = choice.message.refusal.filter(|r| !r.is_empty()) {
            ChatReply::Refusal(brief(&refusal))
        } else {
            match choice.finish_reason.as_deref() {
                Some("length") => ChatReply::Incomplete("the answer was cut off".into()),
                Some("content_filter") => {
                    ChatReply::Incomplete("the answer was withheld by a content filter".into())
                }
                _ => match choice.message.content {
                    Some(content) => ChatReply::Content(content),
                    None => ChatReply::Incomplete("an answer without content".into()),
                },
            }
        };
        Ok(ChatAnswer {
            model,
            reply,
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_are_brief() {
        let long = "x".repeat(5000);
        assert_eq!(brief(&long).chars().count(), 201);
        assert_eq!(brief("  short "), "short");
    }
}
