//! Producers' favorite lists of talents: creating, adding (idempotently), removing, and who may
//! touch which list.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, sorted_ids, sorted_node_ids, spawn_app,
    TestApp, TestUser,
};
use serde_json::{json, Value};
use uuid::Uuid;

async fn create_list(app: &TestApp, by: &TestUser, name: &str) -> Value {
    app.gql(
        "mutation($n: String!) { createFavoriteList(name: $n) { id name talents { totalCount } } }",
        json!({ "n": name }),
        Some(&by.access_token),
    )
    .await
}

async fn list_id(app: &TestApp, by: &TestUser, name: &str) -> Uuid {
    let body = create_list(app, by, name).await;
    assert_no_errors(&body);
    body["data"]["createFavoriteList"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

async fn change(app: &TestApp, by: &TestUser, mutation: &str, list: Uuid, talent: Uuid) -> Value {
    app.gql(
        &format!(
            "mutation($l: UUID!, $t: UUID!) {{ {mutation}(listId: $l, talentId: $t) {{
                id talents {{ totalCount edges {{ node {{ id }} }} }}
            }} }}"
        ),
        json!({ "l": list, "t": talent }),
        Some(&by.access_token),
    )
    .await
}

#[actix_web::test]
async fn a_new_list_is_empty_and_listed_for_its_producer_only() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let other = app.producer().await;

    let body = create_list(&app, &producer, "Leads").await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["createFavoriteList"]["name"], "Leads");
    assert_eq!(
        body["data"]["createFavoriteList"]["talents"]["totalCount"],
        0
    );
    let mine = app
        .gql_ok(
            "query { favoriteLists { id name } }",
            json!({}),
            Some(&producer.access_token),
        )
        .await;
    let theirs = app
        .gql_ok(
            "query { favoriteLists { id } }",
            json!({}),
            Some(&other.access_token),
        )
        .await;
    assert_eq!(
        mine["favoriteLists"],
        json!([{ "id": body["data"]["createFavoriteList"]["id"], "name": "Leads" }])
    );
    assert_eq!(theirs["favoriteLists"], json!([]));
}

#[actix_web::test]
async fn a_list_name_is_unique_per_producer() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let other = app.producer().await;
    list_id(&app, &producer, "Leads").await;

    assert_error(&create_list(&app, &producer, "Leads").await, "CONFLICT");
    assert_no_errors(&create_list(&app, &other, "Leads").await);
}

#[actix_web::test]
async fn a_list_name_must_be_between_1_and_100_characters() {
    let app = spawn_app().await;
    let producer = app.producer().await;

    assert_bad_input(&create_list(&app, &producer, "").await, "name");
    assert_bad_input(
        &create_list(&app, &producer, &"l".repeat(101)).await,
        "name",
    );
}

#[actix_web::test]
async fn talents_can_be_added_once_and_removed() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let (a, b) = (app.talent().await, app.talent().await);
    let list = list_id(&app, &producer, "Leads").await;

    assert_no_errors(&change(&app, &producer, "addToFavoriteList", list, a.id).await);
    let twice = change(&app, &producer, "addToFavoriteList", list, a.id).await;
    let with_b = change(&app, &producer, "addToFavoriteList", list, b.id).await;

    assert_no_errors(&twice);
    assert_eq!(
        twice["data"]["addToFavoriteList"]["talents"]["totalCount"], 1,
        "adding twice is idempotent"
    );
    assert_eq!(
        sorted_node_ids(&with_b["data"]["addToFavoriteList"]["talents"]),
        sorted_ids(&[a.id, b.id])
    );

    let removed = change(&app, &producer, "removeFromFavoriteList", list, a.id).await;

    assert_no_errors(&removed);
    assert_eq!(
        sorted_node_ids(&removed["data"]["removeFromFavoriteList"]["talents"]),
        vec![b.id.to_string()]
    );
    let read = app
        .gql_ok(
            "query { favoriteLists { talents { totalCount edges { node { id stageName } } } } }",
            json!({}),
            Some(&producer.access_token),
        )
        .await;
    assert_eq!(read["favoriteLists"][0]["talents"]["totalCount"], 1);
    assert_eq!(
        read["favoriteLists"][0]["talents"]["edges"][0]["node"]["stageName"],
        "Test Talent"
    );
}

#[actix_web::test]
async fn another_producers_list_cannot_be_changed() {
    let app = spawn_app().await;
    let owner = app.producer().await;
    let other = app.producer().await;
    let talent = app.talent().await;
    let list = list_id(&app, &owner, "Leads").await;
    assert_no_errors(&change(&app, &owner, "addToFavoriteList", list, talent.id).await);
    let newcomer = app.talent().await;

    assert_error(
        &change(&app, &other, "addToFavoriteList", list, newcomer.id).await,
        "FORBIDDEN",
    );
    assert_error(
        &change(&app, &other, "removeFromFavoriteList", list, talent.id).await,
        "FORBIDDEN",
    );

    let read = app
        .gql_ok(
            "query { favoriteLists { talents { totalCount } } }",
            json!({}),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(read["favoriteLists"][0]["talents"]["totalCount"], 1);
}

#[actix_web::test]
async fn unknown_lists_and_talents_are_not_found() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let list = list_id(&app, &producer, "Leads").await;

    assert_error(
        &change(
            &app,
            &producer,
            "addToFavoriteList",
            Uuid::new_v4(),
            talent.id,
        )
        .await,
        "NOT_FOUND",
    );
    assert_error(
        &change(&app, &producer, "addToFavoriteList", list, Uuid::new_v4()).await,
        "NOT_FOUND",
    );
}

#[actix_web::test]
async fn favorite_lists_are_for_producers_only() {
    let app = spawn_app().await;
    let talent = app.talent().await;

    assert_error(&create_list(&app, &talent, "Mine").await, "FORBIDDEN");
    let anonymous = app
        .gql(
            "mutation { createFavoriteList(name: \"x\") { id } }",
            json!({}),
            None,
        )
        .await;
    assert_error(&anonymous, "UNAUTHENTICATED");
    assert_error(
        &app.gql(
            "query { favoriteLists { id } }",
            json!({}),
            Some(&talent.access_token),
        )
        .await,
        "FORBIDDEN",
    );
    assert_error(
        &app.gql("query { favoriteLists { id } }", json!({}), None)
            .await,
        "UNAUTHENTICATED",
    );
}
