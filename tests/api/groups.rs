//! Talent groups: creating, inviting, accepting, leaving and removing, with the role rules
//! (owner, group admins, members), visibility to outsiders, and the ownership mutations.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, spawn_app, TestApp, TestUser,
};
use serde_json::{json, Value};
use uuid::Uuid;

async fn create_group(app: &TestApp, owner: &TestUser, name: &str) -> Value {
    app.gql(
        r#"mutation($n: String!, $d: String) { createTalentGroup(name: $n, description: $d) {
            id name description owner { id } members { talent { id } role status joinedAt }
        } }"#,
        json!({ "n": name, "d": "Improv troupe" }),
        Some(&owner.access_token),
    )
    .await
}

async fn group_id(app: &TestApp, owner: &TestUser) -> Uuid {
    let body = create_group(app, owner, "The Understudies").await;
    assert_no_errors(&body);
    body["data"]["createTalentGroup"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

async fn invite(app: &TestApp, by: &TestUser, group: Uuid, talent: Uuid) -> Value {
    app.gql(
        "mutation($g: UUID!, $t: UUID!) { inviteToGroup(groupId: $g, talentId: $t) { talent { id } role status joinedAt group { id } } }",
        json!({ "g": group, "t": talent }),
        Some(&by.access_token),
    )
    .await
}

async fn accept(app: &TestApp, by: &TestUser, group: Uuid) -> Value {
    app.gql(
        "mutation($g: UUID!) { acceptGroupInvite(groupId: $g) { talent { id } role status joinedAt } }",
        json!({ "g": group }),
        Some(&by.access_token),
    )
    .await
}

async fn leave(app: &TestApp, by: &TestUser, group: Uuid) -> Value {
    app.gql(
        "mutation($g: UUID!) { leaveGroup(groupId: $g) }",
        json!({ "g": group }),
        Some(&by.access_token),
    )
    .await
}

async fn remove(app: &TestApp, by: &TestUser, group: Uuid, talent: Uuid) -> Value {
    app.gql(
        "mutation($g: UUID!, $t: UUID!) { removeGroupMember(groupId: $g, talentId: $t) }",
        json!({ "g": group, "t": talent }),
        Some(&by.access_token),
    )
    .await
}

async fn set_role(app: &TestApp, by: &TestUser, group: Uuid, talent: Uuid, role: &str) -> Value {
    app.gql(
        "mutation($g: UUID!, $t: UUID!, $r: GroupRole!) { setGroupMemberRole(groupId: $g, talentId: $t, role: $r) { __typename } }",
        json!({ "g": group, "t": talent, "r": role }),
        Some(&by.access_token),
    )
    .await
}

async fn transfer(app: &TestApp, by: &TestUser, group: Uuid, talent: Uuid) -> Value {
    app.gql(
        "mutation($g: UUID!, $t: UUID!) { transferGroupOwnership(groupId: $g, talentId: $t) { __typename } }",
        json!({ "g": group, "t": talent }),
        Some(&by.access_token),
    )
    .await
}

async fn delete_group(app: &TestApp, by: &TestUser, group: Uuid) -> Value {
    app.gql(
        "mutation($g: UUID!) { deleteTalentGroup(groupId: $g) }",
        json!({ "g": group }),
        Some(&by.access_token),
    )
    .await
}

/// The group as `viewer` sees it (null when invisible).
async fn group(app: &TestApp, viewer: &TestUser, id: Uuid) -> Value {
    let data = app
        .gql_ok(
            "query($id: UUID!) { group(id: $id) { id name owner { id } members { talent { id } role status } } }",
            json!({ "id": id }),
            Some(&viewer.access_token),
        )
        .await;
    data["group"].clone()
}

/// `talent id -> (role, status)` of every membership, as `viewer` sees them.
async fn members(app: &TestApp, viewer: &TestUser, id: Uuid) -> Vec<(String, String, String)> {
    let group = group(app, viewer, id).await;
    let mut members: Vec<(String, String, String)> = group["members"]
        .as_array()
        .unwrap_or_else(|| panic!("group {id} not visible: {group:#}"))
        .iter()
        .map(|m| {
            (
                m["talent"]["id"].as_str().expect("id").to_string(),
                m["role"].as_str().expect("role").to_string(),
                m["status"].as_str().expect("status").to_string(),
            )
        })
        .collect();
    members.sort();
    members
}

fn row(user: &TestUser, role: &str, status: &str) -> (String, String, String) {
    (user.id.to_string(), role.to_string(), status.to_string())
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// `owner` invites `talent` to `group`, and `talent` accepts.
async fn add_active_member(app: &TestApp, owner: &TestUser, group: Uuid, talent: &TestUser) {
    assert_no_errors(&invite(app, owner, group, talent.id).await);
    assert_no_errors(&accept(app, talent, group).await);
}

/// A group with an owner and one ACTIVE member.
async fn group_with_member(app: &TestApp) -> (Uuid, TestUser, TestUser) {
    let owner = app.talent().await;
    let member = app.talent().await;
    let id = group_id(app, &owner).await;
    add_active_member(app, &owner, id, &member).await;
    (id, owner, member)
}

/// A group with an owner and one talent INVITED to it, who has not accepted.
async fn group_with_invitee(app: &TestApp) -> (Uuid, TestUser, TestUser) {
    let owner = app.talent().await;
    let invitee = app.talent().await;
    let id = group_id(app, &owner).await;
    assert_no_errors(&invite(app, &owner, id, invitee.id).await);
    (id, owner, invitee)
}

/// The `myGroups` list of `user`.
async fn my_groups(app: &TestApp, user: &TestUser) -> Value {
    let data = app
        .gql_ok(
            "query { myGroups { id } }",
            json!({}),
            Some(&user.access_token),
        )
        .await;
    data["myGroups"].clone()
}

#[actix_web::test]
async fn creating_a_group_makes_the_creator_its_active_owner() {
    let app = spawn_app().await;
    let owner = app.talent().await;

    let body = create_group(&app, &owner, "The Understudies").await;

    assert_no_errors(&body);
    let group = &body["data"]["createTalentGroup"];
    assert_eq!(group["name"], "The Understudies");
    assert_eq!(group["description"], "Improv troupe");
    assert_eq!(group["owner"]["id"], owner.id.to_string());
    assert_eq!(group["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(group["members"][0]["talent"]["id"], owner.id.to_string());
    assert_eq!(group["members"][0]["role"], "OWNER");
    assert_eq!(group["members"][0]["status"], "ACTIVE");
    assert!(group["members"][0]["joinedAt"].is_string());
    assert_eq!(
        my_groups(&app, &owner).await,
        json!([{ "id": group["id"] }])
    );
}

#[actix_web::test]
async fn only_talents_with_a_profile_create_groups_with_a_valid_name() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let bare = app.register("TALENT").await;
    let talent = app.talent().await;

    assert_error(&create_group(&app, &producer, "Nope").await, "FORBIDDEN");
    assert_error(&create_group(&app, &bare, "No profile").await, "CONFLICT");
    assert_bad_input(&create_group(&app, &talent, "").await, "name");
    assert_bad_input(&create_group(&app, &talent, &"g".repeat(101)).await, "name");
    assert_eq!(app.row_count("talent_groups").await, 0);
}

#[actix_web::test]
async fn an_invitation_is_pending_until_accepted() {
    let app = spawn_app().await;
    let owner = app.talent().await;
    let invitee = app.talent().await;
    let id = group_id(&app, &owner).await;

    let invited = invite(&app, &owner, id, invitee.id).await;

    assert_no_errors(&invited);
    let membership = &invited["data"]["inviteToGroup"];
    assert_eq!(membership["status"], "INVITED");
    assert_eq!(membership["role"], "MEMBER");
    assert!(membership["joinedAt"].is_null());
    assert_eq!(membership["group"]["id"], id.to_string());
    assert_eq!(
        members(&app, &invitee, id).await,
        sorted(vec![
            row(&owner, "OWNER", "ACTIVE"),
            row(&invitee, "MEMBER", "INVITED")
        ]),
        "an invitee can see the group it is invited to"
    );

    let accepted = accept(&app, &invitee, id).await;

    assert_no_errors(&accepted);
    assert_eq!(accepted["data"]["acceptGroupInvite"]["status"], "ACTIVE");
    assert!(accepted["data"]["acceptGroupInvite"]["joinedAt"].is_string());
    assert_eq!(
        members(&app, &owner, id).await,
        sorted(vec![
            row(&owner, "OWNER", "ACTIVE"),
            row(&invitee, "MEMBER", "ACTIVE")
        ])
    );
    assert_eq!(
        my_groups(&app, &invitee).await,
        json!([{ "id": id.to_string() }])
    );
}

#[actix_web::test]
async fn inviting_someone_twice_or_an_existing_member_is_a_conflict() {
    let app = spawn_app().await;
    let (id, owner, member) = group_with_member(&app).await;
    let invitee = app.talent().await;
    assert_no_errors(&invite(&app, &owner, id, invitee.id).await);

    assert_error(&invite(&app, &owner, id, invitee.id).await, "CONFLICT");
    assert_error(&invite(&app, &owner, id, member.id).await, "CONFLICT");
    assert_error(&invite(&app, &owner, id, owner.id).await, "CONFLICT");
}

#[actix_web::test]
async fn inviting_someone_who_is_not_a_talent_is_not_found() {
    let app = spawn_app().await;
    let owner = app.talent().await;
    let producer = app.producer().await;
    let id = group_id(&app, &owner).await;

    assert_error(&invite(&app, &owner, id, Uuid::new_v4()).await, "NOT_FOUND");
    assert_error(&invite(&app, &owner, id, producer.id).await, "NOT_FOUND");
}

#[actix_web::test]
async fn accepting_without_an_invitation_is_not_found_and_accepting_twice_a_conflict() {
    let app = spawn_app().await;
    let (id, _, member) = group_with_member(&app).await;
    let stranger = app.talent().await;

    assert_error(&accept(&app, &stranger, id).await, "NOT_FOUND");
    assert_error(&accept(&app, &member, id).await, "CONFLICT");
}

#[actix_web::test]
async fn a_plain_member_cannot_invite_but_a_group_admin_can() {
    let app = spawn_app().await;
    let (id, owner, member) = group_with_member(&app).await;
    let candidate = app.talent().await;

    assert_error(&invite(&app, &member, id, candidate.id).await, "FORBIDDEN");
    assert_no_errors(&set_role(&app, &owner, id, member.id, "ADMIN").await);
    assert_no_errors(&invite(&app, &member, id, candidate.id).await);

    assert!(members(&app, &owner, id).await.contains(&(
        candidate.id.to_string(),
        "MEMBER".into(),
        "INVITED".into()
    )));
}

#[actix_web::test]
async fn an_invitee_cannot_invite_others() {
    let app = spawn_app().await;
    let (id, _, invitee) = group_with_invitee(&app).await;
    let candidate = app.talent().await;

    assert_error(&invite(&app, &invitee, id, candidate.id).await, "FORBIDDEN");
}

#[actix_web::test]
async fn a_group_is_invisible_to_outsiders_but_visible_to_admin_users() {
    let app = spawn_app().await;
    let (id, _, _) = group_with_member(&app).await;
    let outsider = app.talent().await;
    let producer = app.producer().await;
    let admin = app.admin().await;

    assert!(group(&app, &outsider, id).await.is_null());
    assert!(group(&app, &producer, id).await.is_null());
    assert_eq!(group(&app, &admin, id).await["id"], id.to_string());
    assert_eq!(my_groups(&app, &outsider).await, json!([]));
}

#[actix_web::test]
async fn a_member_can_leave_and_then_no_longer_sees_the_group() {
    let app = spawn_app().await;
    let (id, owner, member) = group_with_member(&app).await;

    let body = leave(&app, &member, id).await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["leaveGroup"], true);
    assert!(group(&app, &member, id).await.is_null());
    assert_eq!(members(&app, &owner, id).await, vec![member_of(&owner)]);
    assert_error(&leave(&app, &member, id).await, "NOT_FOUND");
}

fn member_of(owner: &TestUser) -> (String, String, String) {
    row(owner, "OWNER", "ACTIVE")
}

#[actix_web::test]
async fn an_invitee_can_decline_by_leaving() {
    let app = spawn_app().await;
    let (id, owner, invitee) = group_with_invitee(&app).await;

    let body = leave(&app, &invitee, id).await;

    assert_eq!(body["data"]["leaveGroup"], true, "{body:#}");
    assert_eq!(members(&app, &owner, id).await, vec![member_of(&owner)]);
}

#[actix_web::test]
async fn the_owner_cannot_leave_its_group() {
    let app = spawn_app().await;
    let (id, owner, _) = group_with_member(&app).await;

    let body = leave(&app, &owner, id).await;

    assert_error(&body, "CONFLICT");
    assert!(members(&app, &owner, id).await.contains(&member_of(&owner)));
}

#[actix_web::test]
async fn the_owner_removes_members_and_plain_members_cannot_remove_anyone() {
    let app = spawn_app().await;
    let (id, owner, member) = group_with_member(&app).await;
    let other = app.talent().await;
    add_active_member(&app, &owner, id, &other).await;

    assert_error(&remove(&app, &member, id, other.id).await, "FORBIDDEN");
    assert_error(&remove(&app, &member, id, owner.id).await, "FORBIDDEN");
    let removed = remove(&app, &owner, id, other.id).await;

    assert_no_errors(&removed);
    assert_eq!(removed["data"]["removeGroupMember"], true);
    assert_eq!(
        members(&app, &owner, id).await,
        sorted(vec![member_of(&owner), row(&member, "MEMBER", "ACTIVE")])
    );
    assert!(group(&app, &other, id).await.is_null());
}

#[actix_web::test]
async fn a_group_admin_removes_members_and_invites_but_not_the_owner_or_other_admins() {
    let app = spawn_app().await;
    let (id, owner, admin_member) = group_with_member(&app).await;
    let (plain, other_admin, invitee) =
        (app.talent().await, app.talent().await, app.talent().await);
    for talent in [&plain, &other_admin] {
        add_active_member(&app, &owner, id, talent).await;
    }
    assert_no_errors(&invite(&app, &owner, id, invitee.id).await);
    assert_no_errors(&set_role(&app, &owner, id, admin_member.id, "ADMIN").await);
    assert_no_errors(&set_role(&app, &owner, id, other_admin.id, "ADMIN").await);

    assert_error(
        &remove(&app, &admin_member, id, owner.id).await,
        "FORBIDDEN",
    );
    assert_error(
        &remove(&app, &admin_member, id, other_admin.id).await,
        "FORBIDDEN",
    );
    assert_no_errors(&remove(&app, &admin_member, id, plain.id).await);
    assert_no_errors(&remove(&app, &admin_member, id, invitee.id).await);

    assert_eq!(
        members(&app, &owner, id).await,
        sorted(vec![
            member_of(&owner),
            row(&admin_member, "ADMIN", "ACTIVE"),
            row(&other_admin, "ADMIN", "ACTIVE"),
        ])
    );
}

#[actix_web::test]
async fn removing_someone_who_is_not_a_member_is_not_found() {
    let app = spawn_app().await;
    let (id, owner, _) = group_with_member(&app).await;
    let stranger = app.talent().await;

    assert_error(&remove(&app, &owner, id, stranger.id).await, "NOT_FOUND");
}

#[actix_web::test]
async fn only_the_owner_sets_member_roles() {
    let app = spawn_app().await;
    let (id, owner, member) = group_with_member(&app).await;
    let other = app.talent().await;
    add_active_member(&app, &owner, id, &other).await;
    assert_no_errors(&set_role(&app, &owner, id, member.id, "ADMIN").await);

    // Even a group admin may not hand out roles.
    assert_error(
        &set_role(&app, &member, id, other.id, "ADMIN").await,
        "FORBIDDEN",
    );
    assert_error(
        &set_role(&app, &other, id, other.id, "ADMIN").await,
        "FORBIDDEN",
    );
    assert_no_errors(&set_role(&app, &owner, id, member.id, "MEMBER").await);

    assert_eq!(
        members(&app, &owner, id).await,
        sorted(vec![
            member_of(&owner),
            row(&member, "MEMBER", "ACTIVE"),
            row(&other, "MEMBER", "ACTIVE"),
        ])
    );
}

#[actix_web::test]
async fn the_owner_can_hand_over_ownership_and_then_leave() {
    let app = spawn_app().await;
    let (id, owner, member) = group_with_member(&app).await;

    let body = transfer(&app, &owner, id, member.id).await;

    assert_no_errors(&body);
    let seen = group(&app, &member, id).await;
    assert_eq!(seen["owner"]["id"], member.id.to_string());
    let roles = members(&app, &member, id).await;
    assert!(
        roles.contains(&(member.id.to_string(), "OWNER".into(), "ACTIVE".into())),
        "{roles:?}"
    );
    assert_eq!(
        roles.iter().filter(|(_, role, _)| role == "OWNER").count(),
        1,
        "one owner only: {roles:?}"
    );
    assert_eq!(leave(&app, &owner, id).await["data"]["leaveGroup"], true);
    assert_error(&leave(&app, &member, id).await, "CONFLICT");
}

#[actix_web::test]
async fn ownership_goes_only_from_the_owner_to_an_active_member() {
    let app = spawn_app().await;
    let (id, owner, member) = group_with_member(&app).await;
    let invitee = app.talent().await;
    assert_no_errors(&invite(&app, &owner, id, invitee.id).await);

    assert_error(&transfer(&app, &member, id, member.id).await, "FORBIDDEN");
    assert_error(&transfer(&app, &owner, id, invitee.id).await, "CONFLICT");

    assert_eq!(
        group(&app, &owner, id).await["owner"]["id"],
        owner.id.to_string()
    );
}

#[actix_web::test]
async fn only_the_owner_deletes_a_group() {
    let app = spawn_app().await;
    let (id, owner, member) = group_with_member(&app).await;

    assert_error(&delete_group(&app, &member, id).await, "FORBIDDEN");
    let body = delete_group(&app, &owner, id).await;

    assert_no_errors(&body);
    assert!(group(&app, &owner, id).await.is_null());
    assert!(group(&app, &member, id).await.is_null());
    assert_eq!(app.row_count("talent_groups").await, 0);
}

#[actix_web::test]
async fn the_owner_cannot_remove_itself() {
    let app = spawn_app().await;
    let (id, owner, _) = group_with_member(&app).await;

    let body = remove(&app, &owner, id, owner.id).await;

    let code = body["errors"][0]["extensions"]["code"].as_str();
    assert!(
        matches!(code, Some("CONFLICT") | Some("FORBIDDEN")),
        "{body:#}"
    );
    assert_eq!(
        group(&app, &owner, id).await["owner"]["id"],
        owner.id.to_string()
    );
    assert!(members(&app, &owner, id).await.contains(&member_of(&owner)));
}
