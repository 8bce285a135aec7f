//! Talent and producer profiles: every field round-trips, validation names the field path,
//! hiring metrics are computed from the data, and e-mail addresses stay private.

use crate::helpers::{
    assert_bad_input, assert_bad_input_on_one_of, assert_error, assert_no_errors, spawn_app,
    TestApp, TestUser,
};
use serde_json::{json, Value};

const TALENT_FIELDS: &str = r#"
    id stageName headline bio location { city country } gender playingAgeMin playingAgeMax
    heightCm languages { language proficiency } accents workAuthorizations unionStatus
    notableWorks { title year role productionType } productionExperienceYears
    awards { name year won } dreamGigs skills rateMin rateMax currency
    availability { from to } updatedAt user { id displayName }
"#;

fn full_talent_input() -> Value {
    json!({
        "stageName": "Nova Quinn",
        "headline": "Stage and screen actor",
        "bio": "Trained at RADA. Loves Chekhov.",
        "location": { "city": "London", "country": "GB" },
        "gender": "female",
        "playingAgeMin": 25,
        "playingAgeMax": 35,
        "heightCm": 170,
        "languages": [
            { "language": "en", "proficiency": "NATIVE" },
            { "language": "fr", "proficiency": "CONVERSATIONAL" }
        ],
        "accents": ["RP", "Scottish"],
        "workAuthorizations": ["GB", "IE"],
        "unionStatus": "EQUITY",
        "notableWorks": [
            { "title": "The Seagull", "year": 2021, "role": "Nina", "productionType": "THEATRE" },
            { "title": "Untitled short", "year": null, "role": null, "productionType": null }
        ],
        "productionExperienceYears": 8,
        "awards": [
            { "name": "Best Newcomer", "year": 2019, "won": true },
            { "name": "Best Actress", "year": 2022, "won": false }
        ],
        "dreamGigs": ["Hamlet at the Globe"],
        "skills": ["stage combat", "horse riding"],
        "rateMin": 300,
        "rateMax": 900,
        "currency": "GBP",
        "availability": [
            { "from": "2030-01-01T00:00:00Z", "to": "2030-02-01T00:00:00Z" }
        ]
    })
}

async fn upsert_talent(app: &TestApp, user: &TestUser, input: Value) -> Value {
    app.gql(
        &format!(
            "mutation($i: TalentProfileInput!) {{ upsertTalentProfile(input: $i) {{ {TALENT_FIELDS} }} }}"
        ),
        json!({ "i": input }),
        Some(&user.access_token),
    )
    .await
}

/// Compares what the API returned with what was sent, field by field.
fn assert_matches_input(profile: &Value, input: &Value) {
    for (key, expected) in input.as_object().expect("an object") {
        let actual = &profile[key];
        if key == "availability" {
            let parse = |v: &Value| -> chrono::DateTime<chrono::Utc> {
                v.as_str().expect("a date").parse().expect("RFC 3339")
            };
            let actual = actual.as_array().expect("availability");
            let expected = expected.as_array().expect("availability");
            assert_eq!(actual.len(), expected.len());
            for (a, e) in actual.iter().zip(expected) {
                assert_eq!(parse(&a["from"]), parse(&e["from"]));
                assert_eq!(parse(&a["to"]), parse(&e["to"]));
            }
        } else {
            assert_eq!(actual, expected, "field {key} of {profile:#}");
        }
    }
}

#[actix_web::test]
async fn every_talent_profile_field_round_trips() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;
    let viewer = app.register("PRODUCER").await;
    let input = full_talent_input();

    let body = upsert_talent(&app, &talent, input.clone()).await;

    assert_no_errors(&body);
    let saved = &body["data"]["upsertTalentProfile"];
    assert_eq!(saved["id"], talent.id.to_string());
    assert_eq!(saved["user"]["id"], talent.id.to_string());
    assert_matches_input(saved, &input);
    let read = app
        .gql_ok(
            &format!("query($id: UUID!) {{ talentProfile(id: $id) {{ {TALENT_FIELDS} }} }}"),
            json!({ "id": talent.id }),
            Some(&viewer.access_token),
        )
        .await;
    assert_matches_input(&read["talentProfile"], &input);
    let me = app
        .gql_ok(
            "query { me { talentProfile { stageName } producerProfile { company } } }",
            json!({}),
            Some(&talent.access_token),
        )
        .await;
    assert_eq!(me["me"]["talentProfile"]["stageName"], "Nova Quinn");
    assert!(me["me"]["producerProfile"].is_null());
}

#[actix_web::test]
async fn a_minimal_talent_profile_gets_the_documented_defaults() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;

    let body = upsert_talent(&app, &talent, json!({ "stageName": "Min" })).await;

    assert_no_errors(&body);
    let p = &body["data"]["upsertTalentProfile"];
    for list in [
        "languages",
        "accents",
        "workAuthorizations",
        "notableWorks",
        "awards",
        "dreamGigs",
        "skills",
        "availability",
    ] {
        assert_eq!(p[list], json!([]), "{list} should default to empty");
    }
    assert_eq!(p["unionStatus"], "NON_UNION");
    assert_eq!(p["productionExperienceYears"], 0);
    assert!(
        p["currency"].as_str().is_some_and(|c| c.len() == 3),
        "{p:#}"
    );
    assert!(p["location"].is_null());
}

#[actix_web::test]
async fn upserting_again_updates_the_same_profile() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;
    assert_no_errors(&upsert_talent(&app, &talent, full_talent_input()).await);
    let mut changed = full_talent_input();
    changed["stageName"] = json!("Nova Q.");
    changed["skills"] = json!(["juggling"]);

    let body = upsert_talent(&app, &talent, changed.clone()).await;

    assert_no_errors(&body);
    assert_matches_input(&body["data"]["upsertTalentProfile"], &changed);
    assert_eq!(app.row_count("talent_profiles").await, 1);
}

#[actix_web::test]
async fn country_and_currency_codes_are_normalised_to_upper_case() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;

    let body = upsert_talent(
        &app,
        &talent,
        json!({ "stageName": "Lower", "location": { "country": "fr" }, "currency": "eur" }),
    )
    .await;

    assert_no_errors(&body);
    assert_eq!(
        body["data"]["upsertTalentProfile"]["location"]["country"],
        "FR"
    );
    assert_eq!(body["data"]["upsertTalentProfile"]["currency"], "EUR");
}

#[actix_web::test]
async fn invalid_talent_input_is_bad_input_naming_the_field_path() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "stageName": "" }), "input.stageName"),
        (json!({ "stageName": "x".repeat(101) }), "input.stageName"),
        (
            json!({ "stageName": "A", "headline": "h".repeat(201) }),
            "input.headline",
        ),
        (
            json!({ "stageName": "A", "bio": "b".repeat(5001) }),
            "input.bio",
        ),
        (
            json!({ "stageName": "A", "location": { "country": "XY" } }),
            "input.location.country",
        ),
        (
            json!({ "stageName": "A", "location": { "country": "GBR" } }),
            "input.location.country",
        ),
        (
            json!({ "stageName": "A", "languages": [{ "language": "zz", "proficiency": "BASIC" }] }),
            "input.languages[0].language",
        ),
        (
            json!({ "stageName": "A", "languages": [
                { "language": "en", "proficiency": "NATIVE" },
                { "language": "english", "proficiency": "BASIC" }
            ] }),
            "input.languages[1].language",
        ),
        (
            json!({ "stageName": "A", "playingAgeMin": -1 }),
            "input.playingAgeMin",
        ),
        (
            json!({ "stageName": "A", "playingAgeMax": 121 }),
            "input.playingAgeMax",
        ),
        (
            json!({ "stageName": "A", "heightCm": 29 }),
            "input.heightCm",
        ),
        (
            json!({ "stageName": "A", "heightCm": 281 }),
            "input.heightCm",
        ),
        (json!({ "stageName": "A", "rateMin": -5 }), "input.rateMin"),
        (
            json!({ "stageName": "A", "currency": "ABC" }),
            "input.currency",
        ),
        (
            json!({ "stageName": "A", "workAuthorizations": ["GB", "XY"] }),
            "input.workAuthorizations[1]",
        ),
        (
            json!({ "stageName": "A", "skills": ["s".repeat(101)] }),
            "input.skills[0]",
        ),
    ];
    for (input, field) in cases {
        let body = upsert_talent(&app, &talent, input).await;
        assert_bad_input(&body, field);
    }
    assert_eq!(
        app.row_count("talent_profiles").await,
        0,
        "invalid input must not be saved"
    );
}

#[actix_web::test]
async fn inverted_ranges_are_bad_input_on_one_of_their_bounds() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;
    let cases: Vec<(Value, [&str; 2])> = vec![
        (
            json!({ "stageName": "A", "playingAgeMin": 40, "playingAgeMax": 30 }),
            ["input.playingAgeMin", "input.playingAgeMax"],
        ),
        (
            json!({ "stageName": "A", "rateMin": 500, "rateMax": 100 }),
            ["input.rateMin", "input.rateMax"],
        ),
    ];
    for (input, fields) in cases {
        let body = upsert_talent(&app, &talent, input).await;
        assert_bad_input_on_one_of(&body, &fields);
    }
    let inverted_window = upsert_talent(
        &app,
        &talent,
        json!({ "stageName": "A", "availability": [
            { "from": "2030-02-01T00:00:00Z", "to": "2030-01-01T00:00:00Z" }
        ] }),
    )
    .await;
    assert_eq!(
        inverted_window["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    let field = inverted_window["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_default();
    assert!(
        field.starts_with("input.availability[0]"),
        "{inverted_window:#}"
    );
}

#[actix_web::test]
async fn a_producer_profile_round_trips() {
    let app = spawn_app().await;
    let producer = app.register("PRODUCER").await;
    let viewer = app.register("TALENT").await;
    let input = json!({
        "company": "Northern Lights Pictures",
        "title": "Casting Director",
        "bio": "Twenty years of indie features.",
        "website": "https://northernlights.example"
    });

    let saved = app
        .gql_ok(
            "mutation($i: ProducerProfileInput!) { upsertProducerProfile(input: $i) { id company title bio website user { id } } }",
            json!({ "i": input }),
            Some(&producer.access_token),
        )
        .await;
    let read = app
        .gql_ok(
            "query($id: UUID!) { producerProfile(id: $id) { id company title bio website } }",
            json!({ "id": producer.id }),
            Some(&viewer.access_token),
        )
        .await;

    let saved = &saved["upsertProducerProfile"];
    assert_eq!(saved["id"], producer.id.to_string());
    assert_eq!(saved["user"]["id"], producer.id.to_string());
    for key in ["company", "title", "bio", "website"] {
        assert_eq!(saved[key], input[key], "{key}");
        assert_eq!(read["producerProfile"][key], input[key], "{key}");
    }
}

#[actix_web::test]
async fn invalid_producer_input_is_bad_input_naming_the_field() {
    let app = spawn_app().await;
    let producer = app.register("PRODUCER").await;
    let cases = [
        (json!({ "company": "" }), "input.company"),
        (json!({ "company": "c".repeat(201) }), "input.company"),
        (
            json!({ "company": "Co", "website": "javascript:alert(1)" }),
            "input.website",
        ),
    ];
    for (input, field) in cases {
        let body = app
            .gql(
                "mutation($i: ProducerProfileInput!) { upsertProducerProfile(input: $i) { id } }",
                json!({ "i": input }),
                Some(&producer.access_token),
            )
            .await;
        assert_bad_input(&body, field);
    }
}

#[actix_web::test]
async fn unknown_profiles_are_null() {
    let app = spawn_app().await;
    let viewer = app.register("TALENT").await;

    let data = app
        .gql_ok(
            "query($id: UUID!) { talentProfile(id: $id) { id } producerProfile(id: $id) { id } user(id: $id) { id } }",
            json!({ "id": uuid::Uuid::new_v4() }),
            Some(&viewer.access_token),
        )
        .await;

    assert!(data["talentProfile"].is_null());
    assert!(data["producerProfile"].is_null());
    assert!(data["user"].is_null());
}

async fn hiring_metrics(app: &TestApp, viewer: &TestUser, producer: &TestUser) -> Value {
    let data = app
        .gql_ok(
            "query($id: UUID!) { producerProfile(id: $id) { hiringMetrics { openJobs totalApplications hires medianDaysToHire } } }",
            json!({ "id": producer.id }),
            Some(&viewer.access_token),
        )
        .await;
    data["producerProfile"]["hiringMetrics"].clone()
}

#[actix_web::test]
async fn hiring_metrics_of_a_new_producer_are_zero_with_no_median() {
    let app = spawn_app().await;
    let producer = app.producer().await;

    let metrics = hiring_metrics(&app, &producer, &producer).await;

    assert_eq!(
        metrics,
        json!({ "openJobs": 0, "totalApplications": 0, "hires": 0, "medianDaysToHire": null })
    );
}

#[actix_web::test]
async fn hiring_metrics_count_open_jobs_and_applications_with_no_median_before_any_hire() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let open = app.open_job(&producer).await;
    let _draft = app.draft_job(&producer, chrono::Duration::days(3)).await;
    let closed = app.open_job(&producer).await;
    app.apply(&talent, open).await;
    app.apply(&talent, closed).await;
    assert_no_errors(&app.job_mutation(&producer, "closeJob", closed).await);

    let metrics = hiring_metrics(&app, &producer, &producer).await;

    assert_eq!(
        metrics,
        json!({ "openJobs": 1, "totalApplications": 2, "hires": 0, "medianDaysToHire": null })
    );
}

#[actix_web::test]
async fn hiring_metrics_report_hires_and_the_median_days_from_application_to_hire() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let admin = app.admin().await;
    let job = app.open_job(&producer).await;
    let other_job = app.open_job(&producer).await;
    let mut hired = Vec::new();
    for _ in 0..3 {
        let talent = app.talent().await;
        hired.push(app.apply(&talent, job).await);
    }
    let bystander = app.talent().await;
    app.apply(&bystander, other_job).await;
    // The three hires applied 1, 2 and 6 days ago: the median is 2 (the mean would be 3).
    for (app_id, days) in hired.iter().zip([1, 2, 6]) {
        app.sql(&format!(
            "UPDATE applications SET created_at = now() - interval '{days} days' WHERE id = '{app_id}'"
        ))
        .await;
        app.sql(&format!(
            "UPDATE application_events SET created_at = now() - interval '{days} days'
             WHERE application_id = '{app_id}' AND from_stage IS NULL"
        ))
        .await;
    }
    for stage in ["SHORTLISTED", "OFFERED", "HIRED"] {
        app.gql_ok(
            "mutation($ids: [UUID!]!, $s: ApplicationStage!) { moveApplications(ids: $ids, stage: $s) { id } }",
            json!({ "ids": hired, "s": stage }),
            Some(&producer.access_token),
        )
        .await;
    }

    let as_owner = hiring_metrics(&app, &producer, &producer).await;
    let as_admin = hiring_metrics(&app, &admin, &producer).await;

    assert_eq!(as_owner["openJobs"], 2);
    assert_eq!(as_owner["totalApplications"], 4);
    assert_eq!(as_owner["hires"], 3);
    let median = as_owner["medianDaysToHire"]
        .as_f64()
        .expect("a median once there are hires");
    assert!(
        (median - 2.0).abs() < 0.05,
        "median days to hire should be 2, got {median}"
    );
    assert_eq!(as_admin, as_owner);
}

#[actix_web::test]
async fn another_users_email_is_forbidden_but_your_own_and_an_admins_view_are_fine() {
    let app = spawn_app().await;
    let talent = app.register("TALENT").await;
    let other = app.register("PRODUCER").await;
    let admin = app.admin().await;
    let query = "query($id: UUID!) { user(id: $id) { id email } }";

    let by_other = app
        .gql(query, json!({ "id": talent.id }), Some(&other.access_token))
        .await;
    let by_self = app
        .gql(
            query,
            json!({ "id": talent.id }),
            Some(&talent.access_token),
        )
        .await;
    let by_admin = app
        .gql(query, json!({ "id": talent.id }), Some(&admin.access_token))
        .await;
    let me = app
        .gql(
            "query { me { email } }",
            json!({}),
            Some(&talent.access_token),
        )
        .await;

    assert_error(&by_other, "FORBIDDEN");
    assert_eq!(by_other["errors"][0]["path"], json!(["user", "email"]));
    assert!(
        !by_other.to_string().contains(&talent.email),
        "the address leaked: {by_other:#}"
    );
    assert_no_errors(&by_self);
    assert_eq!(by_self["data"]["user"]["email"], talent.email);
    assert_no_errors(&by_admin);
    assert_eq!(by_admin["data"]["user"]["email"], talent.email);
    assert_eq!(me["data"]["me"]["email"], talent.email);
}

#[actix_web::test]
async fn another_users_public_fields_are_visible_without_the_email() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let other = app.register("PRODUCER").await;

    let data = app
        .gql_ok(
            "query($id: UUID!) { user(id: $id) { id role displayName talentProfile { stageName } } }",
            json!({ "id": talent.id }),
            Some(&other.access_token),
        )
        .await;

    assert_eq!(data["user"]["role"], "TALENT");
    assert_eq!(data["user"]["talentProfile"]["stageName"], "Test Talent");
}

#[actix_web::test]
async fn talents_search_finds_profiles_by_text() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let nova = app.register("TALENT").await;
    let other = app.register("TALENT").await;
    assert_no_errors(&upsert_talent(&app, &nova, full_talent_input()).await);
    assert_no_errors(
        &upsert_talent(
            &app,
            &other,
            json!({ "stageName": "Rex Stone", "headline": "Stunt performer" }),
        )
        .await,
    );

    let data = app
        .gql_ok(
            "query($t: String) { talents(text: $t) { totalCount edges { node { id stageName } } } }",
            json!({ "t": "Nova" }),
            Some(&producer.access_token),
        )
        .await;
    let all = app
        .gql_ok(
            "query { talents { totalCount } }",
            json!({}),
            Some(&producer.access_token),
        )
        .await;

    assert_eq!(data["talents"]["totalCount"], 1, "{data:#}");
    assert_eq!(
        data["talents"]["edges"][0]["node"]["id"],
        nova.id.to_string()
    );
    assert_eq!(all["talents"]["totalCount"], 2);
}
