//! The casting domain: the enums every layer shares, the pipeline and job rules, and the parsed
//! value types that make invalid input impossible past the edge. Pure code, no I/O.

pub mod ids;
pub mod jobs;
pub mod pipeline;
pub mod profiles;
pub mod values;

use crate::db::types as sql;
use serde::{Deserialize, Serialize};

/// Declares a domain enum once, with its GraphQL and JSON mappings derived and, when a SQL type
/// is named, its PostgreSQL enum mapping.
macro_rules! domain_enum {
    ($(#[$meta:meta])* $name:ident $(=> $sql:ident)? { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum,
        )]
        $(#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)] #[diesel(sql_type = sql::$sql)])?
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in SQL, GraphQL and JSON alike.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $(sql::pg_enum_mapping!($name, sql::$sql);)?
    };
}

domain_enum!(
    /// What a user is on the platform; ADMIN is granted by operators only.
    Role => UserRole { Talent = "TALENT", Producer = "PRODUCER", Admin = "ADMIN" }
);
domain_enum!(
    /// What a mailed account token proves or allows.
    AccountTokenPurpose => AccountTokenPurpose {
        VerifyEmail = "VERIFY_EMAIL", ResetPassword = "RESET_PASSWORD",
    }
);
domain_enum!(AuthProvider => AuthProvider {
    Google = "GOOGLE", Facebook = "FACEBOOK", Linkedin = "LINKEDIN",
});
domain_enum!(UnionStatus => UnionStatus {
    NonUnion = "NON_UNION", SagAftra = "SAG_AFTRA", Equity = "EQUITY", Other = "OTHER",
});
domain_enum!(
    /// Stored inside JSON documents (language skills), so it has no SQL type of its own.
    Proficiency {
        Basic = "BASIC", Conversational = "CONVERSATIONAL", Fluent = "FLUENT", Native = "NATIVE",
    }
);
domain_enum!(ProductionType => ProductionType {
    Film = "FILM", Tv = "TV", Commercial = "COMMERCIAL", Theatre = "THEATRE", Voice = "VOICE",
    MusicVideo = "MUSIC_VIDEO", Modeling = "MODELING", Other = "OTHER",
});
domain_enum!(
    /// A job's life: DRAFT -> OPEN -> CLOSED / FILLED / CANCELLED (see `jobs`).
    JobStatus => JobStatus {
        Draft = "DRAFT", Open = "OPEN", Closed = "CLOSED", Filled = "FILLED", Cancelled = "CANCELLED",
    }
);
domain_enum!(
    /// Where an application is in a job's pipeline (see `pipeline` for the moves).
    ApplicationStage => ApplicationStage {
        Applied = "APPLIED", Shortlisted = "SHORTLISTED", Audition = "AUDITION",
        Callback = "CALLBACK", Offered = "OFFERED", Hired = "HIRED", Rejected = "REJECTED",
        Withdrawn = "WITHDRAWN",
    }
);
domain_enum!(GroupRole => GroupRole { Owner = "OWNER", Admin = "ADMIN", Member = "MEMBER" });
domain_enum!(MembershipStatus => MembershipStatus { Invited = "INVITED", Active = "ACTIVE" });
