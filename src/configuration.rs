//! Settings: `config/base.toml`, then `config/{APP_ENVIRONMENT}.toml`, then environment variables
//! (`APP_SECTION__KEY`, plus the conventional `DATABASE_URL`, `REDIS_URL`, `MONGODB_URI`, `JWT_SECRET`, `PORT`,
//! `HOST`). Everything is validated once, at start, and every problem is named in one error.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_lowercase().as_str() {
            "development" | "dev" | "local" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "production" | "prod" => Ok(Environment::Production),
            other => Err(format!(
                "APP_ENVIRONMENT: `{other}` is not one of development, test, production"
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub environment: Environment,
    pub application: ApplicationSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub mongodb: MongoSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub realtime: RealtimeSettings,
    pub query: QuerySettings,
    pub persisted_queries: PersistedQuerySettings,
    pub groups: GroupSettings,
    pub operations: OperationsSettings,
    pub mail: MailSettings,
    pub matching: MatchingSettings,
    pub ai: AiSettings,
    pub media: MediaSettings,
    pub log: LogSettings,
}

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

/// The matching model's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchingSettings {
    /// The currency rates are given in.
    pub base_currency: String,
    /// Units of `base_currency` per unit of each currency; pay in a currency without a rate
    /// makes SALARY_ALIGNMENT NO_DATA (and says so).
    pub rates: std::collections::HashMap<String, f64>,
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
    pub max_document_bytes: usize,
    /// Lexical tokens of one document.
    pub max_tokens: usize,
    /// Fragment definitions in one document.
    pub max_fragments: usize,
    /// Fragment spreads and inline fragments in one document.
    pub max_spreads: usize,
    /// Aliased fields in one document.
    pub max_aliases: usize,
    /// Directive uses in one document.
    pub max_directives: usize,
    /// The operation's expanded size: every field counted once per object it is resolved for,
    /// lists multiplied by their page size (`first`) or by `unpaged_list_cap`.
    pub max_cost: u64,
    /// Root mutation fields one request may carry; each spends one rate-limit unit.
    pub max_root_mutation_fields: usize,
    /// What an unpaged list field (a profile's languages, an application's history) counts as.
    pub unpaged_list_cap: u64,
    /// Operations one batched POST (a JSON array) may carry.
    pub max_batch_operations: usize,
    /// Fields that rank many rows or call a model (`discoverFeed`, `jobFeed`, `searchTalents`)
    /// one request may run, counted across the operations of a batch and through aliases.
    pub max_ranking_fields: u64,
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
    /// Origins allowed by CORS; empty means no cross-origin browser access.
    pub cors_allowed_origins: Vec<String>,
    /// Proxies (addresses or CIDRs) whose `Forwarded` / `X-Forwarded-For` entries are believed.
    /// The client is the nearest address, right to left, that is not one of them; empty means
    /// the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
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

/// Every problem found in the settings, reported together.
#[derive(Debug)]
pub struct SettingsError(pub Vec<String>);

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid settings:")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SettingsError {}

/// The development-only signing secret, so `serve` works with no set-up at all.
const DEVELOPMENT_JWT_SECRET: &str = "castyou-development-secret-do-not-use-in-production";

/// Conventional variable names users expect to work, mapped to their setting.
const CONVENTIONAL_VARIABLES: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("REDIS_URL", "redis.url"),
    ("MONGODB_URI", "mongodb.uri"),
    ("JWT_SECRET", "auth.jwt_secret"),
    ("SMTP_URL", "mail.smtp_url"),
    ("OPENAI_BASE_URL", "ai.base_url"),
    ("OPENAI_API_KEY", "ai.api_key"),
    ("PORT", "application.port"),
    ("HOST", "application.host"),
];

impl Settings {
    /// Reads the environment named by `APP_ENVIRONMENT` (development when unset).
    pub fn load() -> Result<Settings, SettingsError> {
        let environment = match std::env::var("APP_ENVIRONMENT") {
            Ok(v) => Environment::parse(&v).map_err(|e| SettingsError(vec![e]))?,
            Err(_) => Environment::Development,
        };
        Self::load_for(environment)
    }

    /// Reads `config/` for the given environment, with environment variables on top.
    pub fn load_for(environment: Environment) -> Result<Settings, SettingsError> {
        let dir = config_dir();
        let mut builder = config::Config::builder()
            .add_source(config::File::from(dir.join("base.toml")).required(true))
            .add_source(
                config::File::from(dir.join(format!("{}.toml", environment.as_str())))
                    .required(false),
            )
            .add_source(
                config::Environment::with_prefix("APP")
                    .prefix_separator("_")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("application.cors_allowed_origins")
                    .with_list_parse_key("application.trusted_proxies")
                    .try_parsing(true),
            )
            .set_override("environment", environment.as_str())
            .map_err(|e| SettingsError(vec![e.to_string()]))?;
        for (var, key) in CONVENTIONAL_VARIABLES {
            if let Ok(value) = std::env::var(var) {
                builder = builder
                    .set_override(*key, value)
                    .map_err(|e| SettingsError(vec![format!("{var}: {e}")]))?;
            }
        }
        let raw = builder
            .build()
            .map_err(|e| SettingsError(vec![e.to_string()]))?;
        let mut settings: Settings = raw
            .try_deserialize()
            .map_err(|e| SettingsError(vec![e.to_string()]))?;
        // SMTP_URL set means SMTP.
        if settings.mail.smtp_url.is_some() {
            settings.mail.transport = MailTransport::Smtp;
        }
        if settings.auth.jwt_secret.is_none() && environment == Environment::Development {
            settings.auth.jwt_secret = Some(SecretString::from(DEVELOPMENT_JWT_SECRET));
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every setting and names each one that is wrong.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut problems = Vec::new();
        let app = &self.application;
        if app.host.trim().is_empty() {
            problems.push("application.host (HOST): must not be empty".to_string());
        }
        if app.body_limit_bytes < 1024 {
            problems.push("application.body_limit_bytes: must be at least 1024".to_string());
        }
        if app.max_query_depth == 0 {
            problems.push("application.max_query_depth: must be at least 1".to_string());
        }
        if app.max_query_complexity == 0 {
            problems.push("application.max_query_complexity: must be at least 1".to_string());
        }
        for origin in &app.cors_allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) {
                problems.push(format!(
                    "application.cors_allowed_origins: `{origin}` is not an http(s) origin"
                ));
            }
        }
        for proxy in &app.trusted_proxies {
            if crate::http::client_ip::parse_proxy(proxy).is_none() {
                problems.push(format!(
                    "application.trusted_proxies: `{proxy}` is not an IP address or CIDR"
                ));
            }
        }
        let q = &self.query;
        for (name, value) in [
            ("max_document_bytes", q.max_document_bytes),
            ("max_tokens", q.max_tokens),
            ("max_fragments", q.max_fragments),
            ("max_spreads", q.max_spreads),
            ("max_aliases", q.max_aliases),
            ("max_directives", q.max_directives),
            ("max_root_mutation_fields", q.max_root_mutation_fields),
        ] {
            if value == 0 {
                problems.push(format!("query.{name}: must be at least 1"));
            }
        }
        if q.max_batch_operations == 0 {
            problems.push("query.max_batch_operations: must be at least 1".into());
        }
        if q.max_ranking_fields == 0 {
            problems.push("query.max_ranking_fields: must be at least 1".into());
        }
        if self.persisted_queries.ttl_secs == 0 || self.persisted_queries.max_entries == 0 {
            problems.push(
                "persisted_queries.ttl_secs / persisted_queries.max_entries: must be at least 1"
                    .into(),
            );
        }
        if q.max_cost == 0 || q.unpaged_list_cap == 0 {
            problems.push("query.max_cost / query.unpaged_list_cap: must be at least 1".into());
        }
        if self.groups.max_members < 2 {
            problems.push("groups.max_members: must be at least 2".into());
        }
        if self.auth.verification_ttl_secs < 60 || self.auth.password_reset_ttl_secs < 60 {
            problems.push(
                "auth.verification_ttl_secs / auth.password_reset_ttl_secs: at least 60".into(),
            );
        }
        if self.auth.resend_verification_per_hour < 1 {
            problems.push("auth.resend_verification_per_hour: must be at least 1".into());
        }
        match (&self.mail.transport, &self.mail.smtp_url) {
            (MailTransport::Smtp, None) => problems
                .push("mail.smtp_url (SMTP_URL): required when mail.transport is smtp".into()),
            (_, Some(url))
                if !(url.expose_secret().starts_with("smtp://")
                    || url.expose_secret().starts_with("smtps://")) =>
            {
                problems.push("mail.smtp_url (SMTP_URL): must be an smtp:// or smtps:// URL".into())
            }
            _ => {}
        }
        if !self.mail.from.contains('@') {
            problems
                .push("mail.from: must be an address, e.g. CastYou <no-reply@example.com>".into());
        }
        if !(self.mail.public_app_url.starts_with("http://")
            || self.mail.public_app_url.starts_with("https://"))
        {
            problems.push("mail.public_app_url: must be an http(s) URL".into());
        }
        if crate::domain::values::CurrencyCode::parse(
            "matching.base_currency",
            &self.matching.base_currency,
        )
        .is_err()
        {
            problems.push("matching.base_currency: not an ISO 4217 currency code".into());
        }
        for (code, rate) in &self.matching.rates {
            if crate::domain::values::CurrencyCode::parse("matching.rates", code).is_err()
                || !rate.is_finite()
                || *rate <= 0.0
            {
                problems.push(format!(
                    "matching.rates.{code}: needs an ISO 4217 code and a positive rate"
                ));
            }
        }
        let media = &self.media;
        let base = media.public_base_url.trim();
        if !(base.is_empty() || base.starts_with("http://") || base.starts_with("https://")) {
            problems.push("media.public_base_url: must be empty or an http(s) URL".into());
        }
        if media.upload_ttl_secs == 0 || media.download_ttl_secs == 0 {
            problems
                .push("media.upload_ttl_secs, media.download_ttl_secs: must be positive".into());
        }
        // A presigned S3 URL works at most 7 days.
        if media.upload_ttl_secs > 604_800 || media.download_ttl_secs > 604_800 {
            problems.push("media.upload_ttl_secs, media.download_ttl_secs: at most 7 days".into());
        }
        for (name, limits) in [
            ("headshot", &media.headshot),
            ("reel", &media.reel),
            ("voice_reel", &media.voice_reel),
        ] {
            // Sizes travel as GraphQL Int (32-bit).
            if limits.max_bytes == 0 || limits.max_bytes > i32::MAX as u64 {
                problems.push(format!("media.{name}.max_bytes: must be 1 to {}", i32::MAX));
            }
            if limits.types.is_empty() {
                problems.push(format!(
                    "media.{name}.types: name at least one content type"
                ));
            }
        }
        if media.storage == StorageKind::Local && media.dir.trim().is_empty() {
            problems.push("media.dir: required when media.storage is local".into());
        }
        if media.storage == StorageKind::S3 {
            let s3 = &media.s3;
            if !(s3.endpoint.starts_with("http://") || s3.endpoint.starts_with("https://")) {
                problems.push("media.s3.endpoint: an http(s) URL, required for s3 storage".into());
            }
            if s3.bucket.trim().is_empty() || s3.access_key.trim().is_empty() {
                problems
                    .push("media.s3.bucket, media.s3.access_key: required for s3 storage".into());
            }
            if s3.secret_key.is_none() {
                problems.push("media.s3.secret_key: required for s3 storage".into());
            }
        }
        if media.workers > 64 {
            problems.push("media.workers: 0 (one per core) to 64".into());
        }
        if media.lease_secs < 5 || media.poll_secs == 0 || media.max_attempts < 1 {
            problems.push(
                "media.lease_secs (at least 5), media.poll_secs, media.max_attempts: positive"
                    .into(),
            );
        }
        if media.tool_timeout_ms == 0 {
            problems.push("media.tool_timeout_ms: positive".into());
        }
        if media.max_image_pixels == 0 || media.max_image_alloc < 1 << 20 {
            problems.push(
                "media.max_image_pixels: positive; media.max_image_alloc: at least 1 MiB".into(),
            );
        }
        if media.ffprobe.trim().is_empty() || media.ffmpeg.trim().is_empty() {
            problems.push("media.ffprobe, media.ffmpeg: the programs to run".into());
        }
        if media.max_jpeg_scans == 0 || media.max_streams == 0 {
            problems.push("media.max_jpeg_scans, media.max_streams: positive".into());
        }
        if media.still_timeout_ms == 0 || media.item_timeout_secs == 0 {
            problems.push("media.still_timeout_ms, media.item_timeout_secs: positive".into());
        }
        if media.tool_max_memory < 256 << 20 {
            problems
                .push("media.tool_max_memory: at least 256 MiB (ffmpeg maps its libraries)".into());
        }
        let ai = &self.ai;
        if let Some(url) = ai.endpoint() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(
                    "ai.base_url (OPENAI_BASE_URL): must be an http(s) URL including /v1".into(),
                );
            }
        }
        if !(-1.0..=1.0).contains(&ai.semantic_min_similarity) {
            problems.push("ai.semantic_min_similarity: must be -1 to 1".into());
        }
        if !(8..=8192).contains(&ai.embedding_dimensions) {
            problems.push("ai.embedding_dimensions: must be 8 to 8192".into());
        }
        if ai.embedding_model.trim().is_empty() || ai.chat_model.trim().is_empty() {
            problems.push("ai.embedding_model / ai.chat_model: must not be empty".into());
        }
        if ai.embedding_timeout_ms < 100 || ai.chat_timeout_ms < 100 {
            problems.push("ai.embedding_timeout_ms / ai.chat_timeout_ms: at least 100".into());
        }
        if !(1..=2048).contains(&ai.embedding_batch) {
            problems.push("ai.embedding_batch: must be 1 to 2048".into());
        }
        if !(100..=100_000).contains(&ai.max_input_chars) {
            problems.push("ai.max_input_chars: must be 100 to 100000".into());
        }
        if ai.worker_poll_secs == 0 || ai.worker_retry_max_secs == 0 || ai.worker_max_attempts < 1 {
            problems.push(
                "ai.worker_poll_secs / ai.worker_retry_max_secs / ai.worker_max_attempts: at least 1"
                    .into(),
            );
        }
        if !(4..=128).contains(&ai.hnsw_m)
            || ai.hnsw_ef_construction < ai.hnsw_m
            || ai.hnsw_ef_search == 0
        {
            problems.push(
                "ai.hnsw_m (4 to 128), ai.hnsw_ef_construction (at least hnsw_m), \
                 ai.hnsw_ef_search (at least 1)"
                    .into(),
            );
        }
        if self.operations.host.trim().is_empty() {
            problems.push("operations.host: must not be empty".into());
        }
        let db_url = self.database.url.expose_secret();
        if !(db_url.starts_with("postgres://") || db_url.starts_with("postgresql://")) {
            problems.push(
                "database.url (DATABASE_URL): must be a postgres:// or postgresql:// URL"
                    .to_string(),
            );
        }
        if self.database.pool_size == 0 {
            problems.push("database.pool_size: must be at least 1".to_string());
        }
        let redis_url = self.redis.url.expose_secret();
        if !(redis_url.starts_with("redis://")
            || redis_url.starts_with("rediss://")
            || redis_url.starts_with("redis+unix://"))
        {
            problems.push("redis.url (REDIS_URL): must be a redis:// or rediss:// URL".to_string());
        }
        let mongo_uri = self.mongodb.uri.expose_secret();
        if !mongo_uri.starts_with("mongodb://") {
            // mongodb+srv:// would need the driver's DNS resolver, which is not built in.
            problems.push(
                "mongodb.uri (MONGODB_URI): must be a mongodb:// URI listing the hosts \
                 (mongodb+srv:// is not supported)"
                    .to_string(),
            );
        }
        let name_ok = !self.mongodb.database.is_empty()
            && self.mongodb.database.len() <= 63
            && self
                .mongodb
                .database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            problems.push("mongodb.database: 1 to 63 letters, digits, `_` or `-`".to_string());
        }
        if !(1..=3650).contains(&self.mongodb.notification_ttl_days) {
            problems.push("mongodb.notification_ttl_days: must be 1 to 3650".to_string());
        }
        match &self.auth.jwt_secret {
            None => problems.push(format!(
                "auth.jwt_secret (JWT_SECRET): required in {}",
                self.environment.as_str()
            )),
            Some(secret) if secret.expose_secret().len() < 32 => {
                if self.environment == Environment::Production {
                    problems.push(
                        "auth.jwt_secret (JWT_SECRET): must be at least 32 bytes".to_string(),
                    );
                }
            }
            Some(_) => {}
        }
        if self.environment == Environment::Production
            && self
                .auth
                .jwt_secret
                .as_ref()
                .is_some_and(|s| s.expose_secret() == DEVELOPMENT_JWT_SECRET)
        {
            problems.push(
                "auth.jwt_secret (JWT_SECRET): the development secret is not allowed in production"
                    .to_string(),
            );
        }
        if self.auth.access_token_ttl_secs <= 0 {
            problems.push("auth.access_token_ttl_secs: must be positive".to_string());
        }
        if self.auth.refresh_token_ttl_secs <= self.auth.access_token_ttl_secs.max(0) {
            problems.push(
                "auth.refresh_token_ttl_secs: must be longer than auth.access_token_ttl_secs"
                    .to_string(),
            );
        }
        if self.auth.session_lifetime_secs < self.auth.refresh_token_ttl_secs {
            problems.push(
                "auth.session_lifetime_secs: must be at least auth.refresh_token_ttl_secs".into(),
            );
        }
        if self.auth.reauth_window_secs < 0 {
            problems.push("auth.reauth_window_secs: must not be negative".into());
        }
        if self.auth.issuer.is_empty() || self.auth.audience.is_empty() {
            problems.push("auth.issuer and auth.audience: must not be empty".to_string());
        }
        if self.auth.argon2_memory_kib < 8 || self.auth.argon2_iterations == 0 {
            problems
                .push("auth.argon2_memory_kib / auth.argon2_iterations: out of range".to_string());
        }
        for (i, p) in self.auth.identity_providers.iter().enumerate() {
            if !(p.jwks_url.starts_with("https://") || p.jwks_url.starts_with("http://")) {
                problems.push(format!(
                    "auth.identity_providers[{i}].jwks_url: must be an http(s) URL"
                ));
            }
            if self.environment == Environment::Production && !p.jwks_url.starts_with("https://") {
                problems.push(format!(
                    "auth.identity_providers[{i}].jwks_url: must be https in production"
                ));
            }
            if p.issuer.is_empty() || p.audience.is_empty() {
                problems.push(format!(
                    "auth.identity_providers[{i}]: issuer and audience must not be empty"
                ));
            }
        }
        if self.realtime.deadline_sweep_secs == 0 {
            problems.push("realtime.deadline_sweep_secs: must be at least 1".to_string());
        }
        if self.realtime.outbox_retention_days < 1 {
            problems.push("realtime.outbox_retention_days: must be at least 1".into());
        }
        if self.realtime.max_subscriptions_per_connection == 0 {
            problems.push("realtime.max_subscriptions_per_connection: must be at least 1".into());
        }
        if self.realtime.ws_init_timeout_secs == 0 {
            problems.push("realtime.ws_init_timeout_secs: must be at least 1".into());
        }
        if self.realtime.ws_keepalive_secs == 0 {
            problems.push("realtime.ws_keepalive_secs: must be at least 1".into());
        }
        if !(1..=65_536).contains(&self.realtime.subscriber_queue) {
            problems.push("realtime.subscriber_queue: must be 1 to 65536".into());
        }
        if !(4096..=1 << 30).contains(&self.realtime.ws_max_unsent_bytes) {
            problems.push("realtime.ws_max_unsent_bytes: must be 4096 to 1073741824".into());
        }
        if self.realtime.ws_messages_per_sec == 0 {
            problems.push("realtime.ws_messages_per_sec: must be at least 1".into());
        }
        if self.realtime.ws_message_burst == 0 {
            problems.push("realtime.ws_message_burst: must be at least 1".into());
        }
        if self.realtime.max_sockets_per_user == 0 || self.realtime.max_sockets_per_address == 0 {
            problems.push(
                "realtime.max_sockets_per_user / realtime.max_sockets_per_address: must be at least 1"
                    .into(),
            );
        }
        if self.realtime.deadline_reminder_secs < 0 {
            problems.push("realtime.deadline_reminder_secs: must not be negative".to_string());
        }
        if self.rate_limit.window_secs == 0 {
            problems.push("rate_limit.window_secs: must be at least 1".to_string());
        }
        if self.rate_limit.general_max == 0 || self.rate_limit.auth_max == 0 {
            problems
                .push("rate_limit.general_max / rate_limit.auth_max: must be at least 1".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SettingsError(problems))
        }
    }
}

/// `CASTYOU_CONFIG_DIR`, or `config/` in the working directory, or the one in this source tree.
fn config_dir() -> std::path::PathBuf {
    if let Ok(dir) = std::env::var("CASTYOU_CONFIG_DIR") {
        return dir.into();
    }
    let local = std::path::PathBuf::from("config");
    if local.join("base.toml").exists() {
        return local;
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_settings() -> Settings {
        match Settings::load_for(Environment::Test) {
            Ok(s) => s,
            Err(e) => panic!("test settings: {e}"),
        }
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let mut s = test_settings();
        s.environment = Environment::Production;
        s.auth.jwt_secret = None;
        s.database.url = SecretString::from("mysql://nope");
        s.database.pool_size = 0;
        let problems = match s.validate() {
            Err(SettingsError(p)) => p,
            Ok(()) => panic!("invalid settings were accepted"),
        };
        let all = problems.join("\n");
        assert!(all.contains("JWT_SECRET"), "{all}");
        assert!(all.contains("DATABASE_URL"), "{all}");
        assert!(all.contains("database.pool_size"), "{all}");
    }

    #[test]
    fn production_refuses_a_short_secret_that_development_would_take() {
        let mut s = test_settings();
        s.auth.jwt_secret = Some(SecretString::from("short"));
        s.environment = Environment::Development;
        assert!(s.validate().is_ok());
        s.environment = Environment::Production;
        assert!(s.validate().is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = test_settings();
        let printed = format!("{s:?}");
        assert!(!printed.contains("test-secret"), "{printed}");
        assert!(!printed.contains("postgres://"), "{printed}");
    }

    #[test]
    fn the_database_name_can_be_swapped() {
        let s = test_settings();
        let other = s.database.with_database("castyou_other");
        assert_eq!(other.database_name().as_deref(), Some("castyou_other"));
    }
}
