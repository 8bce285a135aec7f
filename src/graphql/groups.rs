//! Talent groups and memberships.

use super::loaders::load_error;
use super::users::UserNode;
use super::{loaders, state, viewer};
use crate::db::models::{Membership, TalentGroup, TalentProfile};
use crate::domain::ids::*;
use crate::domain::{GroupRole, MembershipStatus};
use crate::errors::AppError;
use crate::services::groups;
use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

#[Object]
impl Membership {
    async fn group(&self, ctx: &Context<'_>) -> Result<TalentGroup> {
        loaders(ctx)
            .groups
            .load_one(self.group_id)
            .await
            .map_err(load_error)?
            .ok_or_else(|| AppError::NotFound("group").into())
    }
    async fn talent(&self, ctx: &Context<'_>) -> Result<TalentProfile> {
        loaders(ctx)
            .talents
            .load_one(self.talent_id)
            .await
            .map_err(load_error)?
            .ok_or_else(|| AppError::NotFound("talent").into())
    }
    async fn role(&self) -> GroupRole {
        self.role
    }
    async fn status(&self) -> MembershipStatus {
        self.status
    }
    /// When the invitation was accepted; null while invited.
    async fn joined_at(&self) -> Option<DateTime<Utc>> {
        self.joined_at
    }
}

#[Object]
impl TalentGroup {
    async fn id(&self) -> GroupId {
        self.id
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<UserNode> {
        loaders(ctx)
            .users
            .load_one(self.owner_id)
            .await
            .map_err(load_error)?
            .map(UserNode::from)
            .ok_or_else(|| AppError::NotFound("user").into())
    }
    /// Members and open invitations: the owner first, then admins, then members.
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<Membership>> {
        Ok(loaders(ctx)
            .members
            .load_one(self.id)
            .await
            .map_err(load_error)?
            .unwrap_or_default())
    }
}

#[derive(Default)]
pub struct GroupQuery;

#[Object]
impl GroupQuery {
    /// Groups the signed-in talent belongs or is invited to.
    async fn my_groups(&self, ctx: &Context<'_>) -> Result<Vec<TalentGroup>> {
        Ok(groups::mine(state(ctx), viewer(ctx)).await?)
    }

    /// A group, for its members, invitees and admins; null for anyone else.
    async fn group(&self, ctx: &Context<'_>, id: GroupId) -> Result<Option<TalentGroup>> {
        Ok(groups::find(state(ctx), viewer(ctx), id).await?)
    }
}

#[derive(Default)]
pub struct GroupMutation;

#[Object]
impl GroupMutation {
    /// Creates a group owned by the signed-in talent.
    async fn create_talent_group(
        &self,
        ctx: &Context<'_>,
        name: String,
        description: Option<String>,
    ) -> Result<TalentGroup> {
        Ok(groups::create(state(ctx), viewer(ctx), &name, description).await?)
    }

    /// The owner and group admins invite talents.
    async fn invite_to_group(
        &self,
        ctx: &Context<'_>,
        group_id: GroupId,
        talent_id: UserId,
    ) -> Result<Membership> {
        Ok(groups::invite(state(ctx), viewer(ctx), group_id, talent_id).await?)
    }

    async fn accept_group_invite(
        &self,
        ctx: &Context<'_>,
        group_id: GroupId,
    ) -> Result<Membership> {
        Ok(groups::accept(state(ctx), viewer(ctx), group_id).await?)
    }

    /// Leaves a group or declines an invitation. The owner hands over or deletes instead.
    async fn leave_group(&self, ctx: &Context<'_>, group_id: GroupId) -> Result<bool> {
        Ok(groups::leave(state(ctx), viewer(ctx), group_id).await?)
    }

    /// The owner removes anyone else; group admins remove members and invitations.
    async fn remove_group_member(
        &self,
        ctx: &Context<'_>,
        group_id: GroupId,
        talent_id: UserId,
    ) -> Result<bool> {
        Ok(groups::remove(state(ctx), viewer(ctx), group_id, talent_id).await?)
    }

    /// The owner makes an active member an ADMIN or a MEMBER.
    async fn set_group_member_role(
        &self,
        ctx: &Context<'_>,
        group_id: GroupId,
        talent_id: UserId,
        role: GroupRole,
    ) -> Result<Membership> {
        Ok(groups::set_role(state(ctx), viewer(ctx), group_id, talent_id, role).await?)
    }

    /// The owner hands the group to an active member and becomes an ADMIN.
    async fn transfer_group_ownership(
        &self,
        ctx: &Context<'_>,
        group_id: GroupId,
        talent_id: UserId,
    ) -> Result<TalentGroup> {
        Ok(groups::transfer(state(ctx), viewer(ctx), group_id, talent_id).await?)
    }

    /// The owner deletes the group and every membership.
    async fn delete_talent_group(&self, ctx: &Context<'_>, group_id: GroupId) -> Result<bool> {
        Ok(groups::delete(state(ctx), viewer(ctx), group_id).await?)
    }
}
