//! The lexical index behind talent search: a profile's changes reach it before the next search,
//! an instance started later builds it from PostgreSQL (changes made while no instance ran
//! included), and operators see it in `/readyz`.

use crate::helpers::{assert_no_errors, spawn_app, spawn_with_settings, TestApp, TestUser};
use serde_json::{json, Value};

const SEARCH: &str = r#"query($q: String!) {
    searchTalents(query: $q, first: 20) { edges { node { signals talent { stageName } } } } }"#;

const SAVE: &str = "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }";

async fn names_found(app: &TestApp, user: &TestUser, q: &str) -> Vec<String> {
    let body = app
        .gql(SEARCH, json!({ "q": q }), Some(&user.access_token))
        .await;
    assert_no_errors(&body);
    body["data"]["searchTalents"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e["node"]["talent"]["stageName"].as_str())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

async fn lexical_index(app: &TestApp) -> Value {
    let body: Value = app
        .client
        .get(app.ops_url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    body["lexicalIndex"].clone()
}

#[actix_web::test]
async fn a_renamed_talent_is_found_by_the_new_name_only_here_and_on_a_later_instance() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;
    let producer = app.producer().await;
    app.gql_ok(
        SAVE,
        json!({ "i": { "stageName": "Ottoline Featherstonehaugh", "headline": "Character actor" } }),
        Some(&talent.access_token),
    )
    .await;
    assert_eq!(
        names_found(&app, &producer, "Featherstonehaugh").await,
        ["Ottoline Featherstonehaugh"]
    );

    // Renamed through the API: the next search, by anyone, sees the new name only.
    app.gql_ok(
        SAVE,
        json!({ "i": { "stageName": "Ottoline Marchbanks", "headline": "Character actor" } }),
        Some(&talent.access_token),
    )
    .await;
    assert!(names_found(&app, &producer, "Featherstonehaugh")
        .await
        .is_empty());
    assert_eq!(
        names_found(&app, &producer, "Marchbanks").await,
        ["Ottoline Marchbanks"]
    );

    // Renamed where no instance sees it (as while every instance was stopped): an instance
    // started afterwards builds its index from PostgreSQL and finds the newest name.
    app.sql(&format!(
        "UPDATE talent_profiles SET stage_name = 'Ottoline Quarrington' WHERE user_id = '{}'",
        talent.id
    ))
    .await;
    let later = spawn_with_settings(app.settings.clone(), app.db_name.clone()).await;
    assert_eq!(
        names_found(&later, &producer, "Quarrington").await,
        ["Ottoline Quarrington"]
    );
    assert!(names_found(&later, &producer, "Marchbanks")
        .await
        .is_empty());

    let index = lexical_index(&later).await;
    assert_eq!(index["status"], "ready", "{index}");
    assert_eq!(index["talents"], 1, "{index}");
    assert!(index["bytes"].as_u64().is_some_and(|b| b > 0), "{index}");
}

#[actix_web::test]
async fn words_no_profile_uses_any_more_leave_the_index() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;
    let producer = app.producer().await;
    app.gql_ok(
        SAVE,
        json!({ "i": { "stageName": "Wilhelmina Quist", "headline": "Zarzuela baritone" } }),
        Some(&talent.access_token),
    )
    .await;
    // A typo'd headline word finds it while it is there...
    assert_eq!(
        names_found(&app, &producer, "zarzeula").await,
        ["Wilhelmina Quist"]
    );
    app.gql_ok(
        SAVE,
        json!({ "i": { "stageName": "Wilhelmina Quist", "headline": "Opera singer" } }),
        Some(&talent.access_token),
    )
    .await;
    // ...and nothing once no profile uses it.
    assert!(names_found(&app, &producer, "zarzeula").await.is_empty());
    assert!(names_found(&app, &producer, "zarzuela").await.is_empty());
}
