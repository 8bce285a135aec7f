//! Applications and the pipeline: applying once to open jobs before the deadline, withdrawing,
//! the transition table (allowed and forbidden moves, undoing a rejection), bulk moves that are
//! all-or-nothing, the history, concurrent moves and the producer's pipeline view.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, sorted_ids, sorted_node_ids, spawn_app,
    TestApp, TestUser,
};
use futures_util::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

const STAGES: [&str; 8] = [
    "APPLIED",
    "SHORTLISTED",
    "AUDITION",
    "CALLBACK",
    "OFFERED",
    "HIRED",
    "REJECTED",
    "WITHDRAWN",
];

async fn apply_raw(app: &TestApp, talent: &TestUser, job: Uuid, note: Option<&str>) -> Value {
    app.gql(
        r#"mutation($j: UUID!, $n: String) {
            applyToJob(jobId: $j, coverNote: $n) {
                id stage coverNote job { id } talent { id } createdAt stageChangedAt
                history { fromStage toStage actor { id } }
            }
        }"#,
        json!({ "j": job, "n": note }),
        Some(&talent.access_token),
    )
    .await
}

async fn withdraw(app: &TestApp, talent: &TestUser, id: Uuid) -> Value {
    app.gql(
        "mutation($id: UUID!) { withdrawApplication(id: $id) { id stage } }",
        json!({ "id": id }),
        Some(&talent.access_token),
    )
    .await
}

/// `(fromStage, toStage)` of every history event, oldest first, as `viewer` sees them.
async fn history(app: &TestApp, viewer: &TestUser, id: Uuid) -> Vec<(Option<String>, String)> {
    let data = app
        .gql_ok(
            "query($id: UUID!) { application(id: $id) { history { fromStage toStage at } } }",
            json!({ "id": id }),
            Some(&viewer.access_token),
        )
        .await;
    data["application"]["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| {
            (
                e["fromStage"].as_str().map(str::to_string),
                e["toStage"].as_str().expect("toStage").to_string(),
            )
        })
        .collect()
}

fn ev(from: Option<&str>, to: &str) -> (Option<String>, String) {
    (from.map(str::to_string), to.to_string())
}

/// A producer with an open job and one talent who applied to it.
struct Pipeline {
    producer: TestUser,
    talent: TestUser,
    job: Uuid,
    application: Uuid,
}

async fn pipeline(app: &TestApp) -> Pipeline {
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    let application = app.apply(&talent, job).await;
    Pipeline {
        producer,
        talent,
        job,
        application,
    }
}

#[actix_web::test]
async fn applying_creates_an_applied_application_with_its_first_history_event() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;

    let body = apply_raw(&app, &talent, job, Some("I was born for this role.")).await;

    assert_no_errors(&body);
    let application = &body["data"]["applyToJob"];
    assert_eq!(application["stage"], "APPLIED");
    assert_eq!(application["coverNote"], "I was born for this role.");
    assert_eq!(application["job"]["id"], job.to_string());
    assert_eq!(application["talent"]["id"], talent.id.to_string());
    assert_eq!(
        application["history"],
        json!([{ "fromStage": null, "toStage": "APPLIED", "actor": { "id": talent.id.to_string() } }])
    );
}

#[actix_web::test]
async fn applying_twice_to_the_same_job_is_a_conflict() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;

    let body = apply_raw(&app, &p.talent, p.job, None).await;

    assert_error(&body, "CONFLICT");
    assert_eq!(app.row_count("applications").await, 1);
}

#[actix_web::test]
async fn applying_to_a_job_that_is_not_open_fails() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let draft = app.draft_job(&producer, chrono::Duration::days(3)).await;
    let closed = app.open_job(&producer).await;
    assert_no_errors(&app.job_mutation(&producer, "closeJob", closed).await);
    let filled = app.open_job(&producer).await;
    assert_no_errors(&app.job_mutation(&producer, "markJobFilled", filled).await);
    let cancelled = app.open_job(&producer).await;
    assert_no_errors(&app.job_mutation(&producer, "cancelJob", cancelled).await);

    // Visible jobs that are not open are a conflict.
    assert_error(&apply_raw(&app, &talent, closed, None).await, "CONFLICT");
    assert_error(&apply_raw(&app, &talent, filled, None).await, "CONFLICT");
    // Drafts and cancelled jobs are also invisible to the talent, so the spec allows either
    // "not open" (CONFLICT) or "invisible" (NOT_FOUND); what matters is that nothing is created.
    for job in [draft, cancelled] {
        let body = apply_raw(&app, &talent, job, None).await;
        let code = body["errors"][0]["extensions"]["code"].as_str();
        assert!(
            matches!(code, Some("CONFLICT") | Some("NOT_FOUND")),
            "applying to a draft/cancelled job: {body:#}"
        );
    }
    assert_eq!(app.row_count("applications").await, 0);
}

#[actix_web::test]
async fn applying_after_the_deadline_is_a_conflict_even_while_the_job_is_still_open() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;
    app.sql(&format!(
        "UPDATE jobs SET application_deadline = now() - interval '1 minute' WHERE id = '{job}'"
    ))
    .await;

    let body = apply_raw(&app, &talent, job, None).await;

    assert_error(&body, "CONFLICT");
    assert_eq!(app.row_count("applications").await, 0);
}

#[actix_web::test]
async fn applying_to_an_unknown_job_is_not_found() {
    let app = spawn_app().await;
    let talent = app.talent().await;

    let body = apply_raw(&app, &talent, Uuid::new_v4(), None).await;

    assert_error(&body, "NOT_FOUND");
}

#[actix_web::test]
async fn a_talent_without_a_profile_cannot_apply() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.register("TALENT").await;
    let job = app.open_job(&producer).await;

    let body = apply_raw(&app, &talent, job, None).await;

    assert_error(&body, "CONFLICT");
}

#[actix_web::test]
async fn a_cover_note_over_5000_characters_is_bad_input() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = app.open_job(&producer).await;

    let body = apply_raw(&app, &talent, job, Some(&"n".repeat(5001))).await;

    assert_bad_input(&body, "coverNote");
    assert_eq!(app.row_count("applications").await, 0);
}

#[actix_web::test]
async fn withdrawing_moves_the_application_to_withdrawn_once() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;

    let first = withdraw(&app, &p.talent, p.application).await;
    let second = withdraw(&app, &p.talent, p.application).await;

    assert_no_errors(&first);
    assert_eq!(first["data"]["withdrawApplication"]["stage"], "WITHDRAWN");
    assert_error(&second, "CONFLICT");
    assert_eq!(
        history(&app, &p.producer, p.application).await,
        vec![ev(None, "APPLIED"), ev(Some("APPLIED"), "WITHDRAWN")]
    );
}

#[actix_web::test]
async fn withdrawing_works_mid_pipeline_but_not_after_hiring_or_rejection() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let (mid, hired, rejected) = (app.talent().await, app.talent().await, app.talent().await);
    let mid_app = app.apply(&mid, job).await;
    let hired_app = app.apply(&hired, job).await;
    let rejected_app = app.apply(&rejected, job).await;
    for stage in ["SHORTLISTED", "AUDITION"] {
        app.move_ok(&producer, mid_app, stage).await;
    }
    for stage in ["SHORTLISTED", "OFFERED", "HIRED"] {
        app.move_ok(&producer, hired_app, stage).await;
    }
    app.move_ok(&producer, rejected_app, "REJECTED").await;

    let mid_body = withdraw(&app, &mid, mid_app).await;
    let hired_body = withdraw(&app, &hired, hired_app).await;
    let rejected_body = withdraw(&app, &rejected, rejected_app).await;

    assert_no_errors(&mid_body);
    assert_eq!(
        mid_body["data"]["withdrawApplication"]["stage"],
        "WITHDRAWN"
    );
    assert_error(&hired_body, "CONFLICT");
    assert_error(&rejected_body, "CONFLICT");
    assert_eq!(app.stage_of(&producer, hired_app).await, "HIRED");
    assert_eq!(app.stage_of(&producer, rejected_app).await, "REJECTED");
}

#[actix_web::test]
async fn the_full_pipeline_is_allowed_and_every_move_is_recorded_in_order() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    let route = [
        "SHORTLISTED",
        "AUDITION",
        "CALLBACK",
        "CALLBACK",
        "OFFERED",
        "HIRED",
    ];

    for stage in route {
        app.move_ok(&p.producer, p.application, stage).await;
    }

    assert_eq!(
        history(&app, &p.producer, p.application).await,
        vec![
            ev(None, "APPLIED"),
            ev(Some("APPLIED"), "SHORTLISTED"),
            ev(Some("SHORTLISTED"), "AUDITION"),
            ev(Some("AUDITION"), "CALLBACK"),
            ev(Some("CALLBACK"), "CALLBACK"),
            ev(Some("CALLBACK"), "OFFERED"),
            ev(Some("OFFERED"), "HIRED"),
        ]
    );
}

#[actix_web::test]
async fn shortcuts_in_the_table_are_allowed() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let routes: [&[&str]; 3] = [
        &["SHORTLISTED", "CALLBACK", "OFFERED"],
        &["SHORTLISTED", "OFFERED", "HIRED"],
        &["SHORTLISTED", "AUDITION", "OFFERED"],
    ];
    for route in routes {
        let talent = app.talent().await;
        let application = app.apply(&talent, job).await;
        for stage in route {
            app.move_ok(&producer, application, stage).await;
        }
    }
}

#[actix_web::test]
async fn forbidden_moves_from_each_stage_are_conflicts_that_change_nothing() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    // (stage the application is in, moves that must be refused, the allowed move that follows)
    let walk: &[(&str, &[&str], Option<&str>)] = &[
        (
            "APPLIED",
            &[
                "APPLIED",
                "AUDITION",
                "CALLBACK",
                "OFFERED",
                "HIRED",
                "WITHDRAWN",
            ],
            Some("SHORTLISTED"),
        ),
        (
            "SHORTLISTED",
            &["APPLIED", "SHORTLISTED", "HIRED", "WITHDRAWN"],
            Some("AUDITION"),
        ),
        (
            "AUDITION",
            &["APPLIED", "SHORTLISTED", "AUDITION", "HIRED", "WITHDRAWN"],
            Some("CALLBACK"),
        ),
        (
            "CALLBACK",
            &["APPLIED", "SHORTLISTED", "AUDITION", "HIRED", "WITHDRAWN"],
            Some("OFFERED"),
        ),
        (
            "OFFERED",
            &[
                "APPLIED",
                "SHORTLISTED",
                "AUDITION",
                "CALLBACK",
                "OFFERED",
                "WITHDRAWN",
            ],
            Some("HIRED"),
        ),
        ("HIRED", &STAGES, None),
    ];
    let mut expected_events = 1;
    for (current, refused, next) in walk {
        for stage in *refused {
            let body = app
                .move_application(&p.producer, p.application, stage)
                .await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "CONFLICT",
                "{current} -> {stage} must be refused: {body:#}"
            );
            assert_eq!(app.stage_of(&p.producer, p.application).await, *current);
        }
        assert_eq!(
            history(&app, &p.producer, p.application).await.len(),
            expected_events
        );
        if let Some(next) = next {
            app.move_ok(&p.producer, p.application, next).await;
            expected_events += 1;
        }
    }
}

#[actix_web::test]
async fn a_withdrawn_application_cannot_be_moved() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    assert_no_errors(&withdraw(&app, &p.talent, p.application).await);

    for stage in STAGES {
        let body = app
            .move_application(&p.producer, p.application, stage)
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "CONFLICT",
            "WITHDRAWN -> {stage}: {body:#}"
        );
    }
    assert_eq!(app.stage_of(&p.producer, p.application).await, "WITHDRAWN");
}

#[actix_web::test]
async fn every_live_stage_can_be_rejected_and_the_rejection_undone() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;

    for (stage, next) in [
        ("APPLIED", "SHORTLISTED"),
        ("SHORTLISTED", "AUDITION"),
        ("AUDITION", "CALLBACK"),
        ("CALLBACK", "OFFERED"),
        ("OFFERED", "HIRED"),
    ] {
        app.move_ok(&p.producer, p.application, "REJECTED").await;
        app.move_ok(&p.producer, p.application, stage).await;
        app.move_ok(&p.producer, p.application, next).await;
    }

    let events = history(&app, &p.producer, p.application).await;
    assert_eq!(events.len(), 1 + 5 * 3);
    assert_eq!(events[1], ev(Some("APPLIED"), "REJECTED"));
    assert_eq!(events[2], ev(Some("REJECTED"), "APPLIED"));
    assert_eq!(events.last(), Some(&ev(Some("OFFERED"), "HIRED")));
}

#[actix_web::test]
async fn a_rejection_can_only_be_undone_to_the_stage_it_was_rejected_from() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    for stage in ["SHORTLISTED", "AUDITION", "REJECTED"] {
        app.move_ok(&p.producer, p.application, stage).await;
    }

    for stage in [
        "APPLIED",
        "SHORTLISTED",
        "CALLBACK",
        "OFFERED",
        "HIRED",
        "REJECTED",
        "WITHDRAWN",
    ] {
        let body = app
            .move_application(&p.producer, p.application, stage)
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "CONFLICT",
            "REJECTED -> {stage}: {body:#}"
        );
    }
    app.move_ok(&p.producer, p.application, "AUDITION").await;

    let events = history(&app, &p.producer, p.application).await;
    assert_eq!(events.last(), Some(&ev(Some("REJECTED"), "AUDITION")));
    assert_eq!(events.len(), 5);
}

#[actix_web::test]
async fn the_talent_cannot_undo_a_rejection() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    app.move_ok(&p.producer, p.application, "REJECTED").await;

    let body = app
        .move_application(&p.talent, p.application, "APPLIED")
        .await;

    assert_error(&body, "FORBIDDEN");
    assert_eq!(app.stage_of(&p.producer, p.application).await, "REJECTED");
}

#[actix_web::test]
async fn applications_of_a_cancelled_job_cannot_be_moved() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    assert_no_errors(&app.job_mutation(&p.producer, "cancelJob", p.job).await);

    let body = app
        .move_application(&p.producer, p.application, "SHORTLISTED")
        .await;

    assert_error(&body, "CONFLICT");
}

#[actix_web::test]
async fn moving_an_unknown_application_is_not_found() {
    let app = spawn_app().await;
    let producer = app.producer().await;

    let body = app
        .move_application(&producer, Uuid::new_v4(), "SHORTLISTED")
        .await;

    assert_error(&body, "NOT_FOUND");
}

async fn move_with_reason(
    app: &TestApp,
    user: &TestUser,
    id: Uuid,
    stage: &str,
    reason: &str,
) -> Value {
    app.gql(
        "mutation($id: UUID!, $s: ApplicationStage!, $r: String) { moveApplication(id: $id, stage: $s, reason: $r) { stage } }",
        json!({ "id": id, "s": stage, "r": reason }),
        Some(&user.access_token),
    )
    .await
}

#[actix_web::test]
async fn a_reason_over_1000_characters_is_bad_input() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;

    let body = move_with_reason(
        &app,
        &p.producer,
        p.application,
        "SHORTLISTED",
        &"r".repeat(1001),
    )
    .await;

    assert_bad_input(&body, "reason");
    assert_eq!(app.stage_of(&p.producer, p.application).await, "APPLIED");
}

#[actix_web::test]
async fn the_history_records_actor_and_reason_and_hides_the_reason_from_the_talent() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    assert_no_errors(
        &move_with_reason(
            &app,
            &p.producer,
            p.application,
            "REJECTED",
            "Too tall for the costume",
        )
        .await,
    );
    let query = "query($id: UUID!) { application(id: $id) { history { fromStage toStage reason actor { id } } } }";

    let as_producer = app
        .gql_ok(
            query,
            json!({ "id": p.application }),
            Some(&p.producer.access_token),
        )
        .await;
    let as_talent = app
        .gql_ok(
            query,
            json!({ "id": p.application }),
            Some(&p.talent.access_token),
        )
        .await;
    let mine = app
        .gql_ok(
            "query { myApplications { edges { node { history { toStage reason } } } } }",
            json!({}),
            Some(&p.talent.access_token),
        )
        .await;

    let event = &as_producer["application"]["history"][1];
    assert_eq!(event["fromStage"], "APPLIED");
    assert_eq!(event["toStage"], "REJECTED");
    assert_eq!(event["reason"], "Too tall for the costume");
    assert_eq!(event["actor"]["id"], p.producer.id.to_string());
    assert_eq!(
        as_talent["application"]["history"][1]["toStage"],
        "REJECTED"
    );
    assert!(
        as_talent["application"]["history"][1]["reason"].is_null(),
        "{as_talent:#}"
    );
    let talent_history = &mine["myApplications"]["edges"][0]["node"]["history"];
    assert_eq!(talent_history[1]["toStage"], "REJECTED");
    assert!(talent_history[1]["reason"].is_null(), "{mine:#}");
}

#[actix_web::test]
async fn moving_updates_stage_changed_at() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    app.sql(&format!(
        "UPDATE applications SET stage_changed_at = now() - interval '3 days' WHERE id = '{}'",
        p.application
    ))
    .await;

    app.move_ok(&p.producer, p.application, "SHORTLISTED").await;

    let data = app
        .gql_ok(
            "query($id: UUID!) { application(id: $id) { stageChangedAt } }",
            json!({ "id": p.application }),
            Some(&p.producer.access_token),
        )
        .await;
    let changed: chrono::DateTime<chrono::Utc> = data["application"]["stageChangedAt"]
        .as_str()
        .expect("stageChangedAt")
        .parse()
        .expect("RFC 3339");
    assert!(
        chrono::Utc::now() - changed < chrono::Duration::minutes(5),
        "{changed}"
    );
}

async fn bulk(app: &TestApp, user: &TestUser, ids: &[Uuid], stage: &str) -> Value {
    app.gql(
        "mutation($ids: [UUID!]!, $s: ApplicationStage!) { moveApplications(ids: $ids, stage: $s) { id stage } }",
        json!({ "ids": ids, "s": stage }),
        Some(&user.access_token),
    )
    .await
}

/// A producer's open job with `n` applications.
async fn job_with_applications(app: &TestApp, n: usize) -> (TestUser, Uuid, Vec<Uuid>) {
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    let mut ids = Vec::new();
    for _ in 0..n {
        let talent = app.talent().await;
        ids.push(app.apply(&talent, job).await);
    }
    (producer, job, ids)
}

#[actix_web::test]
async fn a_bulk_move_moves_every_application() {
    let app = spawn_app().await;
    let (producer, _, ids) = job_with_applications(&app, 3).await;

    let body = bulk(&app, &producer, &ids, "SHORTLISTED").await;

    assert_no_errors(&body);
    let moved = body["data"]["moveApplications"].as_array().expect("a list");
    assert_eq!(moved.len(), 3);
    assert!(
        moved.iter().all(|a| a["stage"] == "SHORTLISTED"),
        "{body:#}"
    );
    for id in &ids {
        assert_eq!(app.stage_of(&producer, *id).await, "SHORTLISTED");
        assert_eq!(history(&app, &producer, *id).await.len(), 2);
    }
}

#[actix_web::test]
async fn a_bulk_move_with_one_forbidden_move_moves_nothing() {
    let app = spawn_app().await;
    let (producer, _, ids) = job_with_applications(&app, 3).await;
    app.move_ok(&producer, ids[0], "SHORTLISTED").await;
    app.move_ok(&producer, ids[1], "SHORTLISTED").await;
    // ids[2] is still APPLIED, and APPLIED -> AUDITION is not allowed.

    let body = bulk(&app, &producer, &ids, "AUDITION").await;

    assert_error(&body, "CONFLICT");
    assert_eq!(app.stage_of(&producer, ids[0]).await, "SHORTLISTED");
    assert_eq!(app.stage_of(&producer, ids[1]).await, "SHORTLISTED");
    assert_eq!(app.stage_of(&producer, ids[2]).await, "APPLIED");
    assert_eq!(
        app.row_count("application_events").await,
        5,
        "3 applications + 2 shortlistings, nothing more"
    );
}

#[actix_web::test]
async fn a_bulk_move_including_another_producers_application_is_forbidden_and_moves_nothing() {
    let app = spawn_app().await;
    let (producer, _, mut ids) = job_with_applications(&app, 1).await;
    let (_, _, foreign) = job_with_applications(&app, 1).await;
    ids.extend(&foreign);

    let body = bulk(&app, &producer, &ids, "SHORTLISTED").await;

    assert_error(&body, "FORBIDDEN");
    assert_eq!(app.stage_of(&producer, ids[0]).await, "APPLIED");
}

#[actix_web::test]
async fn a_bulk_move_with_an_unknown_id_moves_nothing() {
    let app = spawn_app().await;
    let (producer, _, mut ids) = job_with_applications(&app, 1).await;
    ids.push(Uuid::new_v4());

    let body = bulk(&app, &producer, &ids, "SHORTLISTED").await;

    assert_error(&body, "NOT_FOUND");
    assert_eq!(app.stage_of(&producer, ids[0]).await, "APPLIED");
}

#[actix_web::test]
async fn a_bulk_move_needs_between_1_and_100_ids() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let too_many: Vec<Uuid> = (0..101).map(|_| Uuid::new_v4()).collect();

    assert_bad_input(&bulk(&app, &producer, &[], "SHORTLISTED").await, "ids");
    assert_bad_input(
        &bulk(&app, &producer, &too_many, "SHORTLISTED").await,
        "ids",
    );
}

#[actix_web::test]
async fn concurrent_identical_moves_apply_exactly_once() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;

    let attempts =
        join_all((0..10).map(|_| app.move_application(&p.producer, p.application, "SHORTLISTED")))
            .await;

    let succeeded = attempts
        .iter()
        .filter(|b| b.get("errors").is_none())
        .count();
    let conflicts = attempts
        .iter()
        .filter(|b| b["errors"][0]["extensions"]["code"] == "CONFLICT")
        .count();
    assert_eq!(succeeded, 1, "exactly one move may apply: {attempts:#?}");
    assert_eq!(conflicts, 9, "the others must be conflicts: {attempts:#?}");
    assert_eq!(
        history(&app, &p.producer, p.application).await,
        vec![ev(None, "APPLIED"), ev(Some("APPLIED"), "SHORTLISTED")]
    );
}

#[actix_web::test]
async fn concurrent_competing_moves_never_both_apply_against_a_stale_stage() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    let targets = ["SHORTLISTED", "REJECTED"].repeat(5);

    let attempts = join_all(
        targets
            .iter()
            .map(|stage| app.move_application(&p.producer, p.application, stage)),
    )
    .await;

    let winners: Vec<&str> = attempts
        .iter()
        .filter(|b| b.get("errors").is_none())
        .map(|b| {
            b["data"]["moveApplication"]["stage"]
                .as_str()
                .expect("stage")
        })
        .collect();
    assert!(
        attempts.iter().all(
            |b| b.get("errors").is_none() || b["errors"][0]["extensions"]["code"] == "CONFLICT"
        ),
        "losers must be conflicts: {attempts:#?}"
    );
    // Either one move wins, or a rejection is followed by ... nothing: REJECTED -> SHORTLISTED is
    // not an undo (it was rejected from APPLIED), and SHORTLISTED -> REJECTED after the first
    // win is a legal second move. So the history must be a legal sequence from APPLIED.
    let events = history(&app, &p.producer, p.application).await;
    assert_eq!(
        events.len(),
        1 + winners.len(),
        "one event per applied move: {events:?}"
    );
    let mut stage = "APPLIED".to_string();
    for (from, to) in &events[1..] {
        assert_eq!(
            from.as_deref(),
            Some(stage.as_str()),
            "an event from a stale stage: {events:?}"
        );
        stage = to.clone();
    }
    assert_eq!(app.stage_of(&p.producer, p.application).await, stage);
}

#[actix_web::test]
async fn concurrent_moves_from_separate_tasks_apply_exactly_once() {
    let app = spawn_app().await;
    let p = pipeline(&app).await;
    let url = app.url("/graphql");
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            let token = p.producer.access_token.clone();
            let id = p.application;
            actix_web::rt::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({
                        "query": "mutation($id: UUID!) { moveApplication(id: $id, stage: SHORTLISTED) { stage } }",
                        "variables": { "id": id }
                    }))
                    .send()
                    .await
                    .expect("sending")
                    .json::<Value>()
                    .await
                    .expect("JSON")
            })
        })
        .collect();

    let mut bodies = Vec::new();
    for handle in handles {
        bodies.push(handle.await.expect("the task"));
    }

    assert_eq!(
        bodies.iter().filter(|b| b.get("errors").is_none()).count(),
        1,
        "{bodies:#?}"
    );
    assert_eq!(history(&app, &p.producer, p.application).await.len(), 2);
}

#[actix_web::test]
async fn the_pipeline_view_lists_a_jobs_applications_by_stage() {
    let app = spawn_app().await;
    let (producer, job, ids) = job_with_applications(&app, 3).await;
    app.move_ok(&producer, ids[0], "SHORTLISTED").await;
    app.move_ok(&producer, ids[1], "SHORTLISTED").await;
    let (_, _, _other_jobs) = job_with_applications(&app, 1).await;
    let query = r#"query($j: UUID!, $s: ApplicationStage) { job(id: $j) {
        applications(stage: $s) { totalCount edges { cursor node { id stage talent { stageName } job { id } } } }
    } }"#;

    let all = app
        .gql_ok(
            query,
            json!({ "j": job, "s": null }),
            Some(&producer.access_token),
        )
        .await;
    let shortlisted = app
        .gql_ok(
            query,
            json!({ "j": job, "s": "SHORTLISTED" }),
            Some(&producer.access_token),
        )
        .await;
    let hired = app
        .gql_ok(
            query,
            json!({ "j": job, "s": "HIRED" }),
            Some(&producer.access_token),
        )
        .await;

    assert_eq!(all["job"]["applications"]["totalCount"], 3);
    assert_eq!(
        sorted_node_ids(&all["job"]["applications"]),
        sorted_ids(&ids)
    );
    assert_eq!(shortlisted["job"]["applications"]["totalCount"], 2);
    assert_eq!(
        sorted_node_ids(&shortlisted["job"]["applications"]),
        sorted_ids(&ids[..2])
    );
    assert_eq!(hired["job"]["applications"]["totalCount"], 0);
    let first = &all["job"]["applications"]["edges"][0]["node"];
    assert_eq!(first["talent"]["stageName"], "Test Talent");
    assert_eq!(first["job"]["id"], job.to_string());
}

#[actix_web::test]
async fn my_applications_lists_only_the_talents_own_applications_by_stage() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let rival = app.talent().await;
    let first_job = app.open_job(&producer).await;
    let second_job = app.open_job(&producer).await;
    let first = app.apply(&talent, first_job).await;
    let second = app.apply(&talent, second_job).await;
    app.apply(&rival, first_job).await;
    app.move_ok(&producer, second, "SHORTLISTED").await;
    let query = "query($s: ApplicationStage) { myApplications(stage: $s) { totalCount edges { node { id stage job { id title } } } } }";

    let all = app
        .gql_ok(query, json!({ "s": null }), Some(&talent.access_token))
        .await;
    let applied = app
        .gql_ok(query, json!({ "s": "APPLIED" }), Some(&talent.access_token))
        .await;

    assert_eq!(all["myApplications"]["totalCount"], 2);
    assert_eq!(
        sorted_node_ids(&all["myApplications"]),
        sorted_ids(&[first, second])
    );
    assert_eq!(applied["myApplications"]["totalCount"], 1);
    assert_eq!(
        applied["myApplications"]["edges"][0]["node"]["id"],
        first.to_string()
    );
    assert_eq!(
        applied["myApplications"]["edges"][0]["node"]["job"]["title"],
        "Lead role"
    );
}

#[actix_web::test]
async fn an_unknown_application_is_null() {
    let app = spawn_app().await;
    let talent = app.talent().await;

    let data = app
        .gql_ok(
            "query($id: UUID!) { application(id: $id) { id } }",
            json!({ "id": Uuid::new_v4() }),
            Some(&talent.access_token),
        )
        .await;

    assert!(data["application"].is_null());
}
