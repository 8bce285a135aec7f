//! Deadlines act on their own: jobs close at their application deadline and producers are
//! reminded before it, once each, however many instances run.

use crate::helpers::{assert_error, spawn_app_with, spawn_with_settings, TestApp};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

async fn outbox_count(app: &TestApp, kind: &str, job: Uuid) -> i64 {
    let values = app
        .sql_values(&format!(
            "SELECT count(*)::text AS value FROM outbox_events
             WHERE kind = '{kind}' AND payload->>'jobId' = '{job}'"
        ))
        .await;
    values.first().and_then(|v| v.parse().ok()).unwrap_or(0)
}

async fn status_of(app: &TestApp, job: Uuid) -> String {
    app.sql_values(&format!(
        "SELECT status::text AS value FROM jobs WHERE id = '{job}'"
    ))
    .await
    .pop()
    .unwrap_or_default()
}

/// Polls `check` for up to ten seconds.
async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[actix_web::test]
async fn an_open_job_closes_at_its_deadline_exactly_once_with_two_instances_running() {
    let a = spawn_app_with(|s| s.realtime.deadline_sweep_secs = 1).await;
    let b = spawn_with_settings(a.settings.clone(), a.db_name.clone()).await;
    let producer = a.producer().await;
    let talent = b.talent().await;
    let job = a.draft_job(&producer, chrono::Duration::seconds(3)).await;
    a.job_mutation(&producer, "publishJob", job).await;
    a.apply(&talent, job).await;

    let closed = eventually(async || status_of(&a, job).await == "CLOSED").await;
    // Both instances keep sweeping; give them the chance to close it twice.
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert!(closed, "the job never closed");
    assert_eq!(outbox_count(&a, "JOB_CLOSED", job).await, 1);
    let late = b
        .gql(
            "mutation($j: UUID!) { applyToJob(jobId: $j) { id } }",
            json!({ "j": job }),
            Some(&b.talent().await.access_token),
        )
        .await;
    assert_error(&late, "CONFLICT");
}

#[actix_web::test]
async fn a_deadline_that_passed_while_no_instance_ran_closes_once_one_starts() {
    let first = spawn_app_with(|s| s.realtime.deadline_sweep_secs = 3600).await;
    let producer = first.producer().await;
    let job = first.open_job(&producer).await;
    // The deadline passes while nothing sweeps (this instance waits an hour between sweeps).
    tokio::time::sleep(Duration::from_millis(300)).await;
    first
        .sql(&format!(
            "UPDATE jobs SET application_deadline = now() - interval '1 minute' WHERE id = '{job}'"
        ))
        .await;

    let mut settings = first.settings.clone();
    settings.realtime.deadline_sweep_secs = 1;
    let restarted = spawn_with_settings(settings, first.db_name.clone()).await;
    let closed = eventually(async || status_of(&restarted, job).await == "CLOSED").await;

    assert!(closed, "the job never closed");
    assert_eq!(outbox_count(&restarted, "JOB_CLOSED", job).await, 1);
}

#[actix_web::test]
async fn the_deadline_reminder_goes_out_once_and_again_when_the_deadline_moves() {
    let a = spawn_app_with(|s| {
        s.realtime.deadline_sweep_secs = 1;
        s.realtime.deadline_reminder_secs = 3600;
    })
    .await;
    let b = spawn_with_settings(a.settings.clone(), a.db_name.clone()).await;
    let producer = a.producer().await;
    let job = a.draft_job(&producer, chrono::Duration::minutes(30)).await;
    a.job_mutation(&producer, "publishJob", job).await;

    let reminded = eventually(async || outbox_count(&a, "DEADLINE_REMINDER", job).await >= 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(reminded, "no reminder");
    assert_eq!(outbox_count(&b, "DEADLINE_REMINDER", job).await, 1);

    let later = (chrono::Utc::now() + chrono::Duration::minutes(40)).to_rfc3339();
    a.gql_ok(
        r#"mutation($id: UUID!, $d: DateTime!) { updateJob(id: $id, input: {
            title: "Lead role", description: "A feature film lead.", productionType: FILM,
            applicationDeadline: $d }) { id } }"#,
        json!({ "id": job, "d": later }),
        Some(&producer.access_token),
    )
    .await;
    let reminded_again =
        eventually(async || outbox_count(&a, "DEADLINE_REMINDER", job).await >= 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert!(reminded_again, "no reminder for the new deadline");
    assert_eq!(outbox_count(&a, "DEADLINE_REMINDER", job).await, 2);
}
