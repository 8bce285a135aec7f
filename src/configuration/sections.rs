//! The settings' sections, as read: each field already of the type the code uses.

use super::parsed::{self, Origin};
use crate::domain::values::CurrencyCode;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};

/// Where media objects live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files under `media.dir`; the server itself takes uploads and serves downloads on signed,
    /// expiring URLs.
    Local,
    /// An S3-compatible bucket (`media.s3`): presigned URLs.
    S3,
}

/// What one media kind accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaKindLimits {
    /// Content types accepted (lower case, no parameters).
    pub types: Vec<String>,
    pub max_bytes: u64,
}

/// An S3-compatible bucket.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The service's base URL, e.g. `https://s3.eu-west-1.amazonaws.com`, a MinIO
    /// `http://127.0.0.1:9000` or `https://<account>.r2.cloudflarestorage.com`.
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub bucket: String,
    pub region: String,
    #[serde(default)]
    pub access_key: String,
    #[serde(default)]
    pub secret_key: Option<SecretString>,
    /// `https://endpoint/bucket/key` (MinIO, Ceph, moto) rather than `https://bucket.endpoint/key`.
    pub path_style: bool,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// Headshots, reels and voice reels: storage, limits and processing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    pub storage: StorageKind,
    /// The local store's folder.
    pub dir: String,
    /// Absolute base of the server's own media URLs (local store); empty: `http://host:port`
    /// of the address the server listens on.
    #[serde(default)]
    pub public_base_url: String,
    /// How long an upload URL works; an upload not completed by then is swept.
    pub upload_ttl_secs: u64,
    /// How long a download URL works.
    pub download_ttl_secs: u64,
    /// How often uploads never completed are looked for (and swept with their objects).
    pub sweep_secs: u64,
    pub headshot: MediaKindLimits,
    pub reel: MediaKindLimits,
    pub voice_reel: MediaKindLimits,
    /// Per user: items (every status) and bytes.
    pub quota_items: u64,
    pub quota_bytes: u64,
    /// Whether this instance processes media (false: it takes uploads and leaves processing to
    /// the instances that do).
    pub process: bool,
    /// Items processed at once by this instance (0: one per core).
    pub workers: usize,
    /// A worker's lease on an item; renewed while it works.
    pub lease_secs: u64,
    /// Tries before an item whose workers keep dying is FAILED.
    pub max_attempts: i32,
    /// How often idle workers look for work completed on other instances.
    pub poll_secs: u64,
    /// How long ffprobe or ffmpeg may run before it is killed.
    pub tool_timeout_ms: u64,
    /// Largest still accepted (width × height).
    pub max_image_pixels: u64,
    /// Bytes a still's decoder may allocate.
    pub max_image_alloc: u64,
    /// Scans a progressive JPEG may have (each makes the decoder walk the whole image again).
    pub max_jpeg_scans: u32,
    /// How long one still's decoding may take (wall clock) before its process is killed.
    pub still_timeout_ms: u64,
    /// The program stills are decoded in (a child process per still, run as
    /// `<still_helper> media-still`); empty: this server's own executable.
    #[serde(default)]
    pub still_helper: String,
    /// Bytes of address space one ffprobe or ffmpeg run may map (its libraries included).
    pub tool_max_memory: u64,
    /// Streams a video or audio file may have (video, audio, data, subtitles together).
    pub max_streams: u32,
    /// How long one item's whole processing may take; past it the item is FAILED.
    pub item_timeout_secs: u64,
    pub ffprobe: String,
    pub ffmpeg: String,
    pub s3: S3Settings,
}

/// The OpenAI-compatible endpoint behind semantic search, semantic matching and model-written
/// fliers. Without `base_url` those are off (said once at start and in `/readyz`); everything
/// else works.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    /// The API's base URL including `/v1` (`OPENAI_BASE_URL`), e.g. `https://api.openai.com/v1`
    /// or a local Ollama's `http://localhost:11434/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The bearer key (`OPENAI_API_KEY`); local servers often need none.
    #[serde(default)]
    pub api_key: Option<SecretString>,
    pub embedding_model: String,
    /// The length of every vector. Vectors of another length are refused.
    pub embedding_dimensions: u32,
    /// Whether to ask for `embedding_dimensions` in each request (text-embedding-3 models
    /// shorten their vectors to it; servers of fixed-size models may refuse the field).
    pub send_dimensions: bool,
    pub chat_model: String,
    /// One embeddings call, and one chat call, at most this long.
    pub embedding_timeout_ms: u64,
    pub chat_timeout_ms: u64,
    /// How long a call is retried on 429 and 5xx answers before it counts as failed.
    pub retry_budget_ms: u64,
    /// Texts per embeddings call.
    pub embedding_batch: usize,
    /// Every text is cut to this many characters before it reaches a model.
    pub max_input_chars: usize,
    /// The least cosine similarity for a talent to count as a SEMANTIC hit.
    pub semantic_min_similarity: f32,
    /// How long a search query's embedding stays cached in Redis.
    pub query_cache_ttl_secs: u64,
    /// Search queries one user may have embedded (cache misses: paid model calls) per
    /// `user_budget_window_secs`; past it their searches use the lexical lists only.
    pub user_query_embeddings: u64,
    pub user_budget_window_secs: u64,
    /// How often the embedding worker looks for work when no event woke it.
    pub worker_poll_secs: u64,
    /// The longest the embedding worker waits before trying a failing endpoint again.
    pub worker_retry_max_secs: u64,
    /// Tries a subject gets (workers that died or failed on it) before it is left, as a dead
    /// letter, for operators; an endpoint outage does not count.
    pub worker_max_attempts: i32,
    /// HNSW: links per node, and candidate lists while building and searching.
    pub hnsw_m: usize,
    pub hnsw_ef_construction: usize,
    pub hnsw_ef_search: usize,
}

impl AiSettings {
    /// The endpoint, when one is configured (an empty value counts as none).
    pub fn endpoint(&self) -> Option<&str> {
        self.base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }
}

/// Talent search's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSettings {
    /// Where this instance keeps its lexical index (each build in a folder of its own; builds
    /// left by a killed process are removed by the next).
    pub dir: String,
    /// How often each kept index (lexical, semantic) saves a copy with the outbox position it
    /// includes (also when the server stops); 0: never saved, every start builds from
    /// PostgreSQL.
    pub snapshot_interval_secs: u64,
    /// Whether copies are also published to the media store, where an instance starting on
    /// an empty disk finds them.
    pub publish_snapshots: bool,
    /// The largest copy published or downloaded.
    pub snapshot_max_bytes: u64,
}

/// The matching model's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchingSettings {
    /// The currency rates are given in.
    #[serde(deserialize_with = "parsed::currency")]
    pub base_currency: CurrencyCode,
    /// Units of `base_currency` per unit of each currency; pay in a currency without a rate
    /// makes SALARY_ALIGNMENT NO_DATA (and says so).
    #[serde(deserialize_with = "parsed::currency_rates")]
    pub rates: BTreeMap<CurrencyCode, f64>,
    /// How many jobs' whole rankings the match index keeps (8 bytes per talent each; the least
    /// recently used goes first).
    pub ranking_cache_jobs: usize,
    /// Profiles and jobs read per query while the match index loads.
    pub load_batch: usize,
    /// Matches waiting unread per `jobFeed` subscription before more are dropped.
    pub job_feed_queue: usize,
}

/// How account mail (verification, password reset) leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// SMTP at `smtp_url` (`SMTP_URL`).
    Smtp,
    /// `.eml` files under `dir` (development: needs nothing).
    File,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// `smtps://user:pass@host:465` (TLS), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS), or `smtp://host:25` (plain, for a relay on a trusted network). Setting
    /// `SMTP_URL` means SMTP.
    #[serde(default)]
    pub smtp_url: Option<SecretString>,
    /// The sender, e.g. `CastYou <no-reply@castyou.example>`.
    pub from: String,
    /// Where the file transport writes.
    pub dir: String,
    /// The app's public address; links in mail point there (`/verify-email?token=…`).
    pub public_app_url: String,
    /// How long one attempt to hand a mail over may take.
    pub send_timeout_secs: u64,
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("transport", &self.transport)
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from)
            .field("dir", &self.dir)
            .field("public_app_url", &self.public_app_url)
            .finish()
    }
}

/// Limits on the documents clients send, checked in linear time before async-graphql validates
/// them (see `graphql::cost`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySettings {
    /// Bytes of one GraphQL document.
    pub max_document_bytes: NonZeroUsize,
    /// Lexical tokens of one document.
    pub max_tokens: NonZeroUsize,
    /// Fragment definitions in one document.
    pub max_fragments: NonZeroUsize,
    /// Fragment spreads and inline fragments in one document.
    pub max_spreads: NonZeroUsize,
    /// Aliased fields in one document.
    pub max_aliases: NonZeroUsize,
    /// Directive uses in one document.
    pub max_directives: NonZeroUsize,
    /// The operation's expanded size: every field counted once per object it is resolved for,
    /// lists multiplied by their page size (`first`) or by `unpaged_list_cap`.
    pub max_cost: NonZeroU64,
    /// Root mutation fields one request may carry; each spends one rate-limit unit.
    pub max_root_mutation_fields: NonZeroUsize,
    /// What an unpaged list field (a profile's languages, an application's history) counts as.
    pub unpaged_list_cap: NonZeroU64,
    /// Operations one batched POST (a JSON array) may carry.
    pub max_batch_operations: NonZeroUsize,
    /// Fields that rank many rows or call a model (`discoverFeed`, `jobFeed`, `searchTalents`)
    /// one request may run, counted across the operations of a batch and through aliases.
    pub max_ranking_fields: NonZeroU64,
}

/// Apollo's automatic persisted queries: documents registered by their SHA-256 and shared by
/// every instance through Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistedQuerySettings {
    /// Off: a hash is answered PERSISTED_QUERY_NOT_SUPPORTED (clients send full queries).
    pub enabled: bool,
    /// A registered document is forgotten this long after it was last registered.
    pub ttl_secs: u64,
    /// At most this many documents are registered per `ttl_secs`; past it, queries still run
    /// but are not stored.
    pub max_entries: u64,
    /// At most this many of them by one client address, and by one user.
    pub max_entries_per_client: u64,
    /// `Cache-Control: public, max-age` of anonymous GET queries that succeeded (0: no-store).
    pub get_max_age_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSettings {
    /// Members and open invitations one talent group may hold, the owner included.
    pub max_members: u64,
}

/// The operators' listener: `/metrics` and the detailed `/readyz`, away from the public one.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationsSettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// When set, `/metrics` and the detailed `/readyz` also need `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<SecretString>,
}

impl fmt::Debug for OperationsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationsSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// How relayed events reach every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    /// Redis pub/sub: any number of instances.
    Redis,
    /// In-process: a single instance.
    Local,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeSettings {
    pub bus: BusKind,
    /// How often each instance looks for deadlines that are due.
    pub deadline_sweep_secs: u64,
    /// How long before a deadline its producer is reminded.
    pub deadline_reminder_secs: i64,
    /// Subscriptions one websocket connection may hold at once.
    pub max_subscriptions_per_connection: usize,
    /// How long delivered outbox events are kept before they are deleted.
    pub outbox_retention_days: i64,
    /// How long a new websocket may take to send an accepted `connection_init`.
    pub ws_init_timeout_secs: u64,
    /// How often the server pings an idle websocket; one that stays silent for three times
    /// this long, or cannot take a message for that long, is closed.
    pub ws_keepalive_secs: u64,
    /// Events that may wait for one subscriber before it is cut off as too slow.
    pub subscriber_queue: usize,
    /// Bytes that may wait for one websocket client (deliveries queued for it, frames the
    /// socket has not taken): past it the client is not reading and the socket is closed (1008).
    pub ws_max_unsent_bytes: usize,
    /// Messages a websocket client may send per second, sustained (pings and pongs included).
    pub ws_messages_per_sec: u32,
    /// Messages a websocket client may send at once above that rate; beyond, closed (1008).
    pub ws_message_burst: u32,
    /// Websockets one user may hold open on one instance.
    pub max_sockets_per_user: usize,
    /// Websockets one client address may hold open on one instance.
    pub max_sockets_per_address: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationSettings {
    pub host: String,
    pub port: u16,
    /// Worker threads for HTTP; 0 means one per core.
    pub workers: usize,
    pub body_limit_bytes: usize,
    pub graphiql: bool,
    pub introspection: bool,
    pub max_query_depth: usize,
    pub max_query_complexity: usize,
    /// Origins allowed by CORS (and to open websockets); empty means no cross-origin browser
    /// access.
    pub cors_allowed_origins: Vec<Origin>,
    /// Proxies (addresses or CIDRs) whose `Forwarded` / `X-Forwarded-For` entries are believed.
    /// The client is the nearest address, right to left, that is not one of them; empty means
    /// the TCP peer is the client.
    #[serde(deserialize_with = "parsed::proxies")]
    pub trusted_proxies: Vec<IpNet>,
    /// Seconds open requests get to finish on SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_size: usize,
    pub connect_timeout_secs: u64,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &"[redacted]")
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

impl DatabaseSettings {
    /// The same server with another database name (tests use one database each).
    pub fn with_database(&self, name: &str) -> DatabaseSettings {
        let url = self.url.expose_secret();
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let base = match base.rfind('/') {
            Some(i) if i > "postgres://".len() => &base[..i],
            _ => base,
        };
        let mut new = format!("{base}/{name}");
        if let Some(q) = query {
            new.push('?');
            new.push_str(q);
        }
        DatabaseSettings {
            url: SecretString::from(new),
            ..self.clone()
        }
    }

    /// The database name in the URL.
    pub fn database_name(&self) -> Option<String> {
        let url = self.url.expose_secret();
        let base = url.split('?').next().unwrap_or(url);
        let after_scheme = base.split_once("://").map(|(_, r)| r)?;
        let (_, path) = after_scheme.split_once('/')?;
        (!path.is_empty()).then(|| path.to_string())
    }
}

/// The document store: notifications, the activity feed and the audit log.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSettings {
    pub uri: SecretString,
    pub database: String,
    /// Notifications are deleted this long after they were made (a TTL index).
    pub notification_ttl_days: i64,
    /// Explain-log entries (the discover pages producers were shown) are kept this long.
    pub explain_retention_days: i64,
}

impl fmt::Debug for MongoSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoSettings")
            .field("uri", &"[redacted]")
            .field("database", &self.database)
            .field("notification_ttl_days", &self.notification_ttl_days)
            .field("explain_retention_days", &self.explain_retention_days)
            .finish()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: SecretString,
    /// Prefix for every key this instance writes (several deployments may share a Redis).
    pub key_prefix: String,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"[redacted]")
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: Option<SecretString>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    /// A session ends this long after its sign-in, however often it is refreshed.
    pub session_lifetime_secs: i64,
    /// Changing two-factor settings without the password needs a sign-in this recent.
    pub reauth_window_secs: i64,
    /// How long an email verification link works.
    pub verification_ttl_secs: i64,
    /// How long a password reset link works.
    pub password_reset_ttl_secs: i64,
    /// Whether an account must verify its email before it can sign in with a password.
    pub require_verified_email: bool,
    /// Verification mails one account may ask for again per hour.
    pub resend_verification_per_hour: i64,
    /// Password reset mails one account gets per hour, however many clients ask.
    pub password_resets_per_hour: i64,
    pub totp_issuer: String,
    /// Argon2id memory cost in KiB (OWASP: at least 19 MiB).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    #[serde(default)]
    pub identity_providers: Vec<IdentityProviderSettings>,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("session_lifetime_secs", &self.session_lifetime_secs)
            .field("identity_providers", &self.identity_providers)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityProviderKind {
    Firebase,
    Auth0,
}

/// An OpenID issuer whose RS256 ID tokens `loginWithProvider` accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderSettings {
    pub kind: IdentityProviderKind,
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub window_secs: u64,
    /// Requests per client per window, every operation.
    pub general_max: u64,
    /// Authentication attempts (register, login, refresh, provider login, 2FA) per client per window.
    pub auth_max: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` overrides.
    pub filter: String,
}
