//! Jobs: creation as DRAFT, every field round-tripping, the status rules of publish / close /
//! cancel / markFilled / update, validation, filtering and visibility of drafts.

use crate::helpers::{
    assert_bad_input, assert_bad_input_on_one_of, assert_error, assert_no_errors, sorted_ids,
    sorted_node_ids, spawn_app, TestApp, TestUser,
};
use serde_json::{json, Value};
use uuid::Uuid;

const JOB_FIELDS: &str = r#"
    id title description projectName productionType location { city country } remote
    payMin payMax currency
    requirements { gender playingAgeMin playingAgeMax heightMinCm heightMaxCm
        languages { language proficiency } accents workAuthorizations unionStatus
        minExperienceYears skills }
    shootStart shootEnd applicationDeadline status applicationCount producer { id company }
    createdAt updatedAt
"#;

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

fn full_job_input() -> Value {
    json!({
        "title": "Werewolf hunter",
        "description": "A gothic horror feature shooting in the Carpathians.",
        "projectName": "Silver Moon",
        "productionType": "FILM",
        "location": { "city": "Brasov", "country": "RO" },
        "remote": false,
        "payMin": 500,
        "payMax": 1500,
        "currency": "EUR",
        "requirements": {
            "gender": "any",
            "playingAgeMin": 30,
            "playingAgeMax": 45,
            "heightMinCm": 170,
            "heightMaxCm": 195,
            "languages": [{ "language": "ro", "proficiency": "FLUENT" }],
            "accents": ["Transylvanian"],
            "workAuthorizations": ["RO", "DE"],
            "unionStatus": "NON_UNION",
            "minExperienceYears": 3,
            "skills": ["sword fighting"]
        },
        "shootStart": "2031-03-01T09:00:00Z",
        "shootEnd": "2031-04-15T18:00:00Z",
        "applicationDeadline": in_days(14)
    })
}

fn minimal_job_input(title: &str) -> Value {
    json!({
        "title": title,
        "description": "Details to follow.",
        "productionType": "TV",
        "applicationDeadline": in_days(7)
    })
}

async fn create_job(app: &TestApp, producer: &TestUser, input: Value) -> Value {
    app.gql(
        &format!("mutation($i: JobInput!) {{ createJob(input: $i) {{ {JOB_FIELDS} }} }}"),
        json!({ "i": input }),
        Some(&producer.access_token),
    )
    .await
}

async fn create_job_id(app: &TestApp, producer: &TestUser, input: Value) -> Uuid {
    let body = create_job(app, producer, input).await;
    assert_no_errors(&body);
    body["data"]["createJob"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

async fn publish(app: &TestApp, producer: &TestUser, job: Uuid) {
    assert_no_errors(&app.job_mutation(producer, "publishJob", job).await);
}

/// Whether two RFC 3339 strings name the same instant to the microsecond (what PostgreSQL keeps).
fn same_instant(a: &Value, b: &Value) -> bool {
    let parse = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok())
    };
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => (a - b).num_microseconds().is_some_and(|d| d.abs() < 1),
        _ => false,
    }
}

#[actix_web::test]
async fn a_new_job_is_a_draft_with_every_field_as_sent() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let input = full_job_input();

    let body = create_job(&app, &producer, input.clone()).await;

    assert_no_errors(&body);
    let job = &body["data"]["createJob"];
    assert_eq!(job["status"], "DRAFT");
    assert_eq!(job["applicationCount"], 0);
    assert_eq!(job["producer"]["id"], producer.id.to_string());
    for key in [
        "title",
        "description",
        "projectName",
        "productionType",
        "location",
        "remote",
        "payMin",
        "payMax",
        "currency",
        "requirements",
    ] {
        assert_eq!(job[key], input[key], "{key}");
    }
    for key in ["shootStart", "shootEnd", "applicationDeadline"] {
        assert!(
            same_instant(&job[key], &input[key]),
            "{key}: {} vs {}",
            job[key],
            input[key]
        );
    }
    let id = job["id"].as_str().expect("id");
    let read = app
        .gql_ok(
            &format!("query($id: UUID!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}"),
            json!({ "id": id }),
            Some(&producer.access_token),
        )
        .await;
    assert_eq!(read["job"]["requirements"], input["requirements"]);
}

#[actix_web::test]
async fn a_minimal_job_gets_empty_requirements_and_defaults() {
    let app = spawn_app().await;
    let producer = app.producer().await;

    let body = create_job(&app, &producer, minimal_job_input("Extra")).await;

    assert_no_errors(&body);
    let job = &body["data"]["createJob"];
    assert_eq!(job["remote"], false);
    assert!(job["location"].is_null());
    assert_eq!(job["requirements"]["languages"], json!([]));
    assert_eq!(job["requirements"]["skills"], json!([]));
    assert!(job["currency"].as_str().is_some_and(|c| c.len() == 3));
}

#[actix_web::test]
async fn a_producer_without_a_profile_cannot_create_jobs() {
    let app = spawn_app().await;
    let producer = app.register("PRODUCER").await;

    let body = create_job(&app, &producer, minimal_job_input("No profile")).await;

    assert_error(&body, "CONFLICT");
}

#[actix_web::test]
async fn publishing_a_draft_opens_it() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.draft_job(&producer, chrono::Duration::days(3)).await;

    let body = app.job_mutation(&producer, "publishJob", job).await;

    assert_no_errors(&body);
    assert_eq!(body["data"]["publishJob"]["status"], "OPEN");
    let anonymous = app
        .gql_ok(
            "query($id: UUID!) { job(id: $id) { status } }",
            json!({ "id": job }),
            None,
        )
        .await;
    assert_eq!(anonymous["job"]["status"], "OPEN");
}

#[actix_web::test]
async fn publishing_with_a_deadline_in_the_past_is_a_conflict() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.draft_job(&producer, -chrono::Duration::hours(1)).await;

    let body = app.job_mutation(&producer, "publishJob", job).await;

    assert_error(&body, "CONFLICT");
    let status = app
        .sql_values(&format!(
            "SELECT status::text AS value FROM jobs WHERE id = '{job}'"
        ))
        .await;
    assert_eq!(status, vec!["DRAFT".to_string()]);
}

#[actix_web::test]
async fn publishing_an_open_job_again_is_a_conflict() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;

    let body = app.job_mutation(&producer, "publishJob", job).await;

    assert_error(&body, "CONFLICT");
}

/// Puts a fresh job of `producer` in `status` through the API.
async fn job_in(app: &TestApp, producer: &TestUser, status: &str) -> Uuid {
    let job = app.draft_job(producer, chrono::Duration::days(5)).await;
    let steps: &[&str] = match status {
        "DRAFT" => &[],
        "OPEN" => &["publishJob"],
        "CLOSED" => &["publishJob", "closeJob"],
        "FILLED" => &["publishJob", "markJobFilled"],
        "CANCELLED" => &["cancelJob"],
        other => panic!("no route to {other}"),
    };
    for step in steps {
        assert_no_errors(&app.job_mutation(producer, step, job).await);
    }
    job
}

#[actix_web::test]
async fn job_status_changes_follow_the_rules() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    // (mutation, from, allowed -> the resulting status)
    let table: &[(&str, &str, Option<&str>)] = &[
        ("publishJob", "DRAFT", Some("OPEN")),
        ("publishJob", "CLOSED", None),
        ("publishJob", "FILLED", None),
        ("publishJob", "CANCELLED", None),
        ("closeJob", "OPEN", Some("CLOSED")),
        ("closeJob", "DRAFT", None),
        ("closeJob", "CLOSED", None),
        ("closeJob", "FILLED", None),
        ("closeJob", "CANCELLED", None),
        ("cancelJob", "DRAFT", Some("CANCELLED")),
        ("cancelJob", "OPEN", Some("CANCELLED")),
        ("cancelJob", "CLOSED", Some("CANCELLED")),
        ("cancelJob", "FILLED", None),
        ("cancelJob", "CANCELLED", None),
        ("markJobFilled", "OPEN", Some("FILLED")),
        ("markJobFilled", "CLOSED", Some("FILLED")),
        ("markJobFilled", "DRAFT", None),
        ("markJobFilled", "FILLED", None),
        ("markJobFilled", "CANCELLED", None),
    ];
    for (mutation, from, outcome) in table {
        let job = job_in(&app, &producer, from).await;

        let body = app.job_mutation(&producer, mutation, job).await;

        match outcome {
            Some(to) => {
                assert!(
                    body.get("errors").is_none(),
                    "{mutation} from {from}: {body:#}"
                );
                assert_eq!(
                    body["data"][*mutation]["status"], *to,
                    "{mutation} from {from}"
                );
            }
            None => {
                assert_eq!(
                    body["errors"][0]["extensions"]["code"], "CONFLICT",
                    "{mutation} from {from} should be a conflict: {body:#}"
                );
                let status = app
                    .sql_values(&format!(
                        "SELECT status::text AS value FROM jobs WHERE id = '{job}'"
                    ))
                    .await;
                assert_eq!(
                    status,
                    vec![from.to_string()],
                    "{mutation} from {from} changed the job"
                );
            }
        }
    }
}

async fn update_job(app: &TestApp, user: &TestUser, job: Uuid, input: Value) -> Value {
    app.gql(
        "mutation($id: UUID!, $i: JobInput!) { updateJob(id: $id, input: $i) { id title status payMax } }",
        json!({ "id": job, "i": input }),
        Some(&user.access_token),
    )
    .await
}

#[actix_web::test]
async fn drafts_and_open_jobs_can_be_updated() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    for status in ["DRAFT", "OPEN"] {
        let job = job_in(&app, &producer, status).await;
        let mut input = full_job_input();
        input["title"] = json!(format!("Updated while {status}"));

        let body = update_job(&app, &producer, job, input).await;

        assert_no_errors(&body);
        assert_eq!(
            body["data"]["updateJob"]["title"],
            format!("Updated while {status}")
        );
        assert_eq!(body["data"]["updateJob"]["payMax"], 1500);
        assert_eq!(
            body["data"]["updateJob"]["status"], status,
            "an update keeps the status"
        );
    }
}

#[actix_web::test]
async fn closed_filled_and_cancelled_jobs_cannot_be_updated() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    for status in ["CLOSED", "FILLED", "CANCELLED"] {
        let job = job_in(&app, &producer, status).await;

        let body = update_job(&app, &producer, job, full_job_input()).await;

        assert_error(&body, "CONFLICT");
    }
}

#[actix_web::test]
async fn updating_or_publishing_an_unknown_job_is_not_found() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let unknown = Uuid::new_v4();

    assert_error(
        &update_job(&app, &producer, unknown, full_job_input()).await,
        "NOT_FOUND",
    );
    assert_error(
        &app.job_mutation(&producer, "publishJob", unknown).await,
        "NOT_FOUND",
    );
    assert_error(
        &app.job_mutation(&producer, "closeJob", unknown).await,
        "NOT_FOUND",
    );
}

#[actix_web::test]
async fn invalid_job_input_is_bad_input_naming_the_field_path() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let with = |patch: Value| {
        let mut input = minimal_job_input("Valid title");
        for (k, v) in patch.as_object().expect("object") {
            input[k] = v.clone();
        }
        input
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(json!({ "title": "" })), "input.title"),
        (with(json!({ "title": "t".repeat(201) })), "input.title"),
        (
            with(json!({ "description": "d".repeat(10_001) })),
            "input.description",
        ),
        (
            with(json!({ "location": { "country": "XY" } })),
            "input.location.country",
        ),
        (with(json!({ "payMin": -1 })), "input.payMin"),
        (with(json!({ "currency": "ABC" })), "input.currency"),
        (
            with(
                json!({ "requirements": { "languages": [{ "language": "zz", "proficiency": "BASIC" }] } }),
            ),
            "input.requirements.languages[0].language",
        ),
        (
            with(json!({ "requirements": { "workAuthorizations": ["XY"] } })),
            "input.requirements.workAuthorizations[0]",
        ),
        (
            with(json!({ "requirements": { "playingAgeMin": 121 } })),
            "input.requirements.playingAgeMin",
        ),
    ];
    for (input, field) in cases {
        let body = create_job(&app, &producer, input).await;
        assert_bad_input(&body, field);
    }
    assert_eq!(app.row_count("jobs").await, 0);
}

#[actix_web::test]
async fn inverted_pay_and_shoot_ranges_are_bad_input() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let mut pay = minimal_job_input("Pay");
    pay["payMin"] = json!(900);
    pay["payMax"] = json!(100);
    let mut shoot = minimal_job_input("Shoot");
    shoot["shootStart"] = json!("2031-05-01T00:00:00Z");
    shoot["shootEnd"] = json!("2031-04-01T00:00:00Z");

    let pay_body = create_job(&app, &producer, pay).await;
    let shoot_body = create_job(&app, &producer, shoot).await;

    assert_bad_input_on_one_of(&pay_body, &["input.payMin", "input.payMax"]);
    assert_bad_input_on_one_of(&shoot_body, &["input.shootStart", "input.shootEnd"]);
}

async fn job_ids(app: &TestApp, filter: Value, token: Option<&str>) -> Vec<String> {
    let data = app
        .gql_ok(
            "query($f: JobFilter) { jobs(filter: $f, first: 100) { totalCount edges { node { id } } } }",
            json!({ "f": filter }),
            token,
        )
        .await;
    let ids = sorted_node_ids(&data["jobs"]);
    assert_eq!(
        data["jobs"]["totalCount"],
        ids.len(),
        "totalCount vs edges for {filter}"
    );
    ids
}

#[actix_web::test]
async fn jobs_can_be_filtered_by_text_type_country_remote_and_status() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let werewolf = create_job_id(&app, &producer, full_job_input()).await; // FILM, RO, not remote
    let mut ad = minimal_job_input("Sparkling water advert");
    ad["productionType"] = json!("COMMERCIAL");
    ad["location"] = json!({ "city": "Paris", "country": "FR" });
    let advert = create_job_id(&app, &producer, ad).await;
    let mut voice = minimal_job_input("Narrator for an audiobook");
    voice["productionType"] = json!("VOICE");
    voice["remote"] = json!(true);
    voice["location"] = json!({ "country": "FR" });
    let narrator = create_job_id(&app, &producer, voice).await;
    let closed = create_job_id(&app, &producer, minimal_job_input("Closed casting call")).await;
    for job in [werewolf, advert, narrator, closed] {
        publish(&app, &producer, job).await;
    }
    assert_no_errors(&app.job_mutation(&producer, "closeJob", closed).await);
    let _draft = app.draft_job(&producer, chrono::Duration::days(3)).await;

    assert_eq!(
        job_ids(&app, json!(null), None).await,
        sorted_ids(&[werewolf, advert, narrator])
    );
    assert_eq!(
        job_ids(&app, json!({ "text": "werewolf" }), None).await,
        sorted_ids(&[werewolf])
    );
    assert_eq!(
        job_ids(&app, json!({ "text": "Carpathians" }), None).await,
        sorted_ids(&[werewolf])
    );
    assert_eq!(
        job_ids(&app, json!({ "productionType": "COMMERCIAL" }), None).await,
        sorted_ids(&[advert])
    );
    assert_eq!(
        job_ids(&app, json!({ "country": "FR" }), None).await,
        sorted_ids(&[advert, narrator])
    );
    assert_eq!(
        job_ids(&app, json!({ "remote": true }), None).await,
        sorted_ids(&[narrator])
    );
    assert_eq!(
        job_ids(&app, json!({ "remote": false }), None).await,
        sorted_ids(&[werewolf, advert])
    );
    assert_eq!(
        job_ids(&app, json!({ "status": "CLOSED" }), None).await,
        sorted_ids(&[closed])
    );
    assert_eq!(
        job_ids(
            &app,
            json!({ "country": "FR", "productionType": "VOICE", "text": "audiobook" }),
            None
        )
        .await,
        sorted_ids(&[narrator])
    );
    assert_eq!(
        job_ids(&app, json!({ "text": "nothing matches this" }), None).await,
        Vec::<String>::new()
    );
}

#[actix_web::test]
async fn drafts_are_invisible_to_everyone_but_their_producer_and_admins() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let other = app.producer().await;
    let talent = app.talent().await;
    let admin = app.admin().await;
    let draft = app.draft_job(&producer, chrono::Duration::days(3)).await;
    let query = "query($id: UUID!) { job(id: $id) { id status } }";

    for (who, token) in [
        ("anonymous", None),
        ("other producer", Some(&other.access_token)),
        ("talent", Some(&talent.access_token)),
    ] {
        let body = app
            .gql(query, json!({ "id": draft }), token.map(String::as_str))
            .await;
        assert_no_errors(&body);
        assert!(
            body["data"]["job"].is_null(),
            "{who} sees the draft: {body:#}"
        );
        let listed = job_ids(
            &app,
            json!({ "status": "DRAFT" }),
            token.map(String::as_str),
        )
        .await;
        assert!(listed.is_empty(), "{who} lists the draft: {listed:?}");
    }
    for (who, user) in [("producer", &producer), ("admin", &admin)] {
        let body = app
            .gql_ok(query, json!({ "id": draft }), Some(&user.access_token))
            .await;
        assert_eq!(body["job"]["status"], "DRAFT", "{who}");
        let listed = job_ids(&app, json!({ "status": "DRAFT" }), Some(&user.access_token)).await;
        assert_eq!(listed, sorted_ids(&[draft]), "{who}");
    }
}

#[actix_web::test]
async fn cancelled_jobs_are_invisible_to_others() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let talent = app.talent().await;
    let job = job_in(&app, &producer, "CANCELLED").await;

    let data = app
        .gql_ok(
            "query($id: UUID!) { job(id: $id) { id } }",
            json!({ "id": job }),
            Some(&talent.access_token),
        )
        .await;

    assert!(data["job"].is_null());
}

#[actix_web::test]
async fn closed_and_filled_jobs_stay_visible_to_anyone() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    for status in ["CLOSED", "FILLED"] {
        let job = job_in(&app, &producer, status).await;

        let data = app
            .gql_ok(
                "query($id: UUID!) { job(id: $id) { status } }",
                json!({ "id": job }),
                None,
            )
            .await;

        assert_eq!(data["job"]["status"], status);
    }
}

#[actix_web::test]
async fn an_unknown_job_is_null() {
    let app = spawn_app().await;

    let data = app
        .gql_ok(
            "query($id: UUID!) { job(id: $id) { id } }",
            json!({ "id": Uuid::new_v4() }),
            None,
        )
        .await;

    assert!(data["job"].is_null());
}

#[actix_web::test]
async fn my_jobs_lists_only_the_callers_jobs_optionally_by_status() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let other = app.producer().await;
    let draft = app.draft_job(&producer, chrono::Duration::days(3)).await;
    let open = app.open_job(&producer).await;
    let _others = app.open_job(&other).await;
    let query =
        "query($s: JobStatus) { myJobs(status: $s) { totalCount edges { node { id status } } } }";

    let all = app
        .gql_ok(query, json!({ "s": null }), Some(&producer.access_token))
        .await;
    let drafts = app
        .gql_ok(query, json!({ "s": "DRAFT" }), Some(&producer.access_token))
        .await;

    assert_eq!(all["myJobs"]["totalCount"], 2);
    assert_eq!(sorted_node_ids(&all["myJobs"]), sorted_ids(&[draft, open]));
    assert_eq!(drafts["myJobs"]["totalCount"], 1);
    assert_eq!(
        drafts["myJobs"]["edges"][0]["node"]["id"],
        draft.to_string()
    );
}

#[actix_web::test]
async fn application_count_counts_the_jobs_applications() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = app.open_job(&producer).await;
    for _ in 0..2 {
        let talent = app.talent().await;
        app.apply(&talent, job).await;
    }

    let data = app
        .gql_ok(
            "query($id: UUID!) { job(id: $id) { applicationCount } }",
            json!({ "id": job }),
            None,
        )
        .await;

    assert_eq!(data["job"]["applicationCount"], 2);
}
