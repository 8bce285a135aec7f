//! Embeddings and semantic search against a fake OpenAI-compatible embeddings endpoint
//! (wiremock) whose vectors are bags of words with a few synonyms folded together, so "sleuth"
//! lands where "detective" does and a lexical index cannot tell.

use crate::helpers::{spawn_app_with, spawn_with_settings, TestApp, TestUser};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const DIMS: usize = 256;
const MODEL: &str = "fake-embedder";

/// Deterministic vectors: each word (synonyms folded, stop words dropped) adds 1 to a bucket.
struct FakeEmbedder;

const STOP: &[&str] = &[
    "a", "an", "the", "in", "of", "and", "as", "to", "with", "for", "on", "who", "notable",
    "works", "skills", "dream", "roles", "played",
];

fn fold(word: &str) -> &str {
    match word {
        "sleuth" | "investigator" | "inspector" => "detective",
        "costume" | "historical" => "period",
        other => other,
    }
}

pub fn fake_vector(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIMS];
    let lower = text.to_lowercase();
    for word in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if STOP.contains(&word) {
            continue;
        }
        let word = fold(word);
        let mut h: u64 = 0xcbf29ce484222325;
        for b in word.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        v[(h % DIMS as u64) as usize] += 1.0;
    }
    v
}

impl Respond for FakeEmbedder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).expect("a JSON request");
        let inputs: Vec<String> = body["input"]
            .as_array()
            .expect("a batch of inputs")
            .iter()
            .map(|i| i.as_str().expect("text").to_string())
            .collect();
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": fake_vector(text)}))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": data,
            "model": MODEL,
            "usage": {"prompt_tokens": 10, "total_tokens": 10}
        }))
    }
}

/// The embeddings endpoint as the worker must call it.
async fn mount_embedder(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer sk-embed"))
        .and(body_partial_json(json!({
            "model": MODEL,
            "dimensions": DIMS,
            "encoding_format": "float"
        })))
        .respond_with(FakeEmbedder)
        .mount(server)
        .await;
}

fn with_endpoint(server: &MockServer) -> impl FnOnce(&mut castyou::configuration::Settings) {
    let base = format!("{}/v1", server.uri());
    move |s| {
        s.ai.base_url = Some(base);
        s.ai.api_key = Some("sk-embed".to_string().into());
        s.ai.embedding_model = MODEL.into();
        s.ai.embedding_dimensions = DIMS as u32;
        s.ai.semantic_min_similarity = 0.35;
        s.ai.worker_poll_secs = 1;
        s.ai.worker_retry_max_secs = 1;
        s.ai.retry_budget_ms = 200;
    }
}

async fn talent(app: &TestApp, profile: Value) -> TestUser {
    let user = app.register("TALENT").await;
    save(app, &user, profile).await;
    user
}

async fn save(app: &TestApp, user: &TestUser, profile: Value) {
    app.gql_ok(
        "mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }",
        json!({ "i": profile }),
        Some(&user.access_token),
    )
    .await;
}

fn detective() -> Value {
    json!({
        "stageName": "Maria Lopez",
        "headline": "Screen actor from Seville",
        "notableWorks": [{"title": "Detective Ruiz in a period drama", "role": "Lead", "year": 2024}]
    })
}

fn comedian() -> Value {
    json!({ "stageName": "Tom Baker", "headline": "Stand-up comedian and improviser" })
}

const SEARCH: &str = r#"query($q: String!, $s: Boolean) {
    searchTalents(query: $q, semantic: $s, first: 20) {
        edges { node { signals talent { stageName } } } } }"#;

async fn search(
    app: &TestApp,
    user: &TestUser,
    q: &str,
    semantic: bool,
) -> Vec<(String, Vec<String>)> {
    let body = app
        .gql_ok(
            SEARCH,
            json!({ "q": q, "s": semantic }),
            Some(&user.access_token),
        )
        .await;
    body["searchTalents"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["talent"]["stageName"]
                    .as_str()
                    .expect("name")
                    .to_string(),
                e["node"]["signals"]
                    .as_array()
                    .expect("signals")
                    .iter()
                    .map(|s| s.as_str().expect("signal").to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Waits until `done` holds (10 s at most).
async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every text the endpoint was asked to embed, in order.
async fn embedded_texts(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .filter(|r| r.url.path() == "/v1/embeddings")
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("json");
            body["input"]
                .as_array()
                .expect("inputs")
                .iter()
                .map(|i| i.as_str().expect("text").to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn backlog(app: &TestApp) -> i64 {
    app.row_count("embedding_backlog").await
}

#[actix_web::test]
async fn a_semantic_query_finds_what_talents_did_in_other_words() {
    let server = MockServer::start().await;
    mount_embedder(&server).await;
    let app = spawn_app_with(with_endpoint(&server)).await;
    let viewer = app.producer().await;
    talent(&app, detective()).await;
    talent(&app, comedian()).await;
    // No word of the query is in the profile: only the meaning matches.
    let query = "sleuth in a costume drama";
    until("the semantic hit", || async {
        search(&app, &viewer, query, true)
            .await
            .iter()
            .any(|(n, _)| n == "Maria Lopez")
    })
    .await;
    let hits = search(&app, &viewer, query, true).await;
    assert_eq!(
        hits,
        vec![("Maria Lopez".to_string(), vec!["SEMANTIC".to_string()])]
    );
    // Not asked for: the lexical lists alone find nothing.
    assert!(search(&app, &viewer, query, false).await.is_empty());
    // A name still finds by name, and by meaning when the words say the same.
    let by_name = search(&app, &viewer, "Maria Lopez", true).await;
    assert_eq!(by_name[0].0, "Maria Lopez");
    assert!(
        by_name[0].1.contains(&"FULL_TEXT".to_string()),
        "{by_name:?}"
    );

    // The query's vector is cached: asked once however often it is searched.
    for _ in 0..3 {
        search(&app, &viewer, query, true).await;
    }
    let asked = embedded_texts(&server)
        .await
        .iter()
        .filter(|t| *t == query)
        .count();
    assert_eq!(asked, 1);

    // Operators see the index and the worker.
    let ready: Value = app.readiness().await;
    assert_eq!(ready["ai"]["status"], "configured", "{ready}");
    assert_eq!(ready["ai"]["semanticIndex"]["status"], "ready", "{ready}");
    assert_eq!(ready["ai"]["semanticIndex"]["vectors"], 2, "{ready}");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("castyou_semantic_index_vectors 2"),
        "{metrics}"
    );
    assert!(metrics.contains("castyou_ai_configured 1"), "{metrics}");
}

#[actix_web::test]
async fn a_profile_edit_re_embeds_once_and_an_unchanged_save_does_not() {
    let server = MockServer::start().await;
    mount_embedder(&server).await;
    let app = spawn_app_with(with_endpoint(&server)).await;
    let maria = talent(&app, detective()).await;
    until("the first embedding", || async {
        backlog(&app).await == 0 && app.row_count("talent_embeddings").await == 2
    })
    .await;
    // PROFILE and WORKS (no dream gigs: nothing to embed).
    let first = embedded_texts(&server).await;
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first
            .iter()
            .any(|t| t == "Detective Ruiz in a period drama, as Lead, 2024"),
        "{first:?}"
    );

    // The same profile saved again: queued, settled, nothing sent.
    save(&app, &maria, detective()).await;
    until("the unchanged save to settle", || async {
        backlog(&app).await == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(embedded_texts(&server).await.len(), 2);

    // A new headline: the PROFILE text again, once; the works did not change.
    let mut edited = detective();
    edited["headline"] = json!("Screen and stage actor from Seville");
    save(&app, &maria, edited.clone()).await;
    until("the edit to be embedded", || async {
        embedded_texts(&server).await.len() == 3 && backlog(&app).await == 0
    })
    .await;
    let texts = embedded_texts(&server).await;
    assert!(texts[2].contains("Screen and stage actor"), "{texts:?}");
    save(&app, &maria, edited).await;
    until("the second unchanged save to settle", || async {
        backlog(&app).await == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(embedded_texts(&server).await.len(), 3);
    let models = app
        .sql_values("SELECT DISTINCT model || '/' || dims AS value FROM talent_embeddings")
        .await;
    assert_eq!(models, [format!("{MODEL}/{DIMS}")]);
}

#[actix_web::test]
async fn the_backlog_waits_out_an_endpoint_outage_and_another_instance_drains_it() {
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .mount(&down)
        .await;
    let a = spawn_app_with(with_endpoint(&down)).await;
    let viewer = a.producer().await;
    talent(&a, detective()).await;
    talent(&a, comedian()).await;
    until("a failed attempt for each", || async {
        a.sql_values(
            "SELECT count(*)::text AS value FROM embedding_backlog WHERE last_error IS NOT NULL",
        )
        .await
            == ["2"]
    })
    .await;
    let metrics = a.metrics_text().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("castyou_embedding_failures_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // Nothing lost: both wait, with the reason kept.
    assert_eq!(backlog(&a).await, 2);
    assert_eq!(a.row_count("talent_embeddings").await, 0);
    let reasons = a
        .sql_values("SELECT DISTINCT coalesce(last_error, '') AS value FROM embedding_backlog")
        .await;
    assert!(
        reasons.iter().all(|r| r.contains("overloaded")),
        "{reasons:?}"
    );
    // Search still answers from the lexical lists.
    assert_eq!(search(&a, &viewer, "Maria", true).await[0].0, "Maria Lopez");

    // The endpoint is back (here: for a second instance on the same database, while the first
    // still fails): the backlog drains and both instances' indexes hold the vectors.
    let up = MockServer::start().await;
    mount_embedder(&up).await;
    let mut settings = a.settings.clone();
    with_endpoint(&up)(&mut settings);
    let b = spawn_with_settings(settings, a.db_name.clone()).await;
    until("the backlog to drain", || async {
        backlog(&b).await == 0 && b.row_count("talent_embeddings").await == 3
    })
    .await;
    // B embeds the query and caches it; A, whose endpoint still fails, finds the cached
    // vector in the shared Redis.
    for app in [&b, &a] {
        until("the semantic hit on every instance", || async {
            search(app, &viewer, "sleuth drama", false).await.is_empty()
                && search(app, &viewer, "sleuth drama", true).await
                    == vec![("Maria Lopez".to_string(), vec!["SEMANTIC".to_string()])]
        })
        .await;
    }
}

const MATCH: &str = r#"query($j: UUID!, $t: UUID!) { match(jobId: $j, talentId: $t) {
    factors { factor score verdict explanation } } }"#;
const DISCOVER: &str = r#"query($j: UUID!) { discoverFeed(jobId: $j, first: 10) {
    edges { node { talent { id } factors { factor score verdict explanation } } } } }"#;

/// The factor named `name` of a list of factors.
fn factor<'v>(factors: &'v Value, name: &str) -> &'v Value {
    factors
        .as_array()
        .expect("factors")
        .iter()
        .find(|f| f["factor"] == name)
        .unwrap_or_else(|| panic!("no {name} in {factors}"))
}

#[actix_web::test]
async fn notable_works_and_dream_gigs_add_semantic_similarity_where_vectors_exist() {
    let server = MockServer::start().await;
    mount_embedder(&server).await;
    let app = spawn_app_with(with_endpoint(&server)).await;
    let producer = app.producer().await;
    // The job and the profile share no word the model's word overlap sees ("sleuth" and
    // "inspector" are "detective", "costume" and "historical" are "period" only to the
    // embeddings).
    let deadline = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let created = app
        .gql_ok(
            r#"mutation($d: DateTime!) { createJob(input: {
                title: "Sleuth for a costume series", description: "Inspector in a historical piece.",
                productionType: TV, applicationDeadline: $d }) { id } }"#,
            json!({ "d": deadline }),
            Some(&producer.access_token),
        )
        .await;
    let job = created["createJob"]["id"].as_str().expect("id").to_string();
    app.gql_ok(
        "mutation($id: UUID!) { publishJob(id: $id) { id } }",
        json!({ "id": job }),
        Some(&producer.access_token),
    )
    .await;
    let maria = talent(
        &app,
        json!({
            "stageName": "Maria Lopez",
            "notableWorks": [{"title": "Detective Ruiz in a period drama", "role": "Lead", "year": 2024}],
            "dreamGigs": ["Playing a detective in a period drama"]
        }),
    )
    .await;
    until("the job's and the talent's vectors", || async {
        backlog(&app).await == 0
            && app.row_count("job_embeddings").await == 1
            && app.row_count("talent_embeddings").await == 3
    })
    .await;

    let vars = json!({ "j": job, "t": maria.id });
    let with = app
        .gql_ok(MATCH, vars.clone(), Some(&producer.access_token))
        .await;
    let works = factor(&with["match"]["factors"], "NOTABLE_WORKS");
    let text = works["explanation"].as_str().expect("sentence");
    assert_eq!(works["verdict"], "PARTIAL", "{works}");
    assert!(works["score"].as_f64().expect("score") > 0.1, "{works}");
    assert!(
        text.contains("semantically")
            && !text.contains("not semantically")
            && text.contains("(similarity 0."),
        "{text}"
    );
    let dream = factor(&with["match"]["factors"], "DREAM_GIG");
    let text = dream["explanation"].as_str().expect("sentence");
    assert!(dream["score"].as_f64().expect("score") > 0.5, "{dream}");
    assert!(text.contains("The dream gig is semantically"), "{text}");

    // The match index reads the vectors too (EMBEDDINGS_STORED reached it): the discover
    // feed says the same.
    until("the discover feed to see the vectors", || async {
        let page = app
            .gql_ok(DISCOVER, json!({ "j": job }), Some(&producer.access_token))
            .await;
        page["discoverFeed"]["edges"][0]["node"]["factors"]
            .as_array()
            .map(|_| {
                factor(
                    &page["discoverFeed"]["edges"][0]["node"]["factors"],
                    "NOTABLE_WORKS",
                ) == works
            })
            .unwrap_or(false)
    })
    .await;

    // An instance without an endpoint on the same data: the word-overlap rules alone, as
    // before (nothing shared, another type → NO_MATCH, and no word about similarity).
    let mut settings = app.settings.clone();
    settings.ai.base_url = None;
    let plain = spawn_with_settings(settings, app.db_name.clone()).await;
    let without = plain
        .gql_ok(MATCH, vars, Some(&producer.access_token))
        .await;
    let works = factor(&without["match"]["factors"], "NOTABLE_WORKS");
    assert_eq!(works["verdict"], "NO_MATCH", "{works}");
    assert!(
        !works["explanation"]
            .as_str()
            .expect("sentence")
            .contains("semantic"),
        "{works}"
    );
    let dream = factor(&without["match"]["factors"], "DREAM_GIG");
    assert!(dream["score"].as_f64().expect("score") < 0.5, "{dream}");
    assert!(
        !dream["explanation"]
            .as_str()
            .expect("sentence")
            .contains("semantic"),
        "{dream}"
    );
}

/// How many search queries (not profile texts) the endpoint was asked to embed.
async fn query_embeddings(server: &MockServer, queries: &[String]) -> usize {
    embedded_texts(server)
        .await
        .iter()
        .filter(|t| queries.contains(t))
        .count()
}

#[actix_web::test]
async fn aliased_semantic_searches_make_at_most_the_capped_number_of_model_calls() {
    let server = MockServer::start().await;
    mount_embedder(&server).await;
    let app = spawn_app_with(with_endpoint(&server)).await;
    let viewer = app.producer().await;
    talent(&app, detective()).await;
    until("the semantic index", || async {
        !search(&app, &viewer, "sleuth drama", true).await.is_empty()
    })
    .await;
    let queries: Vec<String> = (0..64)
        .map(|i| format!("period sleuth number {i}"))
        .collect();

    // 64 aliased semantic searches with distinct texts in one request: refused, no call made.
    let fields: String = queries
        .iter()
        .enumerate()
        .map(|(i, q)| format!(" s{i}: searchTalents(query: \"{q}\") {{ edges {{ cursor }} }}"))
        .collect();
    let refused = app
        .gql(
            &format!("query {{{fields} }}"),
            json!({}),
            Some(&viewer.access_token),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{refused}"
    );
    assert_eq!(query_embeddings(&server, &queries).await, 0);

    // A batch of ten, one search each: two run (two calls), the rest are refused.
    let batch: Vec<Value> = queries[..10]
        .iter()
        .map(|q| json!({ "query": SEARCH, "variables": { "q": q, "s": true } }))
        .collect();
    let answers = app.post_batch(&batch, &viewer.access_token).await;
    let refused = answers
        .iter()
        .filter(|a| a["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED")
        .count();
    assert_eq!(refused, 8, "{answers:#?}");
    assert_eq!(query_embeddings(&server, &queries).await, 2);
}

#[actix_web::test]
async fn a_user_past_their_model_budget_gets_lexical_answers_without_model_calls() {
    let server = MockServer::start().await;
    mount_embedder(&server).await;
    let app = spawn_app_with(|s| {
        with_endpoint(&server)(s);
        s.ai.user_query_embeddings = 3;
    })
    .await;
    let viewer = app.producer().await;
    talent(&app, detective()).await;
    until("the semantic index", || async {
        app.gauge("castyou_semantic_index_vectors").await == 1
    })
    .await;

    let queries: Vec<String> = (0..5).map(|i| format!("Lopez sleuth {i}")).collect();
    for q in &queries {
        // Every search is answered: by name at least, by meaning while the budget lasts.
        let hits = search(&app, &viewer, q, true).await;
        assert_eq!(
            hits.first().map(|h| h.0.as_str()),
            Some("Maria Lopez"),
            "{q}"
        );
    }
    assert_eq!(query_embeddings(&server, &queries).await, 3);
    // A query already embedded costs nothing more.
    search(&app, &viewer, &queries[0], true).await;
    assert_eq!(query_embeddings(&server, &queries).await, 3);
    // Another user has a budget of their own.
    let other = app.producer().await;
    search(&app, &other, "Lopez sleuth other", true).await;
    assert_eq!(
        query_embeddings(&server, &["Lopez sleuth other".to_string()]).await,
        1
    );
}

#[actix_web::test]
async fn a_restarted_instance_opens_its_saved_graph_instead_of_rebuilding_it() {
    let server = MockServer::start().await;
    mount_embedder(&server).await;
    let dir =
        std::env::temp_dir().join(format!("castyou-search-{}", uuid::Uuid::new_v4().simple()));
    let endpoint = with_endpoint(&server);
    let app = spawn_app_with(|s| {
        endpoint(s);
        s.search.dir = dir.to_string_lossy().into_owned();
    })
    .await;
    let viewer = app.producer().await;
    talent(&app, detective()).await;
    talent(&app, comedian()).await;
    let query = "sleuth in a costume drama";
    let found = || async {
        search(&app, &viewer, query, true)
            .await
            .iter()
            .any(|(n, _)| n == "Maria Lopez")
    };
    until("the semantic hit", found).await;
    app.stop_gracefully().await;

    let restarted = spawn_with_settings(app.settings.clone(), app.db_name.clone()).await;
    until("the semantic hit after the restart", || async {
        !search(&restarted, &viewer, query, true).await.is_empty()
    })
    .await;
    let hits = search(&restarted, &viewer, query, true).await;
    assert_eq!(
        hits,
        vec![("Maria Lopez".to_string(), vec!["SEMANTIC".to_string()])]
    );
    let ready: Value = restarted.readiness().await;
    let index = &ready["ai"]["semanticIndex"];
    assert_eq!(index["loadedFrom"], "local", "{ready}");
    assert_eq!(index["vectors"], 2, "{ready}");
    assert_eq!(index["builds"], 1, "{ready}");
}
