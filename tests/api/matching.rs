//! The 9-factor match of one talent to one job, and a job's ranking weights.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, spawn_app, TestApp, TestUser,
};
use serde_json::{json, Value};
use uuid::Uuid;

const MATCH: &str = r#"query($j: UUID!, $t: UUID!) { match(jobId: $j, talentId: $t) {
    score computedAt job { id } talent { stageName }
    factors { factor score weight verdict explanation } } }"#;
const SET_WEIGHTS: &str = r#"mutation($j: UUID!, $w: [MatchWeightInput!]!) {
    setJobMatchWeights(jobId: $j, weights: $w) { id matchWeights { factor weight } } }"#;

/// An OPEN job that wants French at FLUENT, in France, paying 400–600 EUR a day.
async fn french_job(app: &TestApp, producer: &TestUser) -> Uuid {
    let deadline = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let created = app
        .gql_ok(
            r#"mutation($d: DateTime!) { createJob(input: {
                title: "Detective in a period drama", description: "A Paris-set period drama.",
                productionType: TV, location: { country: "FR" }, payMin: 400, payMax: 600,
                currency: "EUR", applicationDeadline: $d,
                requirements: { languages: [{ language: "fr", proficiency: FLUENT }],
                                workAuthorizations: ["FR"] } }) { id } }"#,
            json!({ "d": deadline }),
            Some(&producer.access_token),
        )
        .await;
    let id = created["createJob"]["id"].as_str().expect("id").to_string();
    app.gql_ok(
        "mutation($id: UUID!) { publishJob(id: $id) { id } }",
        json!({ "id": id }),
        Some(&producer.access_token),
    )
    .await;
    id.parse().expect("uuid")
}

async fn talent_with(app: &TestApp, input: Value) -> TestUser {
    let user = app.register("TALENT").await;
    app.gql_ok(
        "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }",
        json!({ "i": input }),
        Some(&user.access_token),
    )
    .await;
    user
}

async fn match_of(app: &TestApp, viewer: &TestUser, job: Uuid, talent: &TestUser) -> Value {
    app.gql(
        MATCH,
        json!({ "j": job, "t": talent.id }),
        Some(&viewer.access_token),
    )
    .await
}

#[actix_web::test]
async fn a_talent_who_meets_the_requirements_scores_above_one_who_meets_none() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = french_job(&app, &producer).await;
    let fits = talent_with(
        &app,
        json!({ "stageName": "Camille", "languages": [{ "language": "fr", "proficiency": "NATIVE" }],
                "workAuthorizations": ["FR"], "rateMin": 450, "rateMax": 550, "currency": "EUR" }),
    )
    .await;
    let misses = talent_with(
        &app,
        json!({ "stageName": "Hank", "languages": [{ "language": "en", "proficiency": "NATIVE" }],
                "workAuthorizations": ["US"], "rateMin": 3000, "rateMax": 4000, "currency": "USD" }),
    )
    .await;

    let good = match_of(&app, &producer, job, &fits).await;
    let bad = match_of(&app, &producer, job, &misses).await;

    assert_no_errors(&good);
    assert_no_errors(&bad);
    let (good, bad) = (&good["data"]["match"], &bad["data"]["match"]);
    assert!(
        good["score"].as_f64() > bad["score"].as_f64(),
        "{good:#}\n{bad:#}"
    );
    let factors = good["factors"].as_array().expect("factors");
    let names: Vec<&str> = factors
        .iter()
        .filter_map(|f| f["factor"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "SALARY_ALIGNMENT",
            "WORK_AUTHORIZATION",
            "PHYSICAL_ATTRIBUTES",
            "NOTABLE_WORKS",
            "PRODUCTION_EXPERIENCE",
            "AWARDS",
            "DREAM_GIG",
            "LANGUAGES",
            "AVAILABILITY"
        ]
    );
    let total: f64 = factors.iter().filter_map(|f| f["weight"].as_f64()).sum();
    assert!((total - 1.0).abs() < 1e-4, "weights sum to 1: {total}");
    let languages = &factors[7];
    assert_eq!(languages["verdict"], "MATCH", "{languages:#}");
    assert!(languages["explanation"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    assert_eq!(bad["factors"][7]["verdict"], "NO_MATCH", "{bad:#}");
    assert_eq!(bad["factors"][1]["verdict"], "NO_MATCH", "{bad:#}");
}

#[actix_web::test]
async fn a_match_is_for_the_jobs_producer_that_talent_and_admins() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let other_producer = app.producer().await;
    let admin = app.admin().await;
    let job = french_job(&app, &producer).await;
    let talent = talent_with(&app, json!({ "stageName": "Camille" })).await;
    let other_talent = talent_with(&app, json!({ "stageName": "Other" })).await;

    for viewer in [&producer, &talent, &admin] {
        assert_no_errors(&match_of(&app, viewer, job, &talent).await);
    }
    for viewer in [&other_producer, &other_talent] {
        assert_error(&match_of(&app, viewer, job, &talent).await, "FORBIDDEN");
    }
    let anonymous = app
        .gql(MATCH, json!({ "j": job, "t": talent.id }), None)
        .await;
    assert_error(&anonymous, "UNAUTHENTICATED");
    let unknown_job = app
        .gql(
            MATCH,
            json!({ "j": Uuid::new_v4(), "t": talent.id }),
            Some(&producer.access_token),
        )
        .await;
    assert_error(&unknown_job, "NOT_FOUND");
    let unknown_talent = app
        .gql(
            MATCH,
            json!({ "j": job, "t": Uuid::new_v4() }),
            Some(&producer.access_token),
        )
        .await;
    assert_error(&unknown_talent, "NOT_FOUND");
}

#[actix_web::test]
async fn a_producer_tunes_the_weights_which_are_normalised_and_change_the_score() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = french_job(&app, &producer).await;
    let talent = talent_with(
        &app,
        json!({ "stageName": "Camille", "languages": [{ "language": "fr", "proficiency": "NATIVE" }],
                "workAuthorizations": ["US"] }),
    )
    .await;
    let before = match_of(&app, &producer, job, &talent).await["data"]["match"]["score"]
        .as_f64()
        .expect("a score");

    // Only languages count: the talent speaks the language.
    let weights: Vec<Value> = [
        "SALARY_ALIGNMENT",
        "WORK_AUTHORIZATION",
        "PHYSICAL_ATTRIBUTES",
        "NOTABLE_WORKS",
        "PRODUCTION_EXPERIENCE",
        "AWARDS",
        "DREAM_GIG",
        "AVAILABILITY",
    ]
    .iter()
    .map(|f| json!({ "factor": f, "weight": 0 }))
    .chain([json!({ "factor": "LANGUAGES", "weight": 5 })])
    .collect();
    let set = app
        .gql(
            SET_WEIGHTS,
            json!({ "j": job, "w": weights }),
            Some(&producer.access_token),
        )
        .await;
    let after = match_of(&app, &producer, job, &talent).await["data"]["match"]["score"]
        .as_f64()
        .expect("a score");

    assert_no_errors(&set);
    let stored = &set["data"]["setJobMatchWeights"]["matchWeights"];
    assert_eq!(stored.as_array().map(Vec::len), Some(9));
    assert_eq!(
        stored[7],
        json!({ "factor": "LANGUAGES", "weight": 1.0 }),
        "{stored:#}"
    );
    let read_back = app
        .gql_ok(
            "query($id: UUID!) { job(id: $id) { matchWeights { factor weight } } }",
            json!({ "id": job }),
            Some(&producer.access_token),
        )
        .await;
    assert_eq!(&read_back["job"]["matchWeights"], stored);
    assert!(
        (after - 100.0).abs() < 1e-3,
        "only a matching factor counts: {after}"
    );
    assert!(after > before, "{before} -> {after}");
}

#[actix_web::test]
async fn bad_weights_are_refused_and_others_cannot_set_them() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let other = app.producer().await;
    let job = french_job(&app, &producer).await;
    let set = |w: Value, who: &TestUser| {
        let token = who.access_token.clone();
        let app = &app;
        async move {
            app.gql(SET_WEIGHTS, json!({ "j": job, "w": w }), Some(&token))
                .await
        }
    };

    let negative = set(json!([{ "factor": "AWARDS", "weight": -1 }]), &producer).await;
    let all_zero = set(
        json!([
            { "factor": "SALARY_ALIGNMENT", "weight": 0 }, { "factor": "WORK_AUTHORIZATION", "weight": 0 },
            { "factor": "PHYSICAL_ATTRIBUTES", "weight": 0 }, { "factor": "NOTABLE_WORKS", "weight": 0 },
            { "factor": "PRODUCTION_EXPERIENCE", "weight": 0 }, { "factor": "AWARDS", "weight": 0 },
            { "factor": "DREAM_GIG", "weight": 0 }, { "factor": "LANGUAGES", "weight": 0 },
            { "factor": "AVAILABILITY", "weight": 0 }
        ]),
        &producer,
    )
    .await;
    let twice = set(
        json!([{ "factor": "AWARDS", "weight": 1 }, { "factor": "AWARDS", "weight": 2 }]),
        &producer,
    )
    .await;
    let unknown = set(json!([{ "factor": "CHARISMA", "weight": 1 }]), &producer).await;
    let foreign = set(json!([{ "factor": "AWARDS", "weight": 1 }]), &other).await;

    assert_bad_input(&negative, "weights");
    assert_bad_input(&all_zero, "weights");
    assert_bad_input(&twice, "weights");
    assert_error(&unknown, "BAD_USER_INPUT");
    assert_error(&foreign, "FORBIDDEN");
}
