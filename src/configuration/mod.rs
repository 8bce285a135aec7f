//! Settings: `config/base.toml`, then `config/{APP_ENVIRONMENT}.toml`, then environment variables
//! (`APP_SECTION__KEY`, plus the conventional `DATABASE_URL`, `REDIS_URL`, `MONGODB_URI`, `JWT_SECRET`, `PORT`,
//! `HOST`). Values are parsed into the types the code uses as they are read (`parsed`), then the
//! rules that tie settings together are checked (`validate`); every problem found is named in
//! one error.

mod parsed;
mod sections;
mod validate;

pub use parsed::{parse_proxy, Origin};
pub use sections::*;

use secrecy::SecretString;
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
    pub search: SearchSettings,
    pub ai: AiSettings,
    pub media: MediaSettings,
    pub log: LogSettings,
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
pub(crate) const DEVELOPMENT_JWT_SECRET: &str =
    "castyou-development-secret-do-not-use-in-production";

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
        let mut settings = read(raw)?;
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
}

/// The settings, each value parsed; when some do not parse, the first problem of every section
/// with the setting it is in (a section stops at its first), so one start names as many as it
/// can.
fn read(raw: config::Config) -> Result<Settings, SettingsError> {
    match raw.clone().try_deserialize::<Settings>() {
        Ok(settings) => Ok(settings),
        Err(whole) => {
            let mut problems = Vec::new();
            macro_rules! each_section {
                ($($name:ident: $section:ty),* $(,)?) => {
                    $(match raw.get::<config::Value>(stringify!($name)) {
                        Ok(value) => {
                            if let Err(e) = serde_path_to_error::deserialize::<_, $section>(value) {
                                let at = e.path().to_string();
                                problems.push(match at.as_str() {
                                    "." => format!("{}: {}", stringify!($name), e.inner()),
                                    _ => format!("{}.{at}: {}", stringify!($name), e.inner()),
                                });
                            }
                        }
                        Err(e) => problems.push(e.to_string()),
                    })*
                };
            }
            each_section!(
                environment: Environment,
                application: ApplicationSettings,
                database: DatabaseSettings,
                redis: RedisSettings,
                mongodb: MongoSettings,
                auth: AuthSettings,
                rate_limit: RateLimitSettings,
                realtime: RealtimeSettings,
                query: QuerySettings,
                persisted_queries: PersistedQuerySettings,
                groups: GroupSettings,
                operations: OperationsSettings,
                mail: MailSettings,
                matching: MatchingSettings,
                search: SearchSettings,
                ai: AiSettings,
                media: MediaSettings,
                log: LogSettings,
            );
            if problems.is_empty() {
                problems.push(whole.to_string());
            }
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

    /// `base.toml` with `overrides` on top, read.
    fn read_with(overrides: &str) -> Result<Settings, SettingsError> {
        let raw = config::Config::builder()
            .add_source(config::File::from(config_dir().join("base.toml")))
            .add_source(config::File::from_str(overrides, config::FileFormat::Toml))
            .set_override("environment", "test")
            .and_then(|b| b.build())
            .expect("the files are TOML");
        read(raw)
    }

    #[test]
    fn values_that_do_not_parse_are_refused_at_load_naming_their_settings() {
        let settings = read_with(
            r#"
            [application]
            trusted_proxies = ["10.0.0.0/8", "::1"]
            cors_allowed_origins = ["https://app.castyou.test"]
            [matching]
            base_currency = "eur"
            "#,
        )
        .expect("valid values");
        assert_eq!(settings.application.trusted_proxies.len(), 2);
        assert_eq!(settings.matching.base_currency.as_str(), "EUR");

        let problems = match read_with(
            r#"
            [application]
            trusted_proxies = ["proxy.internal"]
            [query]
            max_tokens = 0
            [matching]
            base_currency = "XYZ"
            "#,
        ) {
            Err(SettingsError(p)) => p.join("\n"),
            Ok(_) => panic!("values that do not parse were accepted"),
        };
        // One problem per section that does not parse, all in one message.
        assert!(problems.contains("proxy.internal"), "{problems}");
        assert!(problems.contains("max_tokens"), "{problems}");
        assert!(problems.contains("XYZ"), "{problems}");
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
