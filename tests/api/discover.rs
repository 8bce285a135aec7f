//! Discover: talents ranked for a job (`discoverFeed`), jobs ranked for a talent (`jobFeed`),
//! the live job feed across instances, the explain log and the match index's restarts.

use crate::helpers::{
    assert_bad_input, assert_error, assert_no_errors, spawn_app, spawn_app_with,
    spawn_with_settings, TestApp, TestUser,
};
use crate::notifications::{until_documented, OwnMongo};
use crate::subscriptions::{connect, next_event, next_message, subscribe, TRANSPORT_WS};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

const DISCOVER: &str = r#"query($j: UUID!, $f: DiscoverFilter, $first: Int, $after: String) {
    discoverFeed(jobId: $j, filter: $f, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { score talent { id stageName } job { id }
                factors { factor score weight verdict explanation } } } } }"#;
const JOB_FEED: &str = r#"query($first: Int, $after: String) { jobFeed(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { score job { id title } talent { id } } } } }"#;
const LIVE_JOB_FEED: &str = r#"subscription($min: Float) { jobFeed(minScore: $min) {
    score job { id title } talent { id } factors { factor verdict } } }"#;
const DISCOVER_LOG: &str = r#"query($j: UUID!, $v: UUID) { discoverLog(jobId: $j, viewerId: $v, first: 5) {
    edges { node { jobId viewerRole engineVersion request servedAt viewer { id }
        weights { factor weight }
        talents { talentId rank score factors { factor score verdict } } } } } }"#;

/// The French job's input: French at FLUENT, authorised for France, 400–600 EUR a day.
fn french_input(deadline: &str, language: &str) -> Value {
    json!({
        "title": "Detective in a period drama", "description": "A Paris-set period drama.",
        "productionType": "TV", "location": { "country": "FR" }, "payMin": 400, "payMax": 600,
        "currency": "EUR", "applicationDeadline": deadline,
        "requirements": { "languages": [{ "language": language, "proficiency": "FLUENT" }],
                          "workAuthorizations": ["FR"] } })
}

fn deadline() -> String {
    (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339()
}

/// A draft of the French job.
async fn french_draft(app: &TestApp, producer: &TestUser) -> Uuid {
    let created = app
        .gql_ok(
            "mutation($i: JobInput!) { createJob(input: $i) { id } }",
            json!({ "i": french_input(&deadline(), "fr") }),
            Some(&producer.access_token),
        )
        .await;
    created["createJob"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a job id")
}

async fn publish(app: &TestApp, producer: &TestUser, job: Uuid) {
    app.gql_ok(
        "mutation($id: UUID!) { publishJob(id: $id) { id } }",
        json!({ "id": job }),
        Some(&producer.access_token),
    )
    .await;
}

async fn french_job(app: &TestApp, producer: &TestUser) -> Uuid {
    let job = french_draft(app, producer).await;
    publish(app, producer, job).await;
    job
}

async fn set_profile(app: &TestApp, user: &TestUser, input: Value) {
    app.gql_ok(
        "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }",
        json!({ "i": input }),
        Some(&user.access_token),
    )
    .await;
}

fn fits_profile(name: &str) -> Value {
    json!({ "stageName": name, "languages": [{ "language": "fr", "proficiency": "NATIVE" }],
            "workAuthorizations": ["FR"], "rateMin": 450, "rateMax": 550, "currency": "EUR",
            "location": { "city": "Paris", "country": "FR" }, "unionStatus": "EQUITY" })
}

fn misses_profile(name: &str) -> Value {
    json!({ "stageName": name, "languages": [{ "language": "en", "proficiency": "NATIVE" }],
            "workAuthorizations": ["US"], "rateMin": 3000, "rateMax": 4000, "currency": "USD",
            "location": { "city": "Austin", "country": "US" } })
}

async fn talent_with(app: &TestApp, input: Value) -> TestUser {
    let user = app.register("TALENT").await;
    set_profile(app, &user, input).await;
    user
}

/// Waits until the instance's match index is built (its detailed readiness says so).
async fn index_ready(app: &TestApp) -> Value {
    for _ in 0..200 {
        let body: Value = app.readiness().await;
        if body["matchIndex"]["status"] == "ready" {
            return body["matchIndex"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the match index was not built in time");
}

async fn discover(app: &TestApp, user: &TestUser, job: Uuid, vars: Value) -> Value {
    let mut variables = json!({ "j": job });
    if let (Some(v), Some(extra)) = (variables.as_object_mut(), vars.as_object()) {
        v.extend(extra.clone());
    }
    app.gql(DISCOVER, variables, Some(&user.access_token)).await
}

/// The talent ids of a discover page, in order.
fn talents_of(body: &Value) -> Vec<String> {
    body["data"]["discoverFeed"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e["node"]["talent"]["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn job_ids_of(body: &Value) -> Vec<String> {
    body["data"]["jobFeed"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e["node"]["job"]["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `check` on `app`'s discover feed until it holds (a change travels as an event).
async fn until_discover(
    app: &TestApp,
    user: &TestUser,
    job: Uuid,
    what: &str,
    check: impl Fn(&[String]) -> bool,
) {
    let mut last = Vec::new();
    for _ in 0..200 {
        let body = discover(app, user, job, json!({ "first": 50 })).await;
        assert_no_errors(&body);
        last = talents_of(&body);
        if check(&last) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: the ranking did not change in time: {last:?}");
}

fn position(ids: &[String], user: &TestUser) -> Option<usize> {
    ids.iter().position(|id| *id == user.id.to_string())
}

#[actix_web::test]
async fn talents_are_ranked_best_first_with_their_factors() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = french_job(&app, &producer).await;
    let misses = talent_with(&app, misses_profile("Hank")).await;
    let fits = talent_with(&app, fits_profile("Camille")).await;
    index_ready(&app).await;
    until_discover(&app, &producer, job, "two talents", |ids| ids.len() == 2).await;

    let body = discover(&app, &producer, job, json!({ "first": 10 })).await;
    assert_no_errors(&body);
    let feed = &body["data"]["discoverFeed"];
    assert_eq!(
        talents_of(&body),
        [fits.id.to_string(), misses.id.to_string()]
    );
    assert_eq!(feed["totalCount"], 2);
    assert_eq!(feed["pageInfo"]["hasNextPage"], false);
    let first = &feed["edges"][0]["node"];
    let second = &feed["edges"][1]["node"];
    assert!(
        first["score"].as_f64() > second["score"].as_f64(),
        "{feed:#}"
    );
    assert_eq!(first["talent"]["stageName"], "Camille");
    assert_eq!(first["job"]["id"], job.to_string());
    assert_eq!(first["factors"].as_array().map(Vec::len), Some(9));
    assert_eq!(first["factors"][7]["verdict"], "MATCH", "{first:#}");
    assert_eq!(second["factors"][7]["verdict"], "NO_MATCH", "{second:#}");

    // The same breakdown as `match` gives for the pair.
    let pair = app
        .gql_ok(
            "query($j: UUID!, $t: UUID!) { match(jobId: $j, talentId: $t) { score } }",
            json!({ "j": job, "t": fits.id }),
            Some(&producer.access_token),
        )
        .await;
    assert_eq!(pair["match"]["score"], first["score"]);

    // Filters: country, union status, minimum score, applicants left out.
    let only = |filter: Value| discover(&app, &producer, job, json!({ "f": filter }));
    assert_eq!(
        talents_of(&only(json!({ "country": "US" })).await),
        [misses.id.to_string()]
    );
    assert_eq!(
        talents_of(&only(json!({ "unionStatus": "EQUITY" })).await),
        [fits.id.to_string()]
    );
    let min = first["score"].as_f64().unwrap_or(100.0);
    assert_eq!(
        talents_of(&only(json!({ "minScore": min })).await),
        [fits.id.to_string()]
    );
    app.apply(&fits, job).await;
    let without = only(json!({ "excludeApplicants": true })).await;
    assert_eq!(talents_of(&without), [misses.id.to_string()]);
    assert_eq!(without["data"]["discoverFeed"]["totalCount"], 1);
}

#[actix_web::test]
async fn profile_and_requirement_changes_reorder_the_ranking_on_every_instance() {
    let a = spawn_app().await;
    let b = spawn_with_settings(a.settings.clone(), a.db_name.clone()).await;
    let producer = a.producer().await;
    let job = french_job(&a, &producer).await;
    let fits = talent_with(&a, fits_profile("Camille")).await;
    let misses = talent_with(&a, misses_profile("Hank")).await;
    index_ready(&a).await;
    index_ready(&b).await;
    let order = |first: &TestUser, second: &TestUser| {
        let (first, second) = (first.id.to_string(), second.id.to_string());
        move |ids: &[String]| ids == [first.clone(), second.clone()]
    };
    until_discover(&b, &producer, job, "first ranking", order(&fits, &misses)).await;

    // Hank learns French and moves to Paris, through instance A; B ranks him first at once.
    let mut better = fits_profile("Hank");
    better["rateMin"] = json!(400);
    set_profile(&a, &misses, better).await;
    // Camille now speaks only English.
    let mut worse = fits_profile("Camille");
    worse["languages"] = json!([{ "language": "en", "proficiency": "NATIVE" }]);
    set_profile(&a, &fits, worse).await;
    until_discover(&b, &producer, job, "profile change", order(&misses, &fits)).await;

    // The job now wants English: Camille ranks first again.
    a.gql_ok(
        "mutation($id: UUID!, $i: JobInput!) { updateJob(id: $id, input: $i) { id } }",
        json!({ "id": job, "i": french_input(&deadline(), "en") }),
        Some(&producer.access_token),
    )
    .await;
    until_discover(&b, &producer, job, "requirement change", |ids| {
        position(ids, &fits) < position(ids, &misses)
    })
    .await;
}

#[actix_web::test]
async fn pages_never_repeat_or_skip_a_talent_while_other_profiles_change() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = french_job(&app, &producer).await;
    let mut talents = Vec::new();
    for n in 0..24 {
        // Rates spread around the pay, so scores differ; some tie.
        let mut profile = fits_profile(&format!("Talent {n}"));
        profile["rateMin"] = json!(300 + (n % 8) * 150);
        profile["rateMax"] = json!(300 + (n % 8) * 150);
        talents.push(talent_with(&app, profile).await);
    }
    index_ready(&app).await;
    until_discover(&app, &producer, job, "all talents", |ids| ids.len() == 24).await;

    let mut seen: Vec<String> = Vec::new();
    let mut changed: HashSet<String> = HashSet::new();
    let mut after: Option<String> = None;
    for page in 0.. {
        let body = discover(&app, &producer, job, json!({ "first": 5, "after": after })).await;
        assert_no_errors(&body);
        seen.extend(talents_of(&body));
        let info = &body["data"]["discoverFeed"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].as_str().map(String::from);
        // Between pages two profiles change: one jumps up, one falls.
        for (i, rate) in [((page * 5 + 3) % 24, 500), ((page * 7 + 1) % 24, 9000)] {
            let mut profile = fits_profile(&format!("Talent {i} changed"));
            profile["rateMin"] = json!(rate);
            profile["rateMax"] = json!(rate);
            set_profile(&app, &talents[i], profile).await;
            changed.insert(talents[i].id.to_string());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &seen {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let unchanged: Vec<String> = talents
        .iter()
        .map(|t| t.id.to_string())
        .filter(|id| !changed.contains(id))
        .collect();
    assert!(unchanged.len() >= 8, "enough talents stay unchanged");
    for id in &unchanged {
        assert_eq!(
            counts.get(id.as_str()),
            Some(&1),
            "{id} shown once: {seen:?}"
        );
    }
}

#[actix_web::test]
async fn the_job_feed_ranks_open_jobs_for_the_talent_and_drops_closed_ones() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let fits = talent_with(&app, fits_profile("Camille")).await;
    let french = french_job(&app, &producer).await;
    let other = app.open_job(&producer).await;
    let draft = french_draft(&app, &producer).await;
    index_ready(&app).await;
    let feed = |first: i32, after: Option<String>| {
        app.gql(
            JOB_FEED,
            json!({ "first": first, "after": after }),
            Some(&fits.access_token),
        )
    };
    let mut body = Value::Null;
    for _ in 0..200 {
        body = feed(10, None).await;
        if job_ids_of(&body).len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_no_errors(&body);
    let ids = job_ids_of(&body);
    assert_eq!(ids.len(), 2, "open jobs only: {body:#}");
    assert!(!ids.contains(&draft.to_string()));
    assert_eq!(ids[0], french.to_string(), "the French job fits best");
    assert_eq!(body["data"]["jobFeed"]["totalCount"], 2);
    assert_eq!(
        body["data"]["jobFeed"]["edges"][0]["node"]["talent"]["id"],
        fits.id.to_string()
    );
    let page = feed(1, None).await;
    let next = feed(
        1,
        page["data"]["jobFeed"]["pageInfo"]["endCursor"]
            .as_str()
            .map(String::from),
    )
    .await;
    assert_eq!(job_ids_of(&page), [french.to_string()]);
    assert_eq!(job_ids_of(&next), [other.to_string()]);

    app.job_mutation(&producer, "closeJob", french).await;
    for _ in 0..200 {
        if job_ids_of(&feed(10, None).await) == [other.to_string()] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a closed job stayed in the job feed");
}

#[actix_web::test]
async fn feeds_are_for_the_right_people_and_refuse_bad_input() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let stranger = app.producer().await;
    let admin = app.admin().await;
    let fits = talent_with(&app, fits_profile("Camille")).await;
    let bare = app.register("TALENT").await;
    let job = french_job(&app, &producer).await;
    index_ready(&app).await;

    let anonymous = app.gql(DISCOVER, json!({ "j": job }), None).await;
    assert_error(&anonymous, "UNAUTHENTICATED");
    assert_error(&discover(&app, &fits, job, json!({})).await, "FORBIDDEN");
    assert_error(
        &discover(&app, &stranger, job, json!({})).await,
        "FORBIDDEN",
    );
    assert_no_errors(&discover(&app, &admin, job, json!({})).await);
    assert_error(
        &discover(&app, &producer, Uuid::new_v4(), json!({})).await,
        "NOT_FOUND",
    );

    assert_error(&app.gql(JOB_FEED, json!({}), None).await, "UNAUTHENTICATED");
    assert_error(
        &app.gql(JOB_FEED, json!({}), Some(&producer.access_token))
            .await,
        "FORBIDDEN",
    );
    assert_error(
        &app.gql(JOB_FEED, json!({}), Some(&bare.access_token)).await,
        "NOT_FOUND",
    );

    for (vars, field) in [
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "f": { "minScore": 100.5 } }), "filter.minScore"),
        (json!({ "f": { "minScore": -1 } }), "filter.minScore"),
        (json!({ "f": { "country": "Narnia" } }), "filter.country"),
        (json!({ "after": "not-a-cursor" }), "after"),
    ] {
        assert_bad_input(&discover(&app, &producer, job, vars).await, field);
    }
    assert_bad_input(
        &app.gql(JOB_FEED, json!({ "first": 101 }), Some(&fits.access_token))
            .await,
        "first",
    );
    for weights in [
        json!([{ "factor": "AWARDS", "weight": -1 }]),
        json!([{ "factor": "AWARDS", "weight": 0 }, { "factor": "LANGUAGES", "weight": 0 },
               { "factor": "SALARY_ALIGNMENT", "weight": 0 }, { "factor": "DREAM_GIG", "weight": 0 },
               { "factor": "NOTABLE_WORKS", "weight": 0 }, { "factor": "AVAILABILITY", "weight": 0 },
               { "factor": "PRODUCTION_EXPERIENCE", "weight": 0 },
               { "factor": "PHYSICAL_ATTRIBUTES", "weight": 0 },
               { "factor": "WORK_AUTHORIZATION", "weight": 0 }]),
    ] {
        let body = app
            .gql(
                "mutation($j: UUID!, $w: [MatchWeightInput!]!) {
                    setJobMatchWeights(jobId: $j, weights: $w) { id } }",
                json!({ "j": job, "w": weights }),
                Some(&producer.access_token),
            )
            .await;
        assert_bad_input(&body, "weights");
    }

    // The live feed: talents only, minScore within 0..100.
    let mut socket = connect(&app, TRANSPORT_WS, &producer).await;
    subscribe(&mut socket, TRANSPORT_WS, "1", LIVE_JOB_FEED, json!({})).await;
    let refused = next_message(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(
        refused
            .as_ref()
            .and_then(crate::subscriptions::refusal_code),
        Some("FORBIDDEN"),
        "{refused:?}"
    );
    let mut socket = connect(&app, TRANSPORT_WS, &fits).await;
    subscribe(
        &mut socket,
        TRANSPORT_WS,
        "1",
        LIVE_JOB_FEED,
        json!({ "min": 150 }),
    )
    .await;
    let refused = next_message(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(
        refused
            .as_ref()
            .and_then(crate::subscriptions::refusal_code),
        Some("BAD_USER_INPUT"),
        "{refused:?}"
    );
}

#[actix_web::test]
async fn a_job_published_on_one_instance_reaches_matching_talents_subscribed_on_another() {
    let a = spawn_app().await;
    let b = spawn_with_settings(a.settings.clone(), a.db_name.clone()).await;
    let producer = a.producer().await;
    let fits = talent_with(&a, fits_profile("Camille")).await;
    let misses = talent_with(&a, misses_profile("Hank")).await;
    let job = french_draft(&a, &producer).await;
    index_ready(&b).await;
    // B's index has both profiles before the job is published.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = index_ready(&b).await;
        if stats["talents"] == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < give_up, "{stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut good = connect(&b, TRANSPORT_WS, &fits).await;
    subscribe(
        &mut good,
        TRANSPORT_WS,
        "1",
        LIVE_JOB_FEED,
        json!({ "min": 60 }),
    )
    .await;
    let mut bad = connect(&b, TRANSPORT_WS, &misses).await;
    subscribe(
        &mut bad,
        TRANSPORT_WS,
        "1",
        LIVE_JOB_FEED,
        json!({ "min": 60 }),
    )
    .await;
    // Subscriptions are registered before the job is published.
    for _ in 0..100 {
        if b.metrics_text()
            .await
            .contains("castyou_job_feed_subscribers 2")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    publish(&a, &producer, job).await;
    let pushed = next_event(&mut good, "1").await;
    let pushed = &pushed["data"]["jobFeed"];
    assert_eq!(pushed["job"]["id"], job.to_string(), "{pushed:#}");
    assert_eq!(pushed["talent"]["id"], fits.id.to_string());
    assert!(pushed["score"].as_f64() >= Some(60.0), "{pushed:#}");
    assert_eq!(pushed["factors"].as_array().map(Vec::len), Some(9));
    assert!(
        next_message(&mut bad, Duration::from_secs(2))
            .await
            .is_none(),
        "a talent below their threshold hears nothing"
    );

    // Changed while open: still the same job, so nothing new for the talent who had it.
    a.gql_ok(
        "mutation($id: UUID!, $i: JobInput!) { updateJob(id: $id, input: $i) { id } }",
        json!({ "id": job, "i": french_input(&deadline(), "fr") }),
        Some(&producer.access_token),
    )
    .await;
    assert!(
        next_message(&mut good, Duration::from_secs(2))
            .await
            .is_none(),
        "each job at most once"
    );
}

#[actix_web::test]
async fn the_explain_log_holds_every_page_served_even_across_a_mongodb_outage() {
    let mut mongo = OwnMongo::start().await;
    let uri = format!("mongodb://127.0.0.1:{}", mongo.port);
    let app = spawn_app_with(|s| s.mongodb.uri = uri.clone().into()).await;
    let producer = app.producer().await;
    let admin = app.admin().await;
    let job = french_job(&app, &producer).await;
    let fits = talent_with(&app, fits_profile("Camille")).await;
    let misses = talent_with(&app, misses_profile("Hank")).await;
    index_ready(&app).await;
    until_discover(&app, &producer, job, "two talents", |ids| ids.len() == 2).await;

    // The admin's pages, told apart from the producer's polling above by the viewer.
    let served = discover(&app, &admin, job, json!({ "first": 1 })).await;
    assert_no_errors(&served);
    let log = until_logged(&app, &admin, job, 1).await;
    let entry = &log[0];
    assert_eq!(entry["jobId"], job.to_string());
    assert_eq!(entry["viewer"]["id"], admin.id.to_string());
    assert_eq!(entry["viewerRole"], "ADMIN");
    assert_eq!(entry["engineVersion"], "castyou-9f/2");
    assert_eq!(entry["weights"].as_array().map(Vec::len), Some(9));
    let shown = &entry["talents"];
    assert_eq!(shown.as_array().map(Vec::len), Some(1), "{entry:#}");
    assert_eq!(shown[0]["talentId"], fits.id.to_string());
    assert_eq!(shown[0]["rank"], 1);
    let node = &served["data"]["discoverFeed"]["edges"][0]["node"];
    assert_eq!(shown[0]["score"], node["score"]);
    let factor_scores = |factors: &Value| -> Vec<Value> {
        factors
            .as_array()
            .map(|fs| fs.iter().map(|f| f["score"].clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        factor_scores(&shown[0]["factors"]),
        factor_scores(&node["factors"])
    );
    assert_error(
        &app.gql(
            DISCOVER_LOG,
            json!({ "j": job }),
            Some(&producer.access_token),
        )
        .await,
        "FORBIDDEN",
    );

    // MongoDB away: pages are still served, and their entries wait in the outbox.
    mongo.stop();
    let mut after = served["data"]["discoverFeed"]["pageInfo"]["endCursor"]
        .as_str()
        .map(String::from);
    let page = discover(
        &app,
        &admin,
        job,
        json!({ "first": 1, "after": after.take() }),
    )
    .await;
    assert_no_errors(&page);
    assert_eq!(talents_of(&page), [misses.id.to_string()]);
    // The first page again, within the minute: the same page for the same viewer is logged
    // once, not at every reload.
    let again = discover(&app, &admin, job, json!({ "first": 1 })).await;
    assert_no_errors(&again);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _mongo = mongo.restart().await;
    until_documented(&app).await;
    let log = until_logged(&app, &admin, job, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log_again = until_logged(&app, &admin, job, 2).await;
    assert_eq!(
        log_again.len(),
        2,
        "each distinct page once: {log_again:#?}"
    );
    assert_eq!(log[0]["talents"][0]["talentId"], misses.id.to_string());
    assert_eq!(log[0]["talents"][0]["rank"], 2);
    assert_eq!(log[1]["talents"][0]["talentId"], fits.id.to_string());
}

/// The explain log of `job` for `viewer` once it holds `n` entries, newest first.
async fn until_logged(app: &TestApp, admin: &TestUser, job: Uuid, n: usize) -> Vec<Value> {
    let mut log = Vec::new();
    for _ in 0..300 {
        let body = app
            .gql(
                DISCOVER_LOG,
                json!({ "j": job, "v": admin.id }),
                Some(&admin.access_token),
            )
            .await;
        assert_no_errors(&body);
        log = body["data"]["discoverLog"]["edges"]
            .as_array()
            .map(|edges| edges.iter().map(|e| e["node"].clone()).collect())
            .unwrap_or_default();
        if log.len() >= n {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the explain log holds {} entries, not {n}", log.len());
}

#[actix_web::test]
async fn a_restarted_index_is_rebuilt_and_ranks_the_same() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = french_job(&app, &producer).await;
    for n in 0..6 {
        let mut profile = fits_profile(&format!("Talent {n}"));
        profile["rateMin"] = json!(300 + n * 200);
        profile["rateMax"] = json!(300 + n * 200);
        talent_with(&app, profile).await;
    }
    index_ready(&app).await;
    until_discover(&app, &producer, job, "six talents", |ids| ids.len() == 6).await;
    let before = talents_of(&discover(&app, &producer, job, json!({})).await);
    let builds = index_ready(&app).await["builds"].as_u64().unwrap_or(0);

    let _ = app.matches.send(castyou_actors::matching::Crash).await;
    let mut rebuilt = Value::Null;
    for _ in 0..200 {
        rebuilt = index_ready(&app).await;
        if rebuilt["builds"].as_u64() > Some(builds) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rebuilt["builds"].as_u64(), Some(builds + 1), "{rebuilt}");
    assert_eq!(rebuilt["talents"], 6);
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("castyou_actor_restarts_total{actor=\"match_index\"} 1"));
    assert!(metrics.contains("castyou_match_index_ready 1"), "{metrics}");
    assert!(
        metrics.contains("castyou_match_index_talents 6"),
        "{metrics}"
    );
    assert!(metrics.contains("castyou_match_index_jobs 1"), "{metrics}");
    assert_eq!(
        talents_of(&discover(&app, &producer, job, json!({})).await),
        before
    );
}

#[actix_web::test]
async fn seeded_people_are_loaded_by_the_index_and_ranked() {
    let app = spawn_app().await;
    let pool = castyou::db::build_pool(&app.settings.database).expect("a pool");
    let mut conn = pool.get().await.expect("a connection");
    let plan = castyou::seed::Plan {
        talents: 1_200,
        jobs: 30,
        producers: 3,
        seed: 11,
    };
    let made = castyou::seed::run(&mut conn, "not-a-real-hash", plan)
        .await
        .expect("seeding");
    assert_eq!((made.talents, made.jobs, made.producers), (1_200, 30, 3));
    let open = app
        .sql_values("SELECT count(*)::text AS value FROM jobs WHERE status = 'OPEN'")
        .await;
    assert_eq!(open, ["30"]);

    // The index loads everything when an instance starts.
    let b = spawn_with_settings(app.settings.clone(), app.db_name.clone()).await;
    let stats = index_ready(&b).await;
    assert_eq!(stats["talents"], 1_200, "{stats}");
    assert_eq!(stats["jobs"], 30, "{stats}");
    let job: Uuid = b
        .sql_values("SELECT id::text AS value FROM jobs ORDER BY id LIMIT 1")
        .await[0]
        .parse()
        .expect("a job id");
    let admin = b.admin().await;
    let page = discover(&b, &admin, job, json!({ "first": 20 })).await;
    assert_no_errors(&page);
    assert_eq!(talents_of(&page).len(), 20);
    assert_eq!(page["data"]["discoverFeed"]["totalCount"], 1_200);
    let scores: Vec<f64> = page["data"]["discoverFeed"]["edges"]
        .as_array()
        .map(|edges| {
            edges
                .iter()
                .filter_map(|e| e["node"]["score"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

/// One request asking for `n` aliased discover feeds of `job`.
fn aliased_discover(n: usize, job: Uuid) -> String {
    let fields: String = (0..n)
        .map(|i| format!(" d{i}: discoverFeed(jobId: \"{job}\", first: 0) {{ totalCount }}"))
        .collect();
    format!("query {{{fields} }}")
}

#[actix_web::test]
async fn aliased_rankings_past_the_cap_are_refused_in_one_request_and_across_a_batch() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = french_draft(&app, &producer).await;
    talent_with(&app, fits_profile("Camille")).await;
    index_ready(&app).await;
    let computed = app.gauge("castyou_match_index_rankings_computed").await;

    // 64 aliased feeds of a draft in one request: refused before any ranks.
    let refused = app
        .gql(
            &aliased_discover(64, job),
            json!({}),
            Some(&producer.access_token),
        )
        .await;
    assert_error(&refused, "GRAPHQL_VALIDATION_FAILED");
    assert!(refused["data"].is_null(), "{refused}");

    // A batch of ten operations with one each: the first two run, the others are refused.
    let one = aliased_discover(1, job);
    let batch: Vec<Value> = (0..10).map(|_| json!({ "query": one })).collect();
    let answers = app.post_batch(&batch, &producer.access_token).await;
    assert_eq!(answers.len(), 10);
    for answer in &answers[..2] {
        assert_no_errors(answer);
    }
    for answer in &answers[2..] {
        assert_error(answer, "GRAPHQL_VALIDATION_FAILED");
    }
    // The two that ran asked for the same ranking: it was computed once.
    assert_eq!(
        app.gauge("castyou_match_index_rankings_computed").await,
        computed + 1
    );

    // Within the cap, a request runs as before.
    let two = app
        .gql(
            &aliased_discover(2, job),
            json!({}),
            Some(&producer.access_token),
        )
        .await;
    assert_no_errors(&two);
    assert_eq!(two["data"]["d1"]["totalCount"], 1);
}

#[actix_web::test]
async fn identical_rankings_asked_at_once_are_computed_once_and_a_changed_draft_is_ranked_again() {
    let app = spawn_app().await;
    let producer = app.producer().await;
    let job = french_draft(&app, &producer).await;
    for name in ["Camille", "Lea", "Hugo"] {
        talent_with(&app, fits_profile(name)).await;
    }
    index_ready(&app).await;
    let computed = app.gauge("castyou_match_index_rankings_computed").await;

    let asks = (0..8).map(|_| discover(&app, &producer, job, json!({ "first": 3 })));
    let pages = futures_util::future::join_all(asks).await;
    for page in &pages {
        assert_no_errors(page);
        assert_eq!(talents_of(page).len(), 3, "{page}");
        assert_eq!(talents_of(page), talents_of(&pages[0]));
    }
    assert_eq!(
        app.gauge("castyou_match_index_rankings_computed").await,
        computed + 1,
        "eight identical asks of a draft's ranking, one computation"
    );

    // The draft changes: its ranking is computed again, once.
    app.gql_ok(
        "mutation($id: UUID!, $i: JobInput!) { updateJob(id: $id, input: $i) { id } }",
        json!({ "id": job, "i": french_input(&deadline(), "en") }),
        Some(&producer.access_token),
    )
    .await;
    for _ in 0..3 {
        assert_no_errors(&discover(&app, &producer, job, json!({ "first": 3 })).await);
    }
    assert_eq!(
        app.gauge("castyou_match_index_rankings_computed").await,
        computed + 2
    );
}

#[actix_web::test]
async fn a_producer_reads_their_new_weights_at_once_on_any_instance() {
    let a = spawn_app().await;
    let b = spawn_with_settings(a.settings.clone(), a.db_name.clone()).await;
    let producer = a.producer().await;
    let job = french_job(&a, &producer).await;
    talent_with(&a, fits_profile("Camille")).await;
    index_ready(&a).await;
    index_ready(&b).await;
    until_discover(&b, &producer, job, "the talent", |ids| ids.len() == 1).await;

    for round in 0..8 {
        // Languages alone, then awards alone: each ranking must use the weights just set.
        let (factor, other) = if round % 2 == 0 {
            ("LANGUAGES", "AWARDS")
        } else {
            ("AWARDS", "LANGUAGES")
        };
        let weights: Vec<Value> = [
            "SALARY_ALIGNMENT",
            "WORK_AUTHORIZATION",
            "PHYSICAL_ATTRIBUTES",
            "NOTABLE_WORKS",
            "PRODUCTION_EXPERIENCE",
            "AWARDS",
            "DREAM_GIG",
            "LANGUAGES",
            "AVAILABILITY",
        ]
        .iter()
        .map(|f| json!({ "factor": f, "weight": if *f == factor { 1 } else { 0 } }))
        .collect();
        a.gql_ok(
            "mutation($j: UUID!, $w: [MatchWeightInput!]!) {
                setJobMatchWeights(jobId: $j, weights: $w) { id } }",
            json!({ "j": job, "w": weights }),
            Some(&producer.access_token),
        )
        .await;
        let app = if round % 4 < 2 { &b } else { &a };
        let page = discover(app, &producer, job, json!({ "first": 1 })).await;
        assert_no_errors(&page);
        let factors = &page["data"]["discoverFeed"]["edges"][0]["node"]["factors"];
        let weight_of = |name: &str| {
            factors
                .as_array()
                .and_then(|fs| fs.iter().find(|f| f["factor"] == name))
                .and_then(|f| f["weight"].as_f64())
        };
        assert_eq!(weight_of(factor), Some(1.0), "round {round}: {page:#}");
        assert_eq!(weight_of(other), Some(0.0), "round {round}: {page:#}");
    }
}
