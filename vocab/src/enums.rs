//! The domain's enums, declared once: the same names in SQL, GraphQL and JSON (SCREAMING_SNAKE
//! text everywhere), and the matching model's factors and verdicts.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The PostgreSQL enum types the SQL-mapped enums are stored as (feature `diesel`).
#[cfg(feature = "diesel")]
pub mod sql {
    use diesel::query_builder::QueryId;
    use diesel::sql_types::SqlType;

    macro_rules! pg_types {
        ($($sql:ident => $pg:literal),+ $(,)?) => {
            $(
                #[derive(SqlType, QueryId, Debug, Clone, Copy)]
                #[diesel(postgres_type(name = $pg))]
                pub struct $sql;
            )+
        };
    }

    pg_types!(
        UserRole => "user_role",
        AuthProvider => "auth_provider",
        UnionStatus => "union_status",
        ProductionType => "production_type",
        JobStatus => "job_status",
        ApplicationStage => "application_stage",
        GroupRole => "group_role",
        MembershipStatus => "membership_status",
        AccountTokenPurpose => "account_token_purpose",
    );

    /// Implements diesel's conversions between a domain enum and its PostgreSQL enum type.
    macro_rules! pg_enum_mapping {
        ($rust:ty, $sql:ty) => {
            impl diesel::serialize::ToSql<$sql, diesel::pg::Pg> for $rust {
                fn to_sql<'b>(
                    &'b self,
                    out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
                ) -> diesel::serialize::Result {
                    use std::io::Write;
                    out.write_all(self.as_str().as_bytes())?;
                    Ok(diesel::serialize::IsNull::No)
                }
            }
            impl diesel::deserialize::FromSql<$sql, diesel::pg::Pg> for $rust {
                fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                    let text = std::str::from_utf8(value.as_bytes())?;
                    <$rust>::parse(text).ok_or_else(|| {
                        format!("unexpected {} value `{text}`", stringify!($rust)).into()
                    })
                }
            }
        };
    }
    pub(crate) use pg_enum_mapping;
}

/// Declares a domain enum once, with its GraphQL (feature `graphql`) and JSON mappings and, when
/// a SQL type is named, its PostgreSQL enum mapping (feature `diesel`).
macro_rules! domain_enum {
    ($(#[$meta:meta])* $name:ident $(=> $sql:ident)? {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
        $(
            #[cfg_attr(
                feature = "diesel",
                derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow),
                diesel(sql_type = sql::$sql)
            )]
        )?
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

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

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        $(
            #[cfg(feature = "diesel")]
            sql::pg_enum_mapping!($name, sql::$sql);
        )?
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
    // Ordered BASIC < CONVERSATIONAL < FLUENT < NATIVE (the model compares them).
    #[derive(PartialOrd, Ord)]
    Proficiency {
        Basic = "BASIC", Conversational = "CONVERSATIONAL", Fluent = "FLUENT", Native = "NATIVE",
    }
);
domain_enum!(
    // The kind of production a job casts for (or a talent's work was). No doc comment: the
    // GraphQL schema prints one, and the published schema has none here.
    #[derive(Default)]
    ProductionType => ProductionType {
        Film = "FILM", Tv = "TV", Commercial = "COMMERCIAL", Theatre = "THEATRE", Voice = "VOICE",
        MusicVideo = "MUSIC_VIDEO", Modeling = "MODELING", #[default] Other = "OTHER",
    }
);
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

impl ProductionType {
    /// Words that name this type in free text (a dream gig of "a West End theatre show" names
    /// THEATRE); none for OTHER.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            ProductionType::Film => &["film", "movie", "cinema"],
            ProductionType::Tv => &["tv", "television", "series"],
            ProductionType::Commercial => &["commercial", "advert"],
            ProductionType::Theatre => &["theatre", "stage"],
            ProductionType::Voice => &["voice"],
            ProductionType::MusicVideo => &["music", "video"],
            ProductionType::Modeling => &["modeling"],
            ProductionType::Other => &[],
        }
    }
}

/// The matching model's nine factors, in the order of `Factor::ALL` (and of the model's
/// weights and scored factors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Factor {
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

impl Factor {
    pub const ALL: [Factor; 9] = [
        Factor::SalaryAlignment,
        Factor::WorkAuthorization,
        Factor::PhysicalAttributes,
        Factor::NotableWorks,
        Factor::ProductionExperience,
        Factor::Awards,
        Factor::DreamGig,
        Factor::Languages,
        Factor::Availability,
    ];

    /// "SALARY_ALIGNMENT", "WORK_AUTHORIZATION", …
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::SalaryAlignment => "SALARY_ALIGNMENT",
            Factor::WorkAuthorization => "WORK_AUTHORIZATION",
            Factor::PhysicalAttributes => "PHYSICAL_ATTRIBUTES",
            Factor::NotableWorks => "NOTABLE_WORKS",
            Factor::ProductionExperience => "PRODUCTION_EXPERIENCE",
            Factor::Awards => "AWARDS",
            Factor::DreamGig => "DREAM_GIG",
            Factor::Languages => "LANGUAGES",
            Factor::Availability => "AVAILABILITY",
        }
    }

    pub fn parse(s: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Position in `Factor::ALL`.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a factor came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Match,
    Partial,
    NoMatch,
    /// Nothing to compare: left out of the total.
    NoData,
}

impl Verdict {
    /// "MATCH", "PARTIAL", "NO_MATCH", "NO_DATA".
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "MATCH",
            Verdict::Partial => "PARTIAL",
            Verdict::NoMatch => "NO_MATCH",
            Verdict::NoData => "NO_DATA",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
