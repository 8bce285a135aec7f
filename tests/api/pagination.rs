//! Relay connections: the bounds on `first`, malformed cursors, and paging through a list
//! without duplicates or gaps, newest first, even when timestamps tie.

use crate::helpers::{assert_bad_input, assert_no_errors, spawn_app, TestApp, TestUser};
use serde_json::{json, Value};
use std::collections::HashSet;
use uuid::Uuid;

/// Every connection a client pages through, as a query taking `$first` and `$after`.
/// (`FavoriteList.talents` needs the caller to have a list.)
fn connections(job: Uuid) -> Vec<(&'static str, String)> {
    vec![
        ("jobs", "query($first: Int, $after: String) { jobs(first: $first, after: $after) { totalCount } }".into()),
        ("myJobs", "query($first: Int, $after: String) { myJobs(first: $first, after: $after) { totalCount } }".into()),
        ("talents", "query($first: Int, $after: String) { talents(first: $first, after: $after) { totalCount } }".into()),
        (
            "Job.applications",
            format!("query($first: Int, $after: String) {{ job(id: \"{job}\") {{ applications(first: $first, after: $after) {{ totalCount }} }} }}"),
        ),
        (
            "FavoriteList.talents",
            "query($first: Int, $after: String) { favoriteLists { id talents(first: $first, after: $after) { totalCount } } }".into(),
        ),
    ]
}

async fn producer_with_job_and_list(app: &TestApp) -> (TestUser, Uuid) {
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let data = app
        .gql_ok(
            "mutation { createFavoriteList(name: \"L\") { id } }",
            json!({}),
            Some(&producer.access_token),
        )
        .await;
    assert!(data["createFavoriteList"]["id"].is_string());
    (producer, job)
}

#[actix_web::test]
async fn first_above_100_or_negative_is_bad_input_on_first_for_every_connection() {
    let app = spawn_app().await;
    let (producer, job) = producer_with_job_and_list(&app).await;

    for (name, query) in connections(job) {
        for first in [101, 1000, -1] {
            let body = app
                .gql(
                    &query,
                    json!({ "first": first, "after": null }),
                    Some(&producer.access_token),
                )
                .await;
            assert_eq!(
                (
                    body["errors"][0]["extensions"]["code"].as_str(),
                    body["errors"][0]["extensions"]["field"].as_str()
                ),
                (Some("BAD_USER_INPUT"), Some("first")),
                "{name} with first {first}: {body:#}"
            );
        }
        let ok = app
            .gql(
                &query,
                json!({ "first": 100, "after": null }),
                Some(&producer.access_token),
            )
            .await;
        assert_no_errors(&ok);
    }
}

#[actix_web::test]
async fn first_above_100_is_bad_input_on_my_applications() {
    let app = spawn_app().await;
    let talent = app.talent().await;

    let body = app
        .gql(
            "query { myApplications(first: 101) { totalCount } }",
            json!({}),
            Some(&talent.access_token),
        )
        .await;

    assert_bad_input(&body, "first");
}

#[actix_web::test]
async fn a_malformed_after_cursor_is_bad_input_on_after_for_every_connection() {
    let app = spawn_app().await;
    let (producer, job) = producer_with_job_and_list(&app).await;

    for (name, query) in connections(job) {
        for after in ["not-a-cursor", "%%%", "eyJmb28iOiJiYXIifQ", "MTIz"] {
            let body = app
                .gql(
                    &query,
                    json!({ "first": 10, "after": after }),
                    Some(&producer.access_token),
                )
                .await;
            assert_eq!(
                (
                    body["errors"][0]["extensions"]["code"].as_str(),
                    body["errors"][0]["extensions"]["field"].as_str()
                ),
                (Some("BAD_USER_INPUT"), Some("after")),
                "{name} with after {after:?}: {body:#}"
            );
        }
    }
}

#[actix_web::test]
async fn first_zero_returns_no_edges_but_the_total() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    app.open_job(&producer).await;

    let data = app
        .gql_ok(
            "query { jobs(first: 0) { totalCount edges { cursor } } }",
            json!({}),
            None,
        )
        .await;

    assert_eq!(data["jobs"]["totalCount"], 1);
    assert_eq!(data["jobs"]["edges"], json!([]));
}

struct Page {
    ids: Vec<String>,
    cursors: Vec<String>,
    has_next: bool,
    end_cursor: Option<String>,
    total: u64,
}

async fn jobs_page(app: &TestApp, first: i64, after: Option<&str>) -> Page {
    let data = app
        .gql_ok(
            "query($first: Int, $after: String) { jobs(first: $first, after: $after) {
                totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } }
            } }",
            json!({ "first": first, "after": after }),
            None,
        )
        .await;
    page_of(&data["jobs"])
}

fn page_of(connection: &Value) -> Page {
    let edges = connection["edges"].as_array().expect("edges");
    Page {
        ids: edges
            .iter()
            .map(|e| e["node"]["id"].as_str().expect("id").to_string())
            .collect(),
        cursors: edges
            .iter()
            .map(|e| e["cursor"].as_str().expect("cursor").to_string())
            .collect(),
        has_next: connection["pageInfo"]["hasNextPage"]
            .as_bool()
            .expect("hasNextPage"),
        end_cursor: connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_string),
        total: connection["totalCount"].as_u64().expect("totalCount"),
    }
}

/// Pages through all open jobs `first` at a time; returns the pages.
async fn all_job_pages(app: &TestApp, first: i64) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = jobs_page(app, first, after.as_deref()).await;
        let done = !page.has_next;
        after = page.end_cursor.clone();
        pages.push(page);
        if done {
            return pages;
        }
        assert!(pages.len() < 10, "paging does not terminate");
    }
}

#[actix_web::test]
async fn paging_through_25_jobs_ten_at_a_time_sees_each_once_newest_first() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let mut created = Vec::new();
    for _ in 0..25 {
        created.push(app.open_job(&producer).await.to_string());
    }

    let pages = all_job_pages(&app, 10).await;

    assert_eq!(
        pages.iter().map(|p| p.ids.len()).collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
    assert_eq!(
        pages.iter().map(|p| p.has_next).collect::<Vec<_>>(),
        vec![true, true, false]
    );
    assert!(pages.iter().all(|p| p.total == 25));
    for page in &pages {
        assert_eq!(
            page.end_cursor.as_ref(),
            page.cursors.last(),
            "endCursor is the last edge's cursor"
        );
    }
    let seen: Vec<String> = pages.iter().flat_map(|p| p.ids.clone()).collect();
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "every job once, newest first");
}

#[actix_web::test]
async fn paging_is_stable_when_creation_times_tie() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let mut created = HashSet::new();
    for _ in 0..25 {
        created.insert(app.open_job(&producer).await.to_string());
    }
    app.sql("UPDATE jobs SET created_at = '2030-01-01T00:00:00Z'")
        .await;

    let pages = all_job_pages(&app, 7).await;

    let seen: Vec<String> = pages.iter().flat_map(|p| p.ids.clone()).collect();
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 25, "no duplicates: {seen:?}");
    assert_eq!(unique, created, "no job missing");
}

#[actix_web::test]
async fn paging_from_an_edge_cursor_continues_after_that_edge() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    for _ in 0..5 {
        app.open_job(&producer).await;
    }
    let all = jobs_page(&app, 5, None).await;

    let rest = jobs_page(&app, 5, Some(&all.cursors[1])).await;

    assert_eq!(rest.ids, all.ids[2..].to_vec());
    assert!(!rest.has_next);
    assert_eq!(rest.total, 5);
}

#[actix_web::test]
async fn an_empty_connection_has_no_next_page_and_no_end_cursor() {
    let app = spawn_app().await;

    let page = jobs_page(&app, 10, None).await;

    assert!(page.ids.is_empty());
    assert!(!page.has_next);
    assert!(page.end_cursor.is_none());
    assert_eq!(page.total, 0);
}

#[actix_web::test]
async fn a_jobs_applications_page_newest_first() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let mut applications = Vec::new();
    for _ in 0..3 {
        let talent = app.talent().await;
        applications.push(app.apply(&talent, job).await.to_string());
    }
    let query =
        "query($j: UUID!, $after: String) { job(id: $j) { applications(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } }
    } } }";

    let first = app
        .gql_ok(
            query,
            json!({ "j": job, "after": null }),
            Some(&producer.access_token),
        )
        .await;
    let first = page_of(&first["job"]["applications"]);
    let second = app
        .gql_ok(
            query,
            json!({ "j": job, "after": first.end_cursor }),
            Some(&producer.access_token),
        )
        .await;
    let second = page_of(&second["job"]["applications"]);

    assert_eq!(first.total, 3);
    assert!(first.has_next);
    assert!(!second.has_next);
    let seen: Vec<String> = first.ids.into_iter().chain(second.ids).collect();
    let newest_first: Vec<String> = applications.into_iter().rev().collect();
    assert_eq!(seen, newest_first);
}

#[actix_web::test]
async fn my_applications_page_through_without_gaps() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let mut applications = HashSet::new();
    for _ in 0..3 {
        let job = app.open_job(&producer).await;
        applications.insert(app.apply(&talent, job).await.to_string());
    }
    let query = "query($after: String) { myApplications(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } }
    } }";

    let first = app
        .gql_ok(query, json!({ "after": null }), Some(&talent.access_token))
        .await;
    let first = page_of(&first["myApplications"]);
    let second = app
        .gql_ok(
            query,
            json!({ "after": first.end_cursor }),
            Some(&talent.access_token),
        )
        .await;
    let second = page_of(&second["myApplications"]);

    assert_eq!((first.ids.len(), first.has_next, first.total), (2, true, 3));
    assert_eq!((second.ids.len(), second.has_next), (1, false));
    let seen: HashSet<String> = first.ids.into_iter().chain(second.ids).collect();
    assert_eq!(seen, applications);
}
