//! The typed event vocabulary against what is already stored: outbox rows written by earlier
//! servers are still consumed, a kind from a newer server is kept (and reported), and every
//! supervised actor's restarts are on `/metrics`.

use crate::helpers::spawn_app;
use crate::notifications::inbox;
use castyou_actors::ActorName;
use std::time::Duration;

#[actix_web::test]
async fn rows_written_by_earlier_servers_are_consumed_and_unknown_kinds_are_kept() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    // A newer server's kind first, then a reminder exactly as earlier servers wrote it.
    app.sql(
        "INSERT INTO outbox_events (id, kind, payload) \
         VALUES (gen_random_uuid(), 'PROFILE_TELEPORTED', '{\"userIds\": []}'::jsonb)",
    )
    .await;
    app.sql(&format!(
        "INSERT INTO outbox_events (id, kind, payload) VALUES (gen_random_uuid(), 'DEADLINE_REMINDER', \
         '{{\"jobId\": \"{job}\", \"producerId\": \"{p}\", \"title\": \"Lead role\", \
           \"applicationDeadline\": \"2030-01-01T10:00:00Z\", \"userIds\": [\"{p}\"]}}'::jsonb)",
        p = producer.id
    ))
    .await;

    let mut reminded = false;
    for _ in 0..200 {
        let documented = app
            .sql_values(
                "SELECT count(*)::text AS value FROM outbox_events \
                 WHERE kind = 'DEADLINE_REMINDER' AND documented_at IS NOT NULL",
            )
            .await;
        if documented == ["1"] {
            reminded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reminded, "the stored reminder was never consumed");

    let notifications = inbox(&app, &producer).await;
    assert!(
        notifications
            .iter()
            .any(|n| n["kind"] == "DEADLINE_REMINDER"
                && n["body"].as_str().is_some_and(|b| b.contains("Lead role"))),
        "{notifications:#?}"
    );
    let kept = app
        .sql_values(
            "SELECT count(*)::text AS value FROM outbox_events \
             WHERE kind = 'PROFILE_TELEPORTED' AND documented_at IS NULL",
        )
        .await;
    assert_eq!(
        kept,
        ["1"],
        "an unknown kind is kept for a server that knows it"
    );
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("castyou_outbox_unknown_events 1"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn metrics_report_the_restarts_of_every_supervised_actor() {
    let app = spawn_app().await;

    let metrics = app.metrics_text().await;

    for actor in ActorName::all() {
        let line = format!(
            "castyou_actor_restarts_total{{actor=\"{}\"}} 0",
            actor.label()
        );
        assert!(metrics.contains(&line), "missing {line}:\n{metrics}");
    }
}
