//! Each job's moves go through its pipeline actor: serialized on this instance, supervised.

use crate::helpers::spawn_app;
use crate::subscriptions::{next_change, watching_pipeline};
use castyou_actors::pipeline::PipelineError;
use futures_util::future::join_all;

#[actix_web::test]
async fn a_panicking_pipeline_actor_is_restarted_and_the_next_move_still_works() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let application = app.apply(&talent, job).await;
    let mut socket = watching_pipeline(&app, &producer, job).await;
    app.move_ok(&producer, application, "SHORTLISTED").await;
    assert_eq!(
        next_change(&mut socket, "1", "applicationPipeline").await["toStage"],
        "SHORTLISTED"
    );

    assert_eq!(app.pipelines.crash(job).await, Err(PipelineError::Panicked));

    app.move_ok(&producer, application, "AUDITION").await;
    assert_eq!(app.stage_of(&producer, application).await, "AUDITION");
    let event = next_change(&mut socket, "1", "applicationPipeline").await;
    assert_eq!(event["fromStage"], "SHORTLISTED");
    assert_eq!(event["toStage"], "AUDITION");
    let metrics = app.metrics_text().await;
    for line in [
        "castyou_actor_restarts_total{actor=\"pipeline\"} 1",
        "castyou_actor_restarts_total{actor=\"pipelines\"} 0",
        "castyou_pipeline_actors 1",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }
}

#[actix_web::test]
async fn concurrent_moves_of_one_job_all_apply_in_turn_through_one_actor() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let mut applications = Vec::new();
    for _ in 0..6 {
        let talent = app.talent().await;
        applications.push(app.apply(&talent, job).await);
    }

    // Each application is moved twice at once: to SHORTLISTED and to REJECTED. Whichever comes
    // second sees the first one's result, never a stale stage.
    let moves: Vec<_> = applications
        .iter()
        .flat_map(|&id| ["SHORTLISTED", "REJECTED"].map(|stage| (id, stage)))
        .collect();
    let answers = join_all(moves.iter().map(|&(id, stage)| {
        let (app, producer) = (&app, &producer);
        async move { app.move_application(producer, id, stage).await }
    }))
    .await;

    for &id in &applications {
        let succeeded = moves
            .iter()
            .zip(&answers)
            .filter(|((moved, _), answer)| *moved == id && answer.get("errors").is_none())
            .count();
        // SHORTLISTED then REJECTED both apply; REJECTED first turns the SHORTLISTED away.
        assert!((1..=2).contains(&succeeded), "{id}: {answers:#?}");
        assert_eq!(app.stage_of(&producer, id).await, "REJECTED");
        let history = app
            .sql_values(&format!(
                "SELECT count(*)::text AS value FROM application_events WHERE application_id = '{id}'"
            ))
            .await;
        assert_eq!(
            history,
            [(1 + succeeded).to_string()],
            "one history event per applied move"
        );
    }
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("castyou_pipeline_actors 1"),
        "one actor served the job:\n{metrics}"
    );
}
