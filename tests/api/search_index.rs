//! The lexical index behind talent search: a profile's changes reach it before the next search,
//! an instance started later builds it from PostgreSQL (changes made while no instance ran
//! included), and operators see it in `/readyz`.

use crate::helpers::{
    assert_no_errors, spawn_app, spawn_app_with, spawn_with_settings, TestApp, TestUser,
};
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
    let body: Value = app.readiness().await;
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

/// A folder of its own for an instance's indexes and their copies.
fn search_dir() -> String {
    std::env::temp_dir()
        .join(format!("castyou-search-{}", uuid::Uuid::new_v4().simple()))
        .to_string_lossy()
        .into_owned()
}

/// The one copy of the lexical index in `dir` (this instance's).
fn local_copy(dir: &str) -> std::path::PathBuf {
    let copies: Vec<_> = std::fs::read_dir(std::path::Path::new(dir).join("snapshots"))
        .expect("a snapshots folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("lexical-index.copy"))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    copies[0].clone()
}

/// The copy of the lexical index published to `app`'s local media store.
fn published_copy(app: &TestApp) -> std::path::PathBuf {
    let root = std::path::Path::new(&app.settings.media.dir).join("s");
    let database = std::fs::read_dir(&root)
        .expect("published copies")
        .filter_map(Result::ok)
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{}-", app.db_name))
        })
        .expect("a copy of this database");
    database.path().join("lexical-index")
}

/// Flips one byte in the middle of a file.
fn damage(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).expect("the copy");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(path, bytes).expect("damaging the copy");
}

async fn talent_named(app: &TestApp, name: &str) -> TestUser {
    let talent = app.register("TALENT").await;
    app.gql_ok(
        SAVE,
        json!({ "i": { "stageName": name, "headline": "Character actor" } }),
        Some(&talent.access_token),
    )
    .await;
    talent
}

#[actix_web::test]
async fn a_restarted_instance_opens_its_copy_and_applies_what_changed_while_it_was_stopped() {
    let dir = search_dir();
    let app = spawn_app_with(|s| s.search.dir = dir.clone()).await;
    let talent = talent_named(&app, "Ottoline Featherstonehaugh").await;
    let producer = app.producer().await;
    assert_eq!(
        names_found(&app, &producer, "Featherstonehaugh").await,
        ["Ottoline Featherstonehaugh"]
    );
    // Stopping saves a copy with the outbox position it includes.
    app.stop_gracefully().await;
    assert!(local_copy(&dir).exists());

    // While it is stopped, another instance (keeping no copies) renames the talent.
    let mut other = app.settings.clone();
    other.search.dir = search_dir();
    other.search.snapshot_interval_secs = 0;
    let meanwhile = spawn_with_settings(other, app.db_name.clone()).await;
    meanwhile
        .gql_ok(
            SAVE,
            json!({ "i": { "stageName": "Ottoline Marchbanks", "headline": "Character actor" } }),
            Some(&talent.access_token),
        )
        .await;
    meanwhile.stop_gracefully().await;

    // Restarted: it opens its copy, applies the rename, and answers by the new name only.
    let restarted = spawn_with_settings(app.settings.clone(), app.db_name.clone()).await;
    assert_eq!(
        names_found(&restarted, &producer, "Marchbanks").await,
        ["Ottoline Marchbanks"]
    );
    assert!(names_found(&restarted, &producer, "Featherstonehaugh")
        .await
        .is_empty());
    let index = lexical_index(&restarted).await;
    assert_eq!(index["loadedFrom"], "local", "{index}");
    assert_eq!(index["builds"], 1, "{index}");
    assert!(
        index["caughtUp"].as_u64().is_some_and(|n| n >= 1),
        "{index}"
    );
    assert_eq!(index["talents"], 1, "{index}");
    assert_eq!(index["lag"], 0, "{index}");
}

#[actix_web::test]
async fn a_damaged_copy_is_never_opened() {
    let dir = search_dir();
    let app = spawn_app_with(|s| s.search.dir = dir.clone()).await;
    talent_named(&app, "Ottoline Featherstonehaugh").await;
    let producer = app.producer().await;
    app.stop_gracefully().await;

    // This instance's copy damaged: the published one is opened instead.
    damage(&local_copy(&dir));
    let second = spawn_with_settings(app.settings.clone(), app.db_name.clone()).await;
    assert_eq!(
        names_found(&second, &producer, "Featherstonehaugh").await,
        ["Ottoline Featherstonehaugh"]
    );
    let index = lexical_index(&second).await;
    assert_eq!(index["loadedFrom"], "object store", "{index}");
    second.stop_gracefully().await;

    // Both damaged: built from PostgreSQL, and right.
    damage(&local_copy(&dir));
    damage(&published_copy(&app));
    let third = spawn_with_settings(app.settings.clone(), app.db_name.clone()).await;
    assert_eq!(
        names_found(&third, &producer, "Featherstonehaugh").await,
        ["Ottoline Featherstonehaugh"]
    );
    let index = lexical_index(&third).await;
    assert_eq!(index["loadedFrom"], "storage", "{index}");
    assert_eq!(index["talents"], 1, "{index}");
}

#[actix_web::test]
async fn an_instance_on_an_empty_disk_starts_from_the_copy_published_to_s3() {
    let mut s3 =
        castyou::configuration::Settings::load_for(castyou::configuration::Environment::Test)
            .expect("settings");
    crate::media_processing::s3_bucket(&mut s3).await;
    let app = spawn_app_with(|s| {
        s.media = s3.media;
        s.search.dir = search_dir();
    })
    .await;
    talent_named(&app, "Ottoline Featherstonehaugh").await;
    let producer = app.producer().await;
    app.stop_gracefully().await;

    // A new instance with nothing on its disk.
    let mut fresh = app.settings.clone();
    fresh.search.dir = search_dir();
    let newcomer = spawn_with_settings(fresh, app.db_name.clone()).await;
    assert_eq!(
        names_found(&newcomer, &producer, "Featherstonehaugh").await,
        ["Ottoline Featherstonehaugh"]
    );
    let index = lexical_index(&newcomer).await;
    assert_eq!(index["loadedFrom"], "object store", "{index}");
    assert_eq!(index["talents"], 1, "{index}");
}

#[actix_web::test]
async fn after_a_bulk_seed_the_next_start_builds_from_postgresql_instead_of_opening_a_copy() {
    let dir = search_dir();
    let app = spawn_app_with(|s| s.search.dir = dir.clone()).await;
    talent_named(&app, "Ottoline Featherstonehaugh").await;
    app.stop_gracefully().await;
    assert!(local_copy(&dir).exists());

    // Rows written in bulk, without events, while no instance runs.
    let pool = castyou::db::build_pool(&app.settings.database).expect("a pool");
    let mut conn = pool.get().await.expect("a connection");
    let plan = castyou::seed::Plan {
        talents: 300,
        jobs: 3,
        producers: 2,
        seed: 5,
    };
    castyou::seed::run(&mut conn, "not-a-real-hash", plan)
        .await
        .expect("seeding");

    let restarted = spawn_with_settings(app.settings.clone(), app.db_name.clone()).await;
    let index = lexical_index(&restarted).await;
    assert_eq!(index["loadedFrom"], "storage", "{index}");
    assert_eq!(index["talents"], 301, "{index}");

    // A copy taken after the bulk load has its rows: the next start opens it.
    restarted.stop_gracefully().await;
    let again = spawn_with_settings(app.settings.clone(), app.db_name.clone()).await;
    let index = lexical_index(&again).await;
    assert_eq!(index["loadedFrom"], "local", "{index}");
    assert_eq!(index["talents"], 301, "{index}");
}

#[actix_web::test]
async fn the_rebuild_command_builds_an_index_again_from_postgresql() {
    let app = spawn_app().await;
    let talent = talent_named(&app, "Ottoline Featherstonehaugh").await;
    let producer = app.producer().await;
    // Changed by hand in SQL: no event says so, the index still has the old words.
    app.sql(&format!(
        "UPDATE talent_profiles SET stage_name = 'Ottoline Quarrington' WHERE user_id = '{}'",
        talent.id
    ))
    .await;
    assert_eq!(
        names_found(&app, &producer, "Featherstonehaugh").await,
        ["Ottoline Quarrington"]
    );

    let asked = app
        .client
        .post(app.ops_url("/indexes/lexical/rebuild"))
        .send()
        .await
        .expect("the operators' listener");
    assert_eq!(asked.status().as_u16(), 202);
    for _ in 0..200 {
        if lexical_index(&app).await["builds"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let index = lexical_index(&app).await;
    assert_eq!(index["builds"], 2, "{index}");
    assert_eq!(index["loadedFrom"], "storage", "{index}");
    assert!(names_found(&app, &producer, "Featherstonehaugh")
        .await
        .is_empty());
    assert_eq!(
        names_found(&app, &producer, "Quarrington").await,
        ["Ottoline Quarrington"]
    );

    // Only the indexes this instance keeps, and only on the operators' listener.
    let unknown = app
        .client
        .post(app.ops_url("/indexes/everything/rebuild"))
        .send()
        .await
        .expect("the operators' listener");
    assert_eq!(unknown.status().as_u16(), 404);
    let public = app
        .client
        .post(format!("{}/indexes/lexical/rebuild", app.address))
        .send()
        .await
        .expect("the public listener");
    assert_eq!(public.status().as_u16(), 404);
}
