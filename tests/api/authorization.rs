//! The authorization matrix: every protected operation tried by an anonymous caller, the
//! talent who applied, another talent, the job's producer, another producer and an admin, each
//! expecting exactly the code the contract gives (or success).

use crate::helpers::{spawn_app, TestApp, TestUser};
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Anonymous,
    /// The talent who applied to the job.
    Talent,
    OtherTalent,
    /// The producer who owns the job.
    Producer,
    OtherProducer,
    Admin,
}

use Actor::*;

const OK: Option<&str> = None;
const UNAUTHENTICATED: Option<&str> = Some("UNAUTHENTICATED");
const FORBIDDEN: Option<&str> = Some("FORBIDDEN");

/// A server of its own with one of each actor: a producer's open job and a talent's application
/// to it, another talent, another producer and an admin.
struct World {
    app: TestApp,
    talent: TestUser,
    other_talent: TestUser,
    producer: TestUser,
    other_producer: TestUser,
    admin: TestUser,
    job: Uuid,
    application: Uuid,
}

impl World {
    async fn spawn() -> World {
        let app = spawn_app().await;
        let producer = app.producer().await;
        let talent = app.talent().await;
        let job = app.open_job(&producer).await;
        let application = app.apply(&talent, job).await;
        World {
            talent,
            other_talent: app.talent().await,
            producer,
            other_producer: app.producer().await,
            admin: app.admin().await,
            job,
            application,
            app,
        }
    }

    fn token(&self, actor: Actor) -> Option<&str> {
        let user = match actor {
            Anonymous => return None,
            Talent => &self.talent,
            OtherTalent => &self.other_talent,
            Producer => &self.producer,
            OtherProducer => &self.other_producer,
            Admin => &self.admin,
        };
        Some(&user.access_token)
    }

    /// Runs `query` as each actor in turn (in the order given) and checks the outcome; reports
    /// every mismatch at once.
    async fn check(&self, query: &str, variables: Value, expectations: &[(Actor, Option<&str>)]) {
        let mut mismatches = Vec::new();
        for (actor, expected) in expectations {
            let body = self
                .app
                .gql(query, variables.clone(), self.token(*actor))
                .await;
            let actual = body["errors"][0]["extensions"]["code"].as_str();
            let has_errors = body.get("errors").is_some();
            let matches = match expected {
                None => !has_errors,
                Some(code) => actual == Some(*code),
            };
            if !matches {
                mismatches.push(format!(
                    "{actor:?}: expected {}, got {body}",
                    expected.unwrap_or("success")
                ));
            }
        }
        assert!(mismatches.is_empty(), "{query}\n{}", mismatches.join("\n"));
    }
}

#[actix_web::test]
async fn a_jobs_pipeline_is_visible_to_its_producer_and_admins_only() {
    let w = World::spawn().await;

    w.check(
        "query($j: UUID!) { job(id: $j) { id applications { totalCount edges { node { id } } } } }",
        json!({ "j": w.job }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (OtherTalent, FORBIDDEN),
            (Producer, OK),
            (OtherProducer, FORBIDDEN),
            (Admin, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn the_job_itself_is_public_while_open() {
    let w = World::spawn().await;

    w.check(
        "query($j: UUID!) { job(id: $j) { id title status applicationCount producer { company } } }",
        json!({ "j": w.job }),
        &[(Anonymous, OK), (Talent, OK), (OtherTalent, OK), (Producer, OK), (OtherProducer, OK), (Admin, OK)],
    )
    .await;
}

#[actix_web::test]
async fn applications_are_moved_by_the_jobs_producer_and_admins_only() {
    let w = World::spawn().await;
    let query = "mutation($id: UUID!, $s: ApplicationStage!) { moveApplication(id: $id, stage: $s) { stage } }";

    w.check(
        query,
        json!({ "id": w.application, "s": "SHORTLISTED" }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (OtherTalent, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Admin, OK),
        ],
    )
    .await;
    w.check(
        query,
        json!({ "id": w.application, "s": "AUDITION" }),
        &[(Producer, OK)],
    )
    .await;

    assert_eq!(w.app.stage_of(&w.producer, w.application).await, "AUDITION");
}

#[actix_web::test]
async fn bulk_moves_are_for_the_jobs_producer_and_admins_only() {
    let w = World::spawn().await;
    let query = "mutation($ids: [UUID!]!, $s: ApplicationStage!) { moveApplications(ids: $ids, stage: $s) { stage } }";

    w.check(
        query,
        json!({ "ids": [w.application], "s": "SHORTLISTED" }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (OtherTalent, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Producer, OK),
        ],
    )
    .await;
    w.check(
        query,
        json!({ "ids": [w.application], "s": "AUDITION" }),
        &[(Admin, OK)],
    )
    .await;
}

#[actix_web::test]
async fn jobs_are_updated_by_their_producer_and_admins_only() {
    let w = World::spawn().await;
    let deadline = (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339();

    w.check(
        "mutation($id: UUID!, $i: JobInput!) { updateJob(id: $id, input: $i) { id } }",
        json!({ "id": w.job, "i": {
            "title": "Renamed", "description": "New text", "productionType": "TV", "applicationDeadline": deadline
        } }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (OtherTalent, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Producer, OK),
            (Admin, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn job_status_changes_are_for_their_producer_only() {
    let w = World::spawn().await;
    for mutation in ["closeJob", "cancelJob", "markJobFilled", "publishJob"] {
        w.check(
            &format!("mutation($id: UUID!) {{ {mutation}(id: $id) {{ status }} }}"),
            json!({ "id": w.job }),
            &[
                (Anonymous, UNAUTHENTICATED),
                (Talent, FORBIDDEN),
                (OtherTalent, FORBIDDEN),
                (OtherProducer, FORBIDDEN),
            ],
        )
        .await;
    }
    let status = w
        .app
        .sql_values(&format!(
            "SELECT status::text AS value FROM jobs WHERE id = '{}'",
            w.job
        ))
        .await;
    assert_eq!(status, vec!["OPEN".to_string()]);
}

#[actix_web::test]
async fn an_application_is_visible_to_its_talent_the_jobs_producer_and_admins() {
    let w = World::spawn().await;

    w.check(
        "query($id: UUID!) { application(id: $id) { id stage } }",
        json!({ "id": w.application }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, OK),
            (OtherTalent, FORBIDDEN),
            (Producer, OK),
            (OtherProducer, FORBIDDEN),
            (Admin, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn hiring_metrics_are_for_the_producer_and_admins_only() {
    let w = World::spawn().await;

    w.check(
        "query($id: UUID!) { producerProfile(id: $id) { company hiringMetrics { openJobs } } }",
        json!({ "id": w.producer.id }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (OtherTalent, FORBIDDEN),
            (Producer, OK),
            (OtherProducer, FORBIDDEN),
            (Admin, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn a_users_email_is_for_that_user_and_admins_only() {
    let w = World::spawn().await;

    w.check(
        "query($id: UUID!) { user(id: $id) { id email } }",
        json!({ "id": w.talent.id }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, OK),
            (OtherTalent, FORBIDDEN),
            (Producer, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Admin, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn the_email_of_a_job_producer_reached_through_the_job_is_private_too() {
    let w = World::spawn().await;

    w.check(
        "query($j: UUID!) { job(id: $j) { producer { user { email } } } }",
        json!({ "j": w.job }),
        &[
            (Talent, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Producer, OK),
            (Admin, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn my_jobs_is_for_producers_and_admins() {
    let w = World::spawn().await;

    w.check(
        "query { myJobs { totalCount } }",
        json!({}),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (OtherTalent, FORBIDDEN),
            (Producer, OK),
            (OtherProducer, OK),
            (Admin, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn my_applications_is_for_talents_only() {
    let w = World::spawn().await;

    w.check(
        "query { myApplications { totalCount } }",
        json!({}),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, OK),
            (OtherTalent, OK),
            (Producer, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Admin, FORBIDDEN),
        ],
    )
    .await;
}

#[actix_web::test]
async fn talent_profiles_are_written_by_talents_only() {
    let w = World::spawn().await;

    w.check(
        r#"mutation { upsertTalentProfile(input: { stageName: "Impostor" }) { id } }"#,
        json!({}),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Producer, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Admin, FORBIDDEN),
            (Talent, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn producer_profiles_are_written_by_producers_only() {
    let w = World::spawn().await;

    w.check(
        r#"mutation { upsertProducerProfile(input: { company: "Impostor Inc" }) { id } }"#,
        json!({}),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (OtherTalent, FORBIDDEN),
            (Admin, FORBIDDEN),
            (Producer, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn jobs_are_created_by_producers_only() {
    let w = World::spawn().await;
    let deadline = (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339();

    w.check(
        "mutation($d: DateTime!) { createJob(input: { title: \"T\", description: \"D\", productionType: FILM, applicationDeadline: $d }) { id } }",
        json!({ "d": deadline }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (OtherTalent, FORBIDDEN),
            (Producer, OK),
            (OtherProducer, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn only_talents_apply_to_jobs() {
    let w = World::spawn().await;

    w.check(
        "mutation($j: UUID!) { applyToJob(jobId: $j) { id } }",
        json!({ "j": w.job }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Producer, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Admin, FORBIDDEN),
            (OtherTalent, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn only_the_applying_talent_withdraws_an_application() {
    let w = World::spawn().await;

    w.check(
        "mutation($id: UUID!) { withdrawApplication(id: $id) { stage } }",
        json!({ "id": w.application }),
        &[
            (Anonymous, UNAUTHENTICATED),
            (OtherTalent, FORBIDDEN),
            (Producer, FORBIDDEN),
            (OtherProducer, FORBIDDEN),
            (Admin, FORBIDDEN),
            (Talent, OK),
        ],
    )
    .await;
}

#[actix_web::test]
async fn people_and_profiles_are_for_signed_in_users() {
    let w = World::spawn().await;
    let everyone_signed_in = [
        (Anonymous, UNAUTHENTICATED),
        (Talent, OK),
        (OtherTalent, OK),
        (Producer, OK),
        (OtherProducer, OK),
        (Admin, OK),
    ];

    for (query, variables) in [
        (
            "query($id: UUID!) { user(id: $id) { id displayName } }",
            json!({ "id": w.talent.id }),
        ),
        (
            "query($id: UUID!) { talentProfile(id: $id) { stageName } }",
            json!({ "id": w.talent.id }),
        ),
        (
            "query($id: UUID!) { producerProfile(id: $id) { company } }",
            json!({ "id": w.producer.id }),
        ),
        ("query { talents { totalCount } }", json!({})),
    ] {
        w.check(query, variables, &everyone_signed_in).await;
    }
}

#[actix_web::test]
async fn groups_and_favorites_are_for_their_roles() {
    let w = World::spawn().await;

    w.check(
        "mutation { createTalentGroup(name: \"Crew\") { id } }",
        json!({}),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Producer, FORBIDDEN),
            (Talent, OK),
        ],
    )
    .await;
    w.check(
        "mutation { createFavoriteList(name: \"Faves\") { id } }",
        json!({}),
        &[
            (Anonymous, UNAUTHENTICATED),
            (Talent, FORBIDDEN),
            (Producer, OK),
        ],
    )
    .await;
    w.check(
        "query { myGroups { id } }",
        json!({}),
        &[(Anonymous, UNAUTHENTICATED), (Talent, OK)],
    )
    .await;
}
