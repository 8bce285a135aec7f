//! The rules no single value can check on its own: ranges, and what one setting asks of
//! another (a transport and its URL, the environment and the signing secret, token lifetimes).
//! Every problem is collected, so one start names them all.

use super::{
    Environment, MailTransport, Settings, SettingsError, StorageKind, DEVELOPMENT_JWT_SECRET,
};
use secrecy::ExposeSecret;

impl Settings {
    /// Checks every rule and names each setting that breaks one.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut problems = Vec::new();
        let rules: [fn(&Settings, &mut Vec<String>); 9] = [
            application,
            limits,
            mail,
            media,
            ai,
            stores,
            auth,
            realtime,
            tokens,
        ];
        for rule in rules {
            rule(self, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SettingsError(problems))
        }
    }
}

/// The HTTP server.
fn application(s: &Settings, problems: &mut Vec<String>) {
    let app = &s.application;
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
}

/// Query limits, persisted queries, groups, matching rates.
fn limits(s: &Settings, problems: &mut Vec<String>) {
    if s.persisted_queries.ttl_secs == 0 || s.persisted_queries.max_entries == 0 {
        problems.push(
            "persisted_queries.ttl_secs / persisted_queries.max_entries: must be at least 1".into(),
        );
    }
    if s.groups.max_members < 2 {
        problems.push("groups.max_members: must be at least 2".into());
    }
    for (code, rate) in &s.matching.rates {
        if !rate.is_finite() || *rate <= 0.0 {
            problems.push(format!("matching.rates.{code}: must be a positive rate"));
        }
    }
}

/// Account mail: its transport, sender and links.
fn mail(s: &Settings, problems: &mut Vec<String>) {
    if s.auth.verification_ttl_secs < 60 || s.auth.password_reset_ttl_secs < 60 {
        problems
            .push("auth.verification_ttl_secs / auth.password_reset_ttl_secs: at least 60".into());
    }
    if s.auth.resend_verification_per_hour < 1 {
        problems.push("auth.resend_verification_per_hour: must be at least 1".into());
    }
    match (&s.mail.transport, &s.mail.smtp_url) {
        (MailTransport::Smtp, None) => {
            problems.push("mail.smtp_url (SMTP_URL): required when mail.transport is smtp".into())
        }
        (_, Some(url))
            if !(url.expose_secret().starts_with("smtp://")
                || url.expose_secret().starts_with("smtps://")) =>
        {
            problems.push("mail.smtp_url (SMTP_URL): must be an smtp:// or smtps:// URL".into())
        }
        _ => {}
    }
    if !s.mail.from.contains('@') {
        problems.push("mail.from: must be an address, e.g. CastYou <no-reply@example.com>".into());
    }
    if !(s.mail.public_app_url.starts_with("http://")
        || s.mail.public_app_url.starts_with("https://"))
    {
        problems.push("mail.public_app_url: must be an http(s) URL".into());
    }
}

/// Media storage and processing.
fn media(s: &Settings, problems: &mut Vec<String>) {
    let media = &s.media;
    let base = media.public_base_url.trim();
    if !(base.is_empty() || base.starts_with("http://") || base.starts_with("https://")) {
        problems.push("media.public_base_url: must be empty or an http(s) URL".into());
    }
    if media.upload_ttl_secs == 0 || media.download_ttl_secs == 0 {
        problems.push("media.upload_ttl_secs, media.download_ttl_secs: must be positive".into());
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
            problems.push("media.s3.bucket, media.s3.access_key: required for s3 storage".into());
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
            "media.lease_secs (at least 5), media.poll_secs, media.max_attempts: positive".into(),
        );
    }
    if media.tool_timeout_ms == 0 {
        problems.push("media.tool_timeout_ms: positive".into());
    }
    if media.max_image_pixels == 0 || media.max_image_alloc < 1 << 20 {
        problems
            .push("media.max_image_pixels: positive; media.max_image_alloc: at least 1 MiB".into());
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
        problems.push("media.tool_max_memory: at least 256 MiB (ffmpeg maps its libraries)".into());
    }
}

/// The model endpoint, the embedding queue and the semantic index.
fn ai(s: &Settings, problems: &mut Vec<String>) {
    let ai = &s.ai;
    if let Some(url) = ai.endpoint() {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems
                .push("ai.base_url (OPENAI_BASE_URL): must be an http(s) URL including /v1".into());
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
}

/// PostgreSQL, Redis, MongoDB and the operators' listener.
fn stores(s: &Settings, problems: &mut Vec<String>) {
    if s.operations.host.trim().is_empty() {
        problems.push("operations.host: must not be empty".into());
    }
    let db_url = s.database.url.expose_secret();
    if !(db_url.starts_with("postgres://") || db_url.starts_with("postgresql://")) {
        problems.push(
            "database.url (DATABASE_URL): must be a postgres:// or postgresql:// URL".to_string(),
        );
    }
    if s.database.pool_size == 0 {
        problems.push("database.pool_size: must be at least 1".to_string());
    }
    let redis_url = s.redis.url.expose_secret();
    if !(redis_url.starts_with("redis://")
        || redis_url.starts_with("rediss://")
        || redis_url.starts_with("redis+unix://"))
    {
        problems.push("redis.url (REDIS_URL): must be a redis:// or rediss:// URL".to_string());
    }
    let mongo_uri = s.mongodb.uri.expose_secret();
    if !mongo_uri.starts_with("mongodb://") {
        // mongodb+srv:// would need the driver's DNS resolver, which is not built in.
        problems.push(
            "mongodb.uri (MONGODB_URI): must be a mongodb:// URI listing the hosts \
             (mongodb+srv:// is not supported)"
                .to_string(),
        );
    }
    let name_ok = !s.mongodb.database.is_empty()
        && s.mongodb.database.len() <= 63
        && s.mongodb
            .database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        problems.push("mongodb.database: 1 to 63 letters, digits, `_` or `-`".to_string());
    }
    if !(1..=3650).contains(&s.mongodb.notification_ttl_days) {
        problems.push("mongodb.notification_ttl_days: must be 1 to 3650".to_string());
    }
}

/// The signing secret and what the environment asks of it.
fn auth(s: &Settings, problems: &mut Vec<String>) {
    match &s.auth.jwt_secret {
        None => problems.push(format!(
            "auth.jwt_secret (JWT_SECRET): required in {}",
            s.environment.as_str()
        )),
        Some(secret) if secret.expose_secret().len() < 32 => {
            if s.environment == Environment::Production {
                problems
                    .push("auth.jwt_secret (JWT_SECRET): must be at least 32 bytes".to_string());
            }
        }
        Some(_) => {}
    }
    if s.environment == Environment::Production
        && s.auth
            .jwt_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret() == DEVELOPMENT_JWT_SECRET)
    {
        problems.push(
            "auth.jwt_secret (JWT_SECRET): the development secret is not allowed in production"
                .to_string(),
        );
    }
}

/// Token and session lifetimes, password hashing, identity providers.
fn tokens(s: &Settings, problems: &mut Vec<String>) {
    if s.auth.access_token_ttl_secs <= 0 {
        problems.push("auth.access_token_ttl_secs: must be positive".to_string());
    }
    if s.auth.refresh_token_ttl_secs <= s.auth.access_token_ttl_secs.max(0) {
        problems.push(
            "auth.refresh_token_ttl_secs: must be longer than auth.access_token_ttl_secs"
                .to_string(),
        );
    }
    if s.auth.session_lifetime_secs < s.auth.refresh_token_ttl_secs {
        problems.push(
            "auth.session_lifetime_secs: must be at least auth.refresh_token_ttl_secs".into(),
        );
    }
    if s.auth.reauth_window_secs < 0 {
        problems.push("auth.reauth_window_secs: must not be negative".into());
    }
    if s.auth.issuer.is_empty() || s.auth.audience.is_empty() {
        problems.push("auth.issuer and auth.audience: must not be empty".to_string());
    }
    if s.auth.argon2_memory_kib < 8 || s.auth.argon2_iterations == 0 {
        problems.push("auth.argon2_memory_kib / auth.argon2_iterations: out of range".to_string());
    }
    for (i, p) in s.auth.identity_providers.iter().enumerate() {
        if !(p.jwks_url.starts_with("https://") || p.jwks_url.starts_with("http://")) {
            problems.push(format!(
                "auth.identity_providers[{i}].jwks_url: must be an http(s) URL"
            ));
        }
        if s.environment == Environment::Production && !p.jwks_url.starts_with("https://") {
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
}

/// Realtime, deadlines and rate limits.
fn realtime(s: &Settings, problems: &mut Vec<String>) {
    if s.realtime.deadline_sweep_secs == 0 {
        problems.push("realtime.deadline_sweep_secs: must be at least 1".to_string());
    }
    if s.realtime.outbox_retention_days < 1 {
        problems.push("realtime.outbox_retention_days: must be at least 1".into());
    }
    if s.realtime.max_subscriptions_per_connection == 0 {
        problems.push("realtime.max_subscriptions_per_connection: must be at least 1".into());
    }
    if s.realtime.ws_init_timeout_secs == 0 {
        problems.push("realtime.ws_init_timeout_secs: must be at least 1".into());
    }
    if s.realtime.ws_keepalive_secs == 0 {
        problems.push("realtime.ws_keepalive_secs: must be at least 1".into());
    }
    if !(1..=65_536).contains(&s.realtime.subscriber_queue) {
        problems.push("realtime.subscriber_queue: must be 1 to 65536".into());
    }
    if !(4096..=1 << 30).contains(&s.realtime.ws_max_unsent_bytes) {
        problems.push("realtime.ws_max_unsent_bytes: must be 4096 to 1073741824".into());
    }
    if s.realtime.ws_messages_per_sec == 0 {
        problems.push("realtime.ws_messages_per_sec: must be at least 1".into());
    }
    if s.realtime.ws_message_burst == 0 {
        problems.push("realtime.ws_message_burst: must be at least 1".into());
    }
    if s.realtime.max_sockets_per_user == 0 || s.realtime.max_sockets_per_address == 0 {
        problems.push(
            "realtime.max_sockets_per_user / realtime.max_sockets_per_address: must be at least 1"
                .into(),
        );
    }
    if s.realtime.deadline_reminder_secs < 0 {
        problems.push("realtime.deadline_reminder_secs: must not be negative".to_string());
    }
    if s.rate_limit.window_secs == 0 {
        problems.push("rate_limit.window_secs: must be at least 1".to_string());
    }
    if s.rate_limit.general_max == 0 || s.rate_limit.auth_max == 0 {
        problems.push("rate_limit.general_max / rate_limit.auth_max: must be at least 1".into());
    }
}
