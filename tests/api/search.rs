//! Hybrid talent search: typos, sound-alike spellings, other scripts, what talents did, fusion,
//! pagination, authorization and bad input, and every list answered from an index.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, spawn_app, TestApp, TestUser,
};
use serde_json::{json, Value};

const SEARCH: &str = r#"query($q: String!, $first: Int, $after: String) {
    searchTalents(query: $q, first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { cursor node { score signals talent { id stageName } } } } }"#;

async fn talent_named(app: &TestApp, name: &str, headline: &str, works: Value) -> TestUser {
    let user = app.register("TALENT").await;
    app.gql_ok(
        "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }",
        json!({ "i": { "stageName": name, "headline": headline, "notableWorks": works } }),
        Some(&user.access_token),
    )
    .await;
    user
}

async fn search(app: &TestApp, user: &TestUser, q: &str) -> Value {
    app.gql(SEARCH, json!({ "q": q }), Some(&user.access_token))
        .await
}

/// (stage name, signals) of each hit, in order.
fn hits(body: &Value) -> Vec<(String, Vec<String>)> {
    body["data"]["searchTalents"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .map(|e| {
                    let name = e["node"]["talent"]["stageName"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let signals = e["node"]["signals"]
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .filter_map(|v| v.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    (name, signals)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn signals_of(body: &Value, name: &str) -> Option<Vec<String>> {
    hits(body)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
}

async fn cast(app: &TestApp) {
    talent_named(app, "John Smith", "Stage and screen actor", json!([])).await;
    talent_named(
        app,
        "Kathrin Schmidt",
        "Berlin actress",
        json!([{ "title": "The Long Winter", "role": "Detective Inspector in a period drama",
                 "productionType": "TV", "year": 2023 }]),
    )
    .await;
    talent_named(app, "Дмитрий Иванов", "Moscow theatre actor", json!([])).await;
    talent_named(app, "Maria Lopez", "Voice artist and singer", json!([])).await;
    talent_named(app, "Jonas Smithson", "Dancer", json!([])).await;
}

#[actix_web::test]
async fn names_are_found_through_typos_sounds_and_scripts() {
    let app = spawn_app().await;
    cast(&app).await;
    let user = app.producer().await;

    // A swapped pair of letters is one typo.
    let body = search(&app, &user, "Smtih").await;
    assert_no_errors(&body);
    assert!(
        signals_of(&body, "John Smith").is_some_and(|s| s.contains(&"FUZZY".to_string())),
        "{body:#}"
    );
    let body = search(&app, &user, "Jonh Smith").await;
    assert_eq!(hits(&body)[0].0, "John Smith", "{body:#}");

    // Spelled as it sounds.
    let body = search(&app, &user, "Jon Smyth").await;
    let signals = signals_of(&body, "John Smith").unwrap_or_default();
    assert!(signals.contains(&"PHONETIC".to_string()), "{body:#}");
    assert_eq!(hits(&body)[0].0, "John Smith", "{body:#}");
    let body = search(&app, &user, "Kathrin Shmit").await;
    assert_eq!(hits(&body)[0].0, "Kathrin Schmidt", "{body:#}");

    // Another script: no phonetic keys, the fuzzy list finds it (one typo).
    let body = search(&app, &user, "Иванав").await;
    assert_eq!(
        signals_of(&body, "Дмитрий Иванов"),
        Some(vec!["FUZZY".to_string()]),
        "{body:#}"
    );

    // Headline words are typo-tolerant too.
    let body = search(&app, &user, "artsit").await;
    assert_eq!(
        signals_of(&body, "Maria Lopez"),
        Some(vec!["FUZZY".to_string()]),
        "{body:#}"
    );

    // What a talent did, stemmed: "detectives" and "dramas" find the role.
    let body = search(&app, &user, "detectives in period dramas").await;
    assert_eq!(
        signals_of(&body, "Kathrin Schmidt"),
        Some(vec!["FULL_TEXT".to_string()]),
        "{body:#}"
    );

    // Found by more lists ranks first: the exact name is in all three.
    let body = search(&app, &user, "John Smith").await;
    let found = hits(&body);
    assert_eq!(found[0].0, "John Smith");
    assert_eq!(found[0].1, ["FULL_TEXT", "FUZZY", "PHONETIC"], "{body:#}");
    let scores: Vec<f64> = body["data"]["searchTalents"]["edges"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["node"]["score"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

#[actix_web::test]
async fn results_page_without_repeats_and_bad_input_is_refused() {
    let app = spawn_app().await;
    for n in 0..7 {
        talent_named(&app, &format!("Alex Morgan {n}"), "Actor", json!([])).await;
    }
    let user = app.talent().await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app
            .gql(
                SEARCH,
                json!({ "q": "Alex Morgan", "first": 3, "after": after }),
                Some(&user.access_token),
            )
            .await;
        assert_no_errors(&body);
        seen.extend(hits(&body).into_iter().map(|(n, _)| n));
        let info = &body["data"]["searchTalents"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].as_str().map(String::from);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "{seen:?}");
    assert_eq!(seen.len(), 7, "{seen:?}");

    assert_error(
        &app.gql(SEARCH, json!({ "q": "Alex" }), None).await,
        "UNAUTHENTICATED",
    );
    assert_bad_input(&search(&app, &user, "").await, "query");
    assert_bad_input(&search(&app, &user, "   ").await, "query");
    assert_bad_input(&search(&app, &user, &"x".repeat(201)).await, "query");
    assert_bad_input(
        &app.gql(
            SEARCH,
            json!({ "q": "Alex", "first": 101 }),
            Some(&user.access_token),
        )
        .await,
        "first",
    );
    assert_bad_input(
        &app.gql(
            SEARCH,
            json!({ "q": "Alex", "after": "garbage" }),
            Some(&user.access_token),
        )
        .await,
        "after",
    );
}

#[actix_web::test]
async fn every_list_is_answered_from_an_index() {
    let app = spawn_app().await;
    cast(&app).await;
    // Tiny tables make sequential scans cheapest; with them priced out (and the tables
    // vacuumed, as autovacuum would), the plan shows which index answers each list.
    // The dictionary of a real cast holds thousands of words: with a few it is read whole.
    app.sql(
        "INSERT INTO search_words \
         SELECT substr(translate(md5(i::text), '0123456789', 'smithjonak'), 1, 4 + i % 8) \
         FROM generate_series(1, 20000) AS i ON CONFLICT DO NOTHING",
    )
    .await;
    app.sql("VACUUM ANALYZE talent_profiles, search_words, talent_words, talent_name_codes")
        .await;
    let settings = ["enable_seqscan = off", "pg_trgm.similarity_threshold = 0.1"];
    let full_text = app
        .explain(
            &settings,
            "SELECT user_id FROM talent_profiles, websearch_to_tsquery('simple', 'smith') qs, \
             websearch_to_tsquery('english', 'smith') qe WHERE search @@ qs OR search_en @@ qe",
        )
        .await;
    assert!(
        full_text.contains("talent_profiles_search_idx"),
        "{full_text}"
    );
    assert!(
        full_text.contains("talent_profiles_search_en_idx"),
        "{full_text}"
    );
    let fuzzy = app
        .explain(
            &settings,
            "SELECT word FROM search_words WHERE word % 'smtih'",
        )
        .await;
    assert!(fuzzy.contains("search_words_trgm"), "{fuzzy}");
    let postings = app
        .explain(
            &settings,
            "SELECT talent_id, in_name FROM talent_words WHERE word = 'smith' \
             ORDER BY talent_id LIMIT 2000",
        )
        .await;
    assert!(
        postings.contains("Index Only Scan using talent_words_pkey"),
        "{postings}"
    );
    let phonetic = app
        .explain(
            &settings,
            "SELECT talent_id FROM talent_name_codes WHERE code = 'SM0'",
        )
        .await;
    assert!(phonetic.contains("talent_name_codes_pkey"), "{phonetic}");
}
