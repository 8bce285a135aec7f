//! PostgreSQL enum types and their mapping to the domain enums (text on the wire).

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
