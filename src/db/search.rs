//! What talent search reads from PostgreSQL: the texts its lexical index holds (stage name,
//! headline, bio and notable works), a page at a time when the index is built and by id when a
//! profile changes. The lexical lists themselves are answered by the index
//! (`clients::lexical`); the tables the SQL lists used (`search_words`, `talent_words`,
//! `talent_name_codes`) are still kept by their triggers, and their migrations stay reversible.

use super::PgConn;
use crate::domain::ids::UserId;
use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

/// What the lexical index holds of a talent, as stored.
#[derive(Debug, QueryableByName)]
pub struct TalentTextRow {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: UserId,
    #[diesel(sql_type = Text)]
    pub stage_name: String,
    #[diesel(sql_type = Text)]
    pub headline: String,
    /// The bio and the notable works' strings (titles, roles, production types).
    #[diesel(sql_type = Text)]
    pub about: String,
}

const TALENT_TEXT: &str = "SELECT user_id, stage_name, coalesce(headline, '') AS headline,
        concat_ws(E'\\n', coalesce(bio, ''), (
            SELECT string_agg(w #>> '{}', ' ')
            FROM jsonb_path_query(notable_works, 'strict $.**') AS w
            WHERE jsonb_typeof(w) = 'string')) AS about
    FROM talent_profiles";

/// Up to `limit` talents' texts with ids after `after`, in id order.
pub async fn talent_texts_after(
    conn: &mut PgConn,
    after: Option<UserId>,
    limit: i64,
) -> diesel::QueryResult<Vec<TalentTextRow>> {
    diesel::sql_query(format!(
        "{TALENT_TEXT} WHERE $1::uuid IS NULL OR user_id > $1 ORDER BY user_id LIMIT $2"
    ))
    .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// The texts of the talents among `ids` that have a profile.
pub async fn talent_texts(
    conn: &mut PgConn,
    ids: &[UserId],
) -> diesel::QueryResult<Vec<TalentTextRow>> {
    diesel::sql_query(format!("{TALENT_TEXT} WHERE user_id = ANY($1)"))
        .bind::<Array<SqlUuid>, _>(ids)
        .load(conn)
        .await
}
