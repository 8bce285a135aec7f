//! Talent groups: talents create them, owners and admins invite and remove, invitees accept,
//! members leave. The owner hands over ownership (or deletes the group) instead of leaving.
//! Changes to one group serialize on its row lock.

use super::{events, signed_in, AppState, Viewer};
use crate::db::models::{Membership, TalentGroup};
use crate::db::{self, PgConn};
use crate::domain::ids::*;
use crate::domain::{values, GroupRole, MembershipStatus, Role};
use crate::errors::{AppError, AppResult};
use anyhow::Context;
use chrono::Utc;
use diesel_async::AsyncConnection;

pub async fn create(
    state: &AppState,
    viewer: Option<Viewer>,
    name: &str,
    description: Option<String>,
) -> AppResult<TalentGroup> {
    let viewer = signed_in(viewer)?;
    if viewer.role != Role::Talent {
        return Err(AppError::forbidden("talent groups are created by talents"));
    }
    let name = values::text("name", name, 100)?;
    let description = values::optional_text("description", description.as_deref(), 2000)?;
    let mut conn = state.conn().await?;
    if !db::profiles::talent_exists(&mut conn, viewer.user_id)
        .await
        .context("profiles::talent_exists")?
    {
        return Err(AppError::conflict(
            "create your talent profile before creating a group",
        ));
    }
    conn.transaction::<_, AppError, _>(async |c| {
        let group = db::groups::insert_group(
            c,
            GroupId::generate(),
            &name,
            description.as_deref(),
            viewer.user_id,
        )
        .await
        .context("groups::insert_group")?;
        let now = Utc::now();
        db::groups::insert_membership(
            c,
            &Membership {
                group_id: group.id,
                talent_id: viewer.user_id,
                role: GroupRole::Owner,
                status: MembershipStatus::Active,
                invited_by: None,
                invited_at: now,
                joined_at: Some(now),
            },
        )
        .await
        .context("groups::insert_membership")?;
        Ok(group)
    })
    .await
}

/// The caller's active membership in a locked group, or NOT_FOUND when they are not in it.
async fn locked_group_as(
    conn: &mut PgConn,
    viewer: &Viewer,
    group_id: GroupId,
) -> AppResult<(TalentGroup, Option<Membership>)> {
    let group = db::groups::lock_group(conn, group_id)
        .await
        .context("groups::lock_group")?
        .ok_or(AppError::NotFound("group"))?;
    let me = db::groups::membership(conn, group_id, viewer.user_id)
        .await
        .context("groups::membership")?;
    if me.is_none() && !viewer.is_admin() {
        return Err(AppError::NotFound("group"));
    }
    Ok((group, me))
}

/// Locks the group and reads the caller's own membership (or invitation).
async fn locked_own_membership(
    conn: &mut PgConn,
    group_id: GroupId,
    talent_id: UserId,
    missing: &'static str,
) -> AppResult<(TalentGroup, Membership)> {
    let group = db::groups::lock_group(conn, group_id)
        .await
        .context("groups::lock_group")?
        .ok_or(AppError::NotFound("group"))?;
    let me = db::groups::membership(conn, group_id, talent_id)
        .await
        .context("groups::membership")?
        .ok_or(AppError::NotFound(missing))?;
    Ok((group, me))
}

fn role_of(me: &Option<Membership>) -> Option<GroupRole> {
    me.as_ref()
        .filter(|m| m.status == MembershipStatus::Active)
        .map(|m| m.role)
}

pub async fn invite(
    state: &AppState,
    viewer: Option<Viewer>,
    group_id: GroupId,
    talent_id: UserId,
) -> AppResult<Membership> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let (group, me) = locked_group_as(c, &viewer, group_id).await?;
        if !matches!(role_of(&me), Some(GroupRole::Owner | GroupRole::Admin)) {
            return Err(AppError::forbidden(
                "only the group's owner and admins invite",
            ));
        }
        if !db::profiles::talent_exists(c, talent_id)
            .await
            .context("profiles::talent_exists")?
        {
            return Err(AppError::NotFound("talent"));
        }
        // The group's row is locked: the count cannot change under us.
        let cap = state.settings.groups.max_members;
        if db::groups::headcount(c, group_id)
            .await
            .context("groups::headcount")?
            >= cap as i64
        {
            return Err(AppError::conflict(format!(
                "a group holds at most {cap} members and invitations"
            )));
        }
        let invitation = db::groups::insert_membership(
            c,
            &Membership {
                group_id,
                talent_id,
                role: GroupRole::Member,
                status: MembershipStatus::Invited,
                invited_by: Some(viewer.user_id),
                invited_at: Utc::now(),
                joined_at: None,
            },
        )
        .await
        .context("groups::insert_membership")?
        .ok_or_else(|| AppError::conflict("this talent is already a member or invited"))?;
        events::group_membership_changed(
            c,
            events::Membership::Invited,
            group_id,
            talent_id,
            group.owner_id,
        )
        .await?;
        Ok(invitation)
    })
    .await
}

pub async fn accept(
    state: &AppState,
    viewer: Option<Viewer>,
    group_id: GroupId,
) -> AppResult<Membership> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let (group, me) = locked_own_membership(c, group_id, viewer.user_id, "invitation").await?;
        if me.status == MembershipStatus::Active {
            return Err(AppError::conflict("you are already a member of this group"));
        }
        events::group_membership_changed(
            c,
            events::Membership::Joined,
            group_id,
            viewer.user_id,
            group.owner_id,
        )
        .await?;
        Ok(
            db::groups::activate(c, group_id, viewer.user_id, Utc::now())
                .await
                .context("groups::activate")?,
        )
    })
    .await
}

/// Leaves a group, or declines an invitation.
pub async fn leave(state: &AppState, viewer: Option<Viewer>, group_id: GroupId) -> AppResult<bool> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let (_, me) = locked_own_membership(c, group_id, viewer.user_id, "group").await?;
        if me.role == GroupRole::Owner {
            return Err(AppError::conflict(
                "the owner cannot leave; transfer ownership or delete the group",
            ));
        }
        Ok(db::groups::delete_membership(c, group_id, viewer.user_id)
            .await
            .context("groups::delete_membership")?
            == 1)
    })
    .await
}

/// Removes a member or withdraws an invitation. Owners remove anyone else; admins remove
/// members and invitations only.
pub async fn remove(
    state: &AppState,
    viewer: Option<Viewer>,
    group_id: GroupId,
    talent_id: UserId,
) -> AppResult<bool> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let (_, me) = locked_group_as(c, &viewer, group_id).await?;
        let target = db::groups::membership(c, group_id, talent_id)
            .await
            .context("groups::membership")?
            .ok_or(AppError::NotFound("member"))?;
        let allowed = match (role_of(&me), target.role) {
            (_, GroupRole::Owner) => false,
            (Some(GroupRole::Owner), _) => true,
            (Some(GroupRole::Admin), GroupRole::Member) => true,
            _ => viewer.is_admin(),
        };
        if !allowed {
            return Err(AppError::forbidden(if target.role == GroupRole::Owner {
                "the owner cannot be removed"
            } else {
                "you cannot remove this member"
            }));
        }
        Ok(db::groups::delete_membership(c, group_id, talent_id)
            .await
            .context("groups::delete_membership")?
            == 1)
    })
    .await
}

/// Makes an active member an ADMIN or a MEMBER (owner only).
pub async fn set_role(
    state: &AppState,
    viewer: Option<Viewer>,
    group_id: GroupId,
    talent_id: UserId,
    role: GroupRole,
) -> AppResult<Membership> {
    let viewer = signed_in(viewer)?;
    if role == GroupRole::Owner {
        return Err(AppError::bad_input(
            "role",
            "use transferGroupOwnership to change the owner",
        ));
    }
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let (_, me) = locked_group_as(c, &viewer, group_id).await?;
        if role_of(&me) != Some(GroupRole::Owner) {
            return Err(AppError::forbidden("only the owner changes roles"));
        }
        let target = db::groups::membership(c, group_id, talent_id)
            .await
            .context("groups::membership")?
            .ok_or(AppError::NotFound("member"))?;
        if target.role == GroupRole::Owner {
            return Err(AppError::conflict(
                "transfer ownership to change the owner's role",
            ));
        }
        if target.status != MembershipStatus::Active {
            return Err(AppError::conflict(
                "the invitation has not been accepted yet",
            ));
        }
        Ok(db::groups::set_role(c, group_id, talent_id, role)
            .await
            .context("groups::set_role")?)
    })
    .await
}

/// Hands the group to an active member; the old owner becomes an ADMIN.
pub async fn transfer(
    state: &AppState,
    viewer: Option<Viewer>,
    group_id: GroupId,
    talent_id: UserId,
) -> AppResult<TalentGroup> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let (group, me) = locked_group_as(c, &viewer, group_id).await?;
        if role_of(&me) != Some(GroupRole::Owner) {
            return Err(AppError::forbidden("only the owner hands over the group"));
        }
        let target = db::groups::membership(c, group_id, talent_id)
            .await
            .context("groups::membership")?
            .ok_or(AppError::NotFound("member"))?;
        if target.status != MembershipStatus::Active || target.talent_id == viewer.user_id {
            return Err(AppError::conflict(
                "ownership goes to another active member",
            ));
        }
        // The one-owner index forbids two owners even for a moment: demote first.
        db::groups::set_role(c, group_id, viewer.user_id, GroupRole::Admin)
            .await
            .context("groups::set_role")?;
        db::groups::set_role(c, group_id, talent_id, GroupRole::Owner)
            .await
            .context("groups::set_role")?;
        db::groups::set_owner(c, group_id, talent_id)
            .await
            .context("groups::set_owner")?;
        Ok(TalentGroup {
            owner_id: talent_id,
            ..group
        })
    })
    .await
}

pub async fn delete(
    state: &AppState,
    viewer: Option<Viewer>,
    group_id: GroupId,
) -> AppResult<bool> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    conn.transaction::<_, AppError, _>(async |c| {
        let (group, _) = locked_group_as(c, &viewer, group_id).await?;
        if group.owner_id != viewer.user_id && !viewer.is_admin() {
            return Err(AppError::forbidden("only the owner deletes the group"));
        }
        Ok(db::groups::delete_group(c, group_id)
            .await
            .context("groups::delete_group")?
            == 1)
    })
    .await
}

/// A group as its members (and invitees, and admins) see it; others get nothing.
pub async fn find(
    state: &AppState,
    viewer: Option<Viewer>,
    group_id: GroupId,
) -> AppResult<Option<TalentGroup>> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    let Some(group) = db::groups::find_group(&mut conn, group_id)
        .await
        .context("groups::find_group")?
    else {
        return Ok(None);
    };
    if viewer.is_admin()
        || db::groups::membership(&mut conn, group_id, viewer.user_id)
            .await
            .context("groups::membership")?
            .is_some()
    {
        Ok(Some(group))
    } else {
        Ok(None)
    }
}

pub async fn mine(state: &AppState, viewer: Option<Viewer>) -> AppResult<Vec<TalentGroup>> {
    let viewer = signed_in(viewer)?;
    let mut conn = state.conn().await?;
    Ok(db::groups::groups_of(&mut conn, viewer.user_id)
        .await
        .context("groups::groups_of")?)
}
