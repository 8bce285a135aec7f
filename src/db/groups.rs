//! Talent groups and their memberships.

use super::models::{Membership, TalentGroup};
use super::schema::{group_memberships, talent_groups};
use super::PgConn;
use crate::domain::ids::*;
use crate::domain::{GroupRole, MembershipStatus};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::RunQueryDsl;

pub async fn insert_group(
    conn: &mut PgConn,
    id: GroupId,
    name: &str,
    description: Option<&str>,
    owner_id: UserId,
) -> QueryResult<TalentGroup> {
    diesel::insert_into(talent_groups::table)
        .values((
            talent_groups::id.eq(id),
            talent_groups::name.eq(name),
            talent_groups::description.eq(description),
            talent_groups::owner_id.eq(owner_id),
        ))
        .returning(TalentGroup::as_returning())
        .get_result(conn)
        .await
}

pub async fn find_group(conn: &mut PgConn, id: GroupId) -> QueryResult<Option<TalentGroup>> {
    talent_groups::table
        .find(id)
        .select(TalentGroup::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn find_groups(conn: &mut PgConn, ids: &[GroupId]) -> QueryResult<Vec<TalentGroup>> {
    talent_groups::table
        .filter(talent_groups::id.eq_any(ids))
        .select(TalentGroup::as_select())
        .load(conn)
        .await
}

/// Locks the group row: membership changes of one group serialize on it.
pub async fn lock_group(conn: &mut PgConn, id: GroupId) -> QueryResult<Option<TalentGroup>> {
    talent_groups::table
        .find(id)
        .select(TalentGroup::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn delete_group(conn: &mut PgConn, id: GroupId) -> QueryResult<usize> {
    diesel::delete(talent_groups::table.find(id))
        .execute(conn)
        .await
}

pub async fn set_owner(
    conn: &mut PgConn,
    group_id: GroupId,
    owner_id: UserId,
) -> QueryResult<usize> {
    diesel::update(talent_groups::table.find(group_id))
        .set(talent_groups::owner_id.eq(owner_id))
        .execute(conn)
        .await
}

/// Inserts a membership; `Ok(None)` when the talent is already in (or invited to) the group.
pub async fn insert_membership(
    conn: &mut PgConn,
    m: &Membership,
) -> QueryResult<Option<Membership>> {
    match diesel::insert_into(group_memberships::table)
        .values(m)
        .returning(Membership::as_returning())
        .get_result(conn)
        .await
    {
        Ok(m) => Ok(Some(m)),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn membership(
    conn: &mut PgConn,
    group_id: GroupId,
    talent_id: UserId,
) -> QueryResult<Option<Membership>> {
    group_memberships::table
        .find((group_id, talent_id))
        .select(Membership::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn activate(
    conn: &mut PgConn,
    group_id: GroupId,
    talent_id: UserId,
    now: DateTime<Utc>,
) -> QueryResult<Membership> {
    diesel::update(group_memberships::table.find((group_id, talent_id)))
        .set((
            group_memberships::status.eq(MembershipStatus::Active),
            group_memberships::joined_at.eq(now),
        ))
        .returning(Membership::as_returning())
        .get_result(conn)
        .await
}

pub async fn set_role(
    conn: &mut PgConn,
    group_id: GroupId,
    talent_id: UserId,
    role: GroupRole,
) -> QueryResult<Membership> {
    diesel::update(group_memberships::table.find((group_id, talent_id)))
        .set(group_memberships::role.eq(role))
        .returning(Membership::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete_membership(
    conn: &mut PgConn,
    group_id: GroupId,
    talent_id: UserId,
) -> QueryResult<usize> {
    diesel::delete(group_memberships::table.find((group_id, talent_id)))
        .execute(conn)
        .await
}

/// How many members and open invitations a group holds (the owner included).
pub async fn headcount(conn: &mut PgConn, group_id: GroupId) -> QueryResult<i64> {
    group_memberships::table
        .filter(group_memberships::group_id.eq(group_id))
        .count()
        .get_result(conn)
        .await
}

/// Members of each group: owner first, then by role and join time.
pub async fn members_of(conn: &mut PgConn, group_ids: &[GroupId]) -> QueryResult<Vec<Membership>> {
    group_memberships::table
        .filter(group_memberships::group_id.eq_any(group_ids))
        .order((
            group_memberships::group_id,
            group_memberships::role,
            group_memberships::invited_at,
        ))
        .select(Membership::as_select())
        .load(conn)
        .await
}

/// The groups a talent belongs to or is invited to, newest membership first.
pub async fn groups_of(conn: &mut PgConn, talent_id: UserId) -> QueryResult<Vec<TalentGroup>> {
    group_memberships::table
        .inner_join(talent_groups::table)
        .filter(group_memberships::talent_id.eq(talent_id))
        .order(group_memberships::invited_at.desc())
        .select(TalentGroup::as_select())
        .load(conn)
        .await
}
