//! Media processing end to end, on both stores: uploads through the returned URL, live progress
//! over a websocket until READY, renditions and poster frames of the expected size, downloads
//! (with ranges), hostile files, and an item whose worker died. Fixtures are made here: stills
//! with the `image` and JPEG crates, video and audio with `ffmpeg -f lavfi`.

use crate::helpers::{
    assert_error, spawn_app, spawn_app_with, spawn_with_settings, TestApp, TestUser,
};
use crate::media::settled;
use crate::subscriptions::{connect, next_message, subscribe, TRANSPORT_WS};
use castyou::configuration::{Settings, StorageKind};
use mongodb::bson::doc;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const REQUEST: &str = r#"mutation($k: MediaKind!, $t: String!, $s: Int!) {
    requestMediaUpload(kind: $k, contentType: $t, byteSize: $s, fileName: "mine") {
        uploadUrl method headers media { id } } }"#;
const COMPLETE: &str = r#"mutation($id: UUID!) { completeMediaUpload(id: $id) { id status } }"#;
const WATCH: &str = r#"subscription($id: UUID!) { mediaProcessing(mediaId: $id) {
    id status progress error width height durationSeconds url previewUrl thumbnailUrl } }"#;

/// Runs ffmpeg with `args` writing `name` in a fresh folder; the file's bytes.
fn ffmpeg(args: &[&str], name: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("castyou-fixture-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let out = dir.join(name);
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg runs (scripts/services.sh installs it)");
    assert!(status.success(), "ffmpeg {args:?}");
    let bytes = std::fs::read(&out).expect("the fixture");
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// A `seconds`-long MP4 of `w` × `h` with a tone.
fn mp4(w: u32, h: u32, seconds: f64) -> Vec<u8> {
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={w}x{h}:rate=25:duration={seconds}"),
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:duration={seconds}"),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
        "clip.mp4",
    )
}

/// Big-endian TIFF with an ImageDescription (standing in for private metadata such as a
/// location) and an Orientation, as an APP1 EXIF segment's content.
fn exif(orientation: u16) -> Vec<u8> {
    let mut t = b"Exif\0\0MM\0\x2A\0\0\0\x08".to_vec();
    t.extend_from_slice(&2u16.to_be_bytes());
    // ImageDescription, ASCII, 16 bytes at offset 38.
    t.extend_from_slice(&[0x01, 0x0E, 0, 2, 0, 0, 0, 16, 0, 0, 0, 38]);
    // Orientation, SHORT, 1.
    t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(b"SECRET-LOCATION\0");
    t
}

/// A `w` × `h` JPEG (stored sideways: EXIF orientation 6 turns it upright).
fn sideways_jpeg(w: u16, h: u16) -> Vec<u8> {
    let pixels: Vec<u8> = (0..u32::from(w) * u32::from(h))
        .flat_map(|i| {
            let (x, y) = (i % u32::from(w), i / u32::from(w));
            [(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]
        })
        .collect();
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
    encoder.add_app_segment(1, exif(6)).expect("exif");
    encoder
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("a jpeg");
    out
}

fn jpeg_size(bytes: &[u8]) -> (u32, u32) {
    castyou::clients::imaging::jpeg_size(bytes).expect("a JPEG")
}

/// Requests an upload, sends `bytes` exactly as the answer says, and returns the item's id.
async fn upload(app: &TestApp, talent: &TestUser, kind: &str, ct: &str, bytes: &[u8]) -> String {
    let body = app
        .gql_ok(
            REQUEST,
            json!({ "k": kind, "t": ct, "s": bytes.len() }),
            Some(&talent.access_token),
        )
        .await;
    let upload = &body["requestMediaUpload"];
    let mut put = app.client.put(upload["uploadUrl"].as_str().expect("a URL"));
    for (name, value) in upload["headers"].as_object().expect("headers") {
        // The client sets the length itself; an S3 URL has it signed.
        if !name.eq_ignore_ascii_case("content-length") {
            put = put.header(name, value.as_str().expect("a value"));
        }
    }
    let response = put.body(bytes.to_vec()).send().await.expect("the upload");
    assert!(response.status().is_success(), "{}", response.status());
    upload["media"]["id"].as_str().expect("an id").to_string()
}

async fn complete(app: &TestApp, talent: &TestUser, id: &str) -> Value {
    app.gql_ok(COMPLETE, json!({ "id": id }), Some(&talent.access_token))
        .await
}

async fn get(app: &TestApp, url: &str, range: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(url);
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    request.send().await.expect("a download")
}

async fn bytes_of(app: &TestApp, url: &str) -> Vec<u8> {
    let response = get(app, url, None).await;
    assert_eq!(response.status(), 200, "{url}");
    response.bytes().await.expect("a body").to_vec()
}

/// Every state `mediaProcessing` sends until READY or FAILED (and the stream's completion).
async fn watch_until_settled(socket: &mut crate::subscriptions::Socket, id: &str) -> Vec<Value> {
    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let message = next_message(socket, deadline.saturating_duration_since(Instant::now()))
            .await
            .expect("a message before the deadline");
        match message["type"].as_str() {
            Some("next") => {
                assert_eq!(message["id"], id, "{message}");
                let item = message["payload"]["data"]["mediaProcessing"].clone();
                assert!(item.is_object(), "{message}");
                states.push(item);
            }
            Some("complete") => return states,
            _ => panic!("unexpected {message}"),
        }
    }
}

fn assert_progress_rises_to_ready(states: &[Value]) {
    let progress: Vec<f64> = states
        .iter()
        .map(|s| s["progress"].as_f64().expect("progress"))
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress goes back: {progress:?}"
    );
    let last = states.last().expect("a state");
    assert_eq!(last["status"], "READY", "{states:#?}");
    assert_eq!(last["progress"], 1.0);
    assert!(
        states.iter().any(|s| s["status"] == "PROCESSING"),
        "{states:#?}"
    );
}

/// An S3 bucket of its own on the test S3 API (moto, started by scripts/services.sh).
pub async fn s3_bucket(settings: &mut Settings) {
    use rusty_s3::S3Action;
    let name = format!("castyou-{}", uuid::Uuid::new_v4().simple());
    settings.media.storage = StorageKind::S3;
    let port = std::env::var("CASTYOU_S3_PORT").unwrap_or_else(|_| "4569".into());
    settings.media.s3.endpoint = format!("http://127.0.0.1:{port}");
    settings.media.s3.bucket = name.clone();
    settings.media.s3.access_key = "castyou-test".into();
    settings.media.s3.secret_key = Some("castyou-test-secret".to_string().into());
    settings.media.s3.path_style = true;
    let bucket = rusty_s3::Bucket::new(
        settings.media.s3.endpoint.parse().expect("a URL"),
        rusty_s3::UrlStyle::Path,
        name,
        settings.media.s3.region.clone(),
    )
    .expect("a bucket");
    let credentials = rusty_s3::Credentials::new("castyou-test", "castyou-test-secret");
    let url = bucket
        .create_bucket(&credentials)
        .sign(Duration::from_secs(60));
    let response = reqwest::Client::new()
        .put(url)
        .header("Content-Length", "0")
        .send()
        .await
        .expect("the S3 API answers (scripts/services.sh starts it)");
    assert!(response.status().is_success(), "{}", response.status());
}

async fn s3_app() -> TestApp {
    let mut s3 = Settings::load_for(castyou::configuration::Environment::Test).expect("settings");
    s3_bucket(&mut s3).await;
    spawn_app_with(move |s| s.media = s3.media).await
}

/// Every kind, end to end, on `app`'s store.
async fn every_kind_is_processed(app: &TestApp) {
    let talent = app.talent().await;
    let producer = app.producer().await;

    // A headshot stored sideways, with private EXIF, followed live from before its completion.
    let still = sideways_jpeg(1600, 1200);
    let id = upload(app, &talent, "HEADSHOT", "image/jpeg", &still).await;
    let mut socket = connect(app, TRANSPORT_WS, &talent).await;
    subscribe(&mut socket, TRANSPORT_WS, &id, WATCH, json!({ "id": id })).await;
    // The first state is the item as it is when subscribing.
    let first = next_message(&mut socket, Duration::from_secs(10))
        .await
        .expect("the first state");
    assert_eq!(
        first["payload"]["data"]["mediaProcessing"]["status"], "AWAITING_UPLOAD",
        "{first}"
    );
    complete(app, &talent, &id).await;
    let states = watch_until_settled(&mut socket, &id).await;
    assert_progress_rises_to_ready(&states);
    let ready = states.last().expect("READY");
    // Turned upright: 1200 wide, 1600 high.
    assert_eq!(
        (&ready["width"], &ready["height"]),
        (&json!(1200), &json!(1600))
    );
    // `url` is the photo at its own size, its pixels untouched, without its private metadata:
    // only the orientation stays (as a minimal EXIF), so viewers still turn it upright.
    let full = bytes_of(app, ready["url"].as_str().expect("url")).await;
    assert_eq!(jpeg_size(&full), (1600, 1200));
    assert!(!String::from_utf8_lossy(&full).contains("SECRET-LOCATION"));
    let orientation_only: &[u8] = b"Exif\0\0MM\0\x2A\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06";
    assert!(
        full.windows(orientation_only.len())
            .any(|w| w == orientation_only),
        "the orientation is kept, alone"
    );
    assert_eq!(
        full.len(),
        still.len() - exif(6).len() + (orientation_only.len() + 6)
    );
    let large = bytes_of(app, ready["previewUrl"].as_str().expect("preview")).await;
    let small = bytes_of(app, ready["thumbnailUrl"].as_str().expect("thumb")).await;
    assert_eq!(jpeg_size(&large), (960, 1280));
    assert_eq!(jpeg_size(&small), (240, 320));
    for rendition in [&large, &small] {
        let text = String::from_utf8_lossy(rendition);
        assert!(!text.contains("SECRET-LOCATION") && !text.contains("Exif"));
    }
    // Others see it now, with the same renditions.
    let theirs = app
        .gql_ok(
            "query($id: UUID!) { media(id: $id) { status thumbnailUrl } }",
            json!({ "id": id }),
            Some(&producer.access_token),
        )
        .await;
    assert_eq!(theirs["media"]["status"], "READY");
    let doc = app
        .documents("media_metadata", doc! { "_id": &id }, 1)
        .await;
    let doc = doc.first().expect("the media metadata");
    assert_eq!(doc.get_str("outcome").expect("outcome"), "READY");
    assert_eq!(doc.get_i32("orientation").expect("orientation"), 6);
    assert_eq!(doc.get_array("renditions").expect("renditions").len(), 3);
    assert!(peak_memory(doc) > 0);
    let steps = doc.get_array("steps").expect("steps");
    assert!(steps.len() >= 3, "{doc:?}");

    // A reel: probed, a poster frame, and the video served with ranges.
    let video = mp4(640, 360, 3.0);
    let reel = upload(app, &talent, "REEL", "video/mp4", &video).await;
    let mut socket = connect(app, TRANSPORT_WS, &talent).await;
    complete(app, &talent, &reel).await;
    subscribe(
        &mut socket,
        TRANSPORT_WS,
        &reel,
        WATCH,
        json!({ "id": reel }),
    )
    .await;
    let states = watch_until_settled(&mut socket, &reel).await;
    let ready = states.last().expect("a state");
    assert_eq!(ready["status"], "READY", "{states:#?}");
    assert_eq!(
        (&ready["width"], &ready["height"]),
        (&json!(640), &json!(360))
    );
    let duration = ready["durationSeconds"].as_f64().expect("a duration");
    assert!((duration - 3.0).abs() < 0.2, "{duration}");
    let poster = bytes_of(app, ready["thumbnailUrl"].as_str().expect("poster")).await;
    assert_eq!(jpeg_size(&poster), (640, 360));
    let url = ready["url"].as_str().expect("url");
    let part = get(app, url, Some("bytes=1000-1999")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.bytes().await.expect("a body").to_vec(),
        video[1000..2000].to_vec()
    );
    let doc = app
        .documents("media_metadata", doc! { "_id": &reel }, 1)
        .await;
    let doc = doc.first().expect("the media metadata");
    assert_eq!(doc.get_str("videoCodec").expect("video codec"), "h264");
    assert_eq!(doc.get_str("audioCodec").expect("audio codec"), "aac");

    // A voice reel: probed, no picture.
    let voice = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:duration=2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
        ],
        "voice.mp3",
    );
    let voice_id = upload(app, &talent, "VOICE_REEL", "audio/mpeg", &voice).await;
    complete(app, &talent, &voice_id).await;
    let ready = settled(app, &talent, &voice_id).await;
    assert_eq!(ready["status"], "READY", "{ready:#}");
    assert_eq!(ready["thumbnailUrl"], Value::Null);
    let duration = ready["durationSeconds"].as_f64().expect("a duration");
    assert!((duration - 2.0).abs() < 0.2, "{duration}");
    assert_eq!(
        bytes_of(app, ready["url"].as_str().expect("url")).await,
        voice
    );

    // Deleting removes the renditions and the poster too.
    let delete = "mutation($id: UUID!) { deleteMedia(id: $id) }";
    for item in [&id, &reel] {
        let url = app
            .gql_ok(
                "query($id: UUID!) { media(id: $id) { thumbnailUrl } }",
                json!({ "id": item }),
                Some(&talent.access_token),
            )
            .await["media"]["thumbnailUrl"]
            .as_str()
            .expect("a thumbnail")
            .to_string();
        app.gql_ok(delete, json!({ "id": item }), Some(&talent.access_token))
            .await;
        assert!(get(app, &url, None).await.status().is_client_error());
    }
    assert!(app
        .documents("media_metadata", doc! { "_id": &id }, 0)
        .await
        .is_empty());
}

#[actix_web::test]
async fn every_kind_is_processed_live_on_the_local_store() {
    let app = spawn_app_with(|_| {}).await;
    every_kind_is_processed(&app).await;
}

#[actix_web::test]
async fn every_kind_is_processed_live_on_an_s3_api() {
    let app = s3_app().await;
    every_kind_is_processed(&app).await;
}

#[actix_web::test]
async fn s3_uploads_are_presigned_for_the_declared_type_and_size() {
    let app = s3_app().await;
    let talent = app.talent().await;
    let body = app
        .gql_ok(
            REQUEST,
            json!({ "k": "HEADSHOT", "t": "image/png", "s": 100 }),
            Some(&talent.access_token),
        )
        .await;
    let upload = &body["requestMediaUpload"];
    let url = upload["uploadUrl"].as_str().expect("url");
    let endpoint = &app.settings.media.s3.endpoint;
    assert!(url.starts_with(endpoint.as_str()), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    // The type and the length are part of what is signed.
    assert!(
        url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost")
            || url.contains("X-Amz-SignedHeaders=content-length;content-type;host"),
        "{url}"
    );
    assert_eq!(
        upload["headers"],
        json!({ "Content-Type": "image/png", "Content-Length": "100" })
    );
    // Nothing uploaded yet.
    let id = upload["media"]["id"].as_str().expect("id");
    assert_error(
        &app.gql(COMPLETE, json!({ "id": id }), Some(&talent.access_token))
            .await,
        "CONFLICT",
    );
}

/// A PNG whose header says `w` × `h` (CRC fixed), with one tiny data chunk.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut png = crate::media::png_like(200);
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[actix_web::test]
async fn hostile_files_fail_cleanly_and_the_workers_go_on() {
    // A short tool limit: the long video below must be stopped by it.
    let app = spawn_app_with(|s| s.media.tool_timeout_ms = 100).await;
    let talent = app.talent().await;

    // A decompression bomb: refused from its header, fast.
    let bomb = upload(
        &app,
        &talent,
        "HEADSHOT",
        "image/png",
        &png_claiming(50_000, 50_000),
    )
    .await;
    let started = Instant::now();
    complete(&app, &talent, &bomb).await;
    let failed = settled(&app, &talent, &bomb).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(failed["status"], "FAILED");
    let error = failed["error"].as_str().expect("a reason");
    assert!(error.contains("50000 × 50000"), "{error}");

    // A truncated MP4 (its index is at the end, cut off).
    let mut video = mp4(320, 240, 2.0);
    video.truncate(video.len() / 2);
    let truncated = upload(&app, &talent, "REEL", "video/mp4", &video).await;
    complete(&app, &talent, &truncated).await;
    assert_failed_with(&app, &talent, &truncated, "probing the file").await;

    // A 4K video whose frames take ffprobe/ffmpeg past the limit: killed, FAILED.
    let heavy = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=3840x2160:rate=30:duration=2.5",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "35",
            "-g",
            "1000",
            "-pix_fmt",
            "yuv420p",
        ],
        "heavy.mp4",
    );
    let long = upload(&app, &talent, "REEL", "video/mp4", &heavy).await;
    complete(&app, &talent, &long).await;
    assert_failed_with(&app, &talent, &long, "took longer than 0.1 s").await;
    // No tool is left running.
    let running = std::process::Command::new("pgrep")
        .args(["-f", &format!("m/{long}/original")])
        .output()
        .expect("pgrep");
    assert!(running.stdout.is_empty(), "still running: {running:?}");

    // Refused files are removed; the rows say why.
    for id in [&bomb, &truncated, &long] {
        let path = std::path::Path::new(&app.settings.media.dir).join(format!("m/{id}/original"));
        assert!(!path.exists(), "{path:?}");
    }
    // The workers are free and the server healthy: the next still is processed.
    let fine = upload(
        &app,
        &talent,
        "HEADSHOT",
        "image/jpeg",
        &sideways_jpeg(64, 48),
    )
    .await;
    complete(&app, &talent, &fine).await;
    assert_eq!(settled(&app, &talent, &fine).await["status"], "READY");
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    // The operators see the same: three failed, one ready, nothing left running.
    let ready: Value = app.readiness().await;
    let media = &ready["media"];
    assert_eq!(media["storage"], "local", "{ready:#}");
    assert_eq!(media["processing"], true, "{ready:#}");
    assert_eq!(
        (&media["failed"], &media["ready"], &media["running"]),
        (&json!(3), &json!(1), &json!(0)),
        "{ready:#}"
    );
}

#[actix_web::test]
async fn only_the_owner_follows_processing() {
    let app = spawn_app_with(|_| {}).await;
    let talent = app.talent().await;
    let other = app.talent().await;
    let id = upload(
        &app,
        &talent,
        "HEADSHOT",
        "image/png",
        &crate::media::png_like(300),
    )
    .await;
    let mut socket = connect(&app, TRANSPORT_WS, &other).await;
    subscribe(&mut socket, TRANSPORT_WS, "x", WATCH, json!({ "id": id })).await;
    let message = next_message(&mut socket, Duration::from_secs(10))
        .await
        .expect("an answer");
    assert_eq!(
        crate::subscriptions::refusal_code(&message),
        Some("FORBIDDEN"),
        "{message}"
    );
}

#[actix_web::test]
async fn an_item_whose_worker_died_is_processed_once_after_a_restart() {
    // This instance takes uploads but processes nothing (an API-only instance).
    let api = spawn_app_with(|s| s.media.process = false).await;
    let talent = api.talent().await;
    let ids = [
        upload(
            &api,
            &talent,
            "HEADSHOT",
            "image/jpeg",
            &sideways_jpeg(320, 200),
        )
        .await,
        upload(
            &api,
            &talent,
            "HEADSHOT",
            "image/jpeg",
            &sideways_jpeg(200, 320),
        )
        .await,
    ];
    for id in &ids {
        complete(&api, &talent, id).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Nothing processed it; now say a worker took the first and died holding its lease.
    api.sql(&format!(
        "UPDATE media_items SET attempts = 1, leased_until = now() + interval '2 seconds' \
         WHERE id = '{}'",
        ids[0]
    ))
    .await;
    assert_eq!(
        api.sql_values(
            "SELECT count(*)::text AS value FROM media_items WHERE status = 'PROCESSING'"
        )
        .await,
        vec!["2".to_string()]
    );

    // Its owner follows it on the API-only instance: the changes come from the instance that
    // processes it.
    let mut socket = connect(&api, TRANSPORT_WS, &talent).await;
    subscribe(
        &mut socket,
        TRANSPORT_WS,
        &ids[0],
        WATCH,
        json!({ "id": ids[0] }),
    )
    .await;

    // Two processing instances start on the same data (a restart, and another instance).
    let mut settings = api.settings.clone();
    settings.media.process = true;
    settings.media.poll_secs = 1;
    let first = spawn_with_settings(settings.clone(), api.db_name.clone()).await;
    let second = spawn_with_settings(settings, api.db_name.clone()).await;
    for id in &ids {
        assert_eq!(settled(&first, &talent, id).await["status"], "READY");
    }
    let states = watch_until_settled(&mut socket, &ids[0]).await;
    assert_eq!(states[0]["status"], "PROCESSING", "{states:#?}");
    assert_progress_rises_to_ready(&states);
    // Each once: one READY event and one metadata document each; the died-on item on its
    // second attempt, after its lease ran out.
    for (id, attempt) in [(&ids[0], 2), (&ids[1], 1)] {
        let ready = first
            .sql_values(&format!(
                "SELECT count(*)::text AS value FROM outbox_events WHERE kind = 'MEDIA_CHANGED' \
                 AND payload->'media'->>'id' = '{id}' AND payload->'media'->>'status' = 'READY'"
            ))
            .await;
        assert_eq!(ready, vec!["1".to_string()], "{id}");
        let processed = first
            .sql_values(&format!(
                "SELECT count(*)::text AS value FROM outbox_events WHERE kind = 'MEDIA_PROCESSED' \
                 AND payload->>'mediaId' = '{id}'"
            ))
            .await;
        assert_eq!(processed, vec!["1".to_string()], "{id}");
        let docs = second
            .documents("media_metadata", doc! { "_id": id.as_str() }, 1)
            .await;
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0].get_i32("attempt").expect("attempt"),
            attempt,
            "{id}"
        );
    }
}

/// Waits until item `id` settles and asserts it FAILED with a reason containing `part`.
async fn assert_failed_with(app: &TestApp, talent: &TestUser, id: &str, part: &str) {
    let failed = settled(app, talent, id).await;
    assert_eq!(failed["status"], "FAILED", "{failed:#}");
    let reason = failed["error"].as_str().expect("a reason");
    assert!(reason.contains(part), "{failed:#}");
}

/// The peak memory of the process a still was decoded in, from its media metadata (stored as
/// a 64-bit integer; a wire-compatible server may answer a small one as 32-bit).
fn peak_memory(doc: &mongodb::bson::Document) -> i64 {
    let value = doc
        .get("peakMemoryBytes")
        .expect("the decoder's peak memory");
    value
        .as_i64()
        .or_else(|| value.as_i32().map(i64::from))
        .expect("a number")
}

/// A progressive JPEG's tables and frame: `components` components of `side` × `side` (no
/// subsampling), one quantisation and one (one-code) DC Huffman table.
fn progressive_head(side: u16, components: u8) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    j.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
    j.extend_from_slice(&[1u8; 64]);
    let len = 8 + 3 * u16::from(components);
    j.extend_from_slice(&[0xFF, 0xC2]);
    j.extend_from_slice(&len.to_be_bytes());
    j.push(8);
    j.extend_from_slice(&side.to_be_bytes());
    j.extend_from_slice(&side.to_be_bytes());
    j.push(components);
    for c in 1..=components {
        j.extend_from_slice(&[c, 0x11, 0x00]);
    }
    j.extend_from_slice(&[0xFF, 0xC4, 0x00, 0x14, 0x00, 1]);
    j.extend_from_slice(&[0u8; 15]);
    j.push(0);
    j
}

/// `scans` empty DC scans of the first component, then the end.
fn with_scans(mut jpeg: Vec<u8>, scans: usize) -> Vec<u8> {
    for _ in 0..scans {
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00]);
    }
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

#[actix_web::test]
async fn jpeg_bombs_end_failed_within_their_budget_and_the_queue_moves_on() {
    let app = spawn_app_with(|s| {
        s.media.workers = 1;
        s.media.max_image_alloc = 128 << 20;
    })
    .await;
    let talent = app.talent().await;

    // 40,000 empty scans over a 7000 × 7000 grey image (400 KB): each scan would make the
    // decoder walk every block again. Refused from its markers.
    let scans = with_scans(progressive_head(7000, 1), 40_000);
    let scan_bomb = upload(&app, &talent, "HEADSHOT", "image/jpeg", &scans).await;
    // A 7000 × 7000 three-component progressive JPEG of a few hundred bytes, whose
    // coefficients alone would take 294 MB: refused before any is allocated.
    let coefficients = with_scans(progressive_head(7000, 3), 1);
    assert!(coefficients.len() < 300);
    let coefficient_bomb = upload(&app, &talent, "HEADSHOT", "image/jpeg", &coefficients).await;
    // A valid headshot behind them in the only worker's queue.
    let fine = upload(
        &app,
        &talent,
        "HEADSHOT",
        "image/jpeg",
        &sideways_jpeg(640, 480),
    )
    .await;
    let started = Instant::now();
    for id in [&scan_bomb, &coefficient_bomb, &fine] {
        complete(&app, &talent, id).await;
    }

    assert_failed_with(&app, &talent, &scan_bomb, "scans").await;
    assert_failed_with(&app, &talent, &coefficient_bomb, "MiB to decode").await;
    let ready = settled(&app, &talent, &fine).await;
    assert_eq!(ready["status"], "READY", "{ready:#}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the valid headshot waited {:?}",
        started.elapsed()
    );
    // The decoder stayed inside its budget: what its process held at its peak.
    let doc = app
        .documents("media_metadata", doc! { "_id": &coefficient_bomb }, 1)
        .await;
    let peak = peak_memory(&doc[0]);
    assert!(
        peak < 128 << 20,
        "the decoder's process peaked at {peak} bytes"
    );
}

#[actix_web::test]
async fn a_still_whose_decoding_outlives_its_budget_is_killed_and_failed() {
    let app = spawn_app_with(|s| {
        s.media.workers = 1;
        s.media.still_timeout_ms = 300;
    })
    .await;
    let talent = app.talent().await;
    // Within the scan limit, but 100 walks over 765,625 blocks take far longer than 0.3 s.
    let slow = with_scans(progressive_head(7000, 1), 100);
    let id = upload(&app, &talent, "HEADSHOT", "image/jpeg", &slow).await;
    complete(&app, &talent, &id).await;
    assert_failed_with(&app, &talent, &id, "took longer than 0.3 s").await;
    let running = std::process::Command::new("pgrep")
        .args(["-f", "media-still"])
        .output()
        .expect("pgrep");
    let running = String::from_utf8_lossy(&running.stdout).to_string();
    assert!(
        !running.lines().any(
            |pid| std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains("--cpu-secs\u{0}1\u{0}"))
        ),
        "a decoder is still running: {running}"
    );
}

#[actix_web::test]
async fn a_video_hiding_a_huge_second_stream_ends_failed_with_a_reason() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let mov = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=64x64:d=1:r=5",
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=9000x9000:d=0.2:r=5",
            "-map",
            "0",
            "-map",
            "1",
            "-c:v",
            "mjpeg",
            "-f",
            "mov",
        ],
        "two.mov",
    );
    let id = upload(&app, &talent, "REEL", "video/quicktime", &mov).await;
    complete(&app, &talent, &id).await;
    assert_failed_with(&app, &talent, &id, "9000 × 9000").await;
}

/// Requests an upload of `bytes`: the item's id, the upload URL and the headers to send.
async fn request_upload(
    app: &TestApp,
    talent: &TestUser,
    kind: &str,
    ct: &str,
    size: usize,
) -> (String, String, Vec<(String, String)>) {
    let body = app
        .gql_ok(
            REQUEST,
            json!({ "k": kind, "t": ct, "s": size }),
            Some(&talent.access_token),
        )
        .await;
    let upload = &body["requestMediaUpload"];
    let headers = upload["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
        .map(|(name, value)| (name.clone(), value.as_str().expect("a value").to_string()))
        .collect();
    (
        upload["media"]["id"].as_str().expect("an id").to_string(),
        upload["uploadUrl"].as_str().expect("a URL").to_string(),
        headers,
    )
}

async fn put(app: &TestApp, url: &str, headers: &[(String, String)], bytes: &[u8]) -> u16 {
    let mut request = app.client.put(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.body(bytes.to_vec()).send().await.expect("a PUT");
    response.status().as_u16()
}

/// The same number of bytes, other pixels: what someone swapping a reviewed file would send.
fn swapped(original: &[u8]) -> Vec<u8> {
    let mut other = sideways_jpeg(640, 480);
    other.resize(original.len(), 0);
    other
}

#[actix_web::test]
async fn an_upload_url_writes_one_pending_item_once_and_nothing_after() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let talent = app.talent().await;
    let still = sideways_jpeg(320, 240);
    let (id, url, headers) =
        request_upload(&app, &talent, "HEADSHOT", "image/jpeg", still.len()).await;

    // One writer at a time: while a slow upload streams, a second PUT to the URL is refused.
    let parsed = reqwest::Url::parse(&url).expect("a URL");
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connecting");
    let head = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        parsed.path(),
        parsed.query().unwrap_or_default(),
        still.len()
    );
    slow.write_all(head.as_bytes()).await.expect("the head");
    slow.write_all(&still[..100])
        .await
        .expect("the first bytes");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(put(&app, &url, &headers, &still).await, 409);
    slow.write_all(&still[100..]).await.expect("the rest");
    let mut answer = [0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut slow, &mut answer)
        .await
        .expect("an answer");
    assert_eq!(&answer, b"HTTP/1.1 200");

    complete(&app, &talent, &id).await;
    let ready = settled(&app, &talent, &id).await;
    assert_eq!(ready["status"], "READY", "{ready:#}");
    let served = bytes_of(&app, ready["url"].as_str().expect("url")).await;

    // After completion the URL writes nothing: refused, and the served bytes are the same.
    assert_eq!(put(&app, &url, &headers, &swapped(&still)).await, 409);
    assert_eq!(
        bytes_of(&app, ready["url"].as_str().expect("url")).await,
        served
    );
    let original = std::path::Path::new(&app.settings.media.dir).join(format!("m/{id}/original"));
    assert_eq!(std::fs::read(&original).expect("the original"), still);

    // After deletion it recreates nothing.
    app.gql_ok(
        "mutation($id: UUID!) { deleteMedia(id: $id) }",
        json!({ "id": id }),
        Some(&talent.access_token),
    )
    .await;
    assert_eq!(put(&app, &url, &headers, &still).await, 404);
    let folder = std::path::Path::new(&app.settings.media.dir).join(format!("m/{id}"));
    assert!(!folder.exists(), "{folder:?} came back");
}

#[actix_web::test]
async fn a_presigned_url_used_again_after_completion_cannot_swap_what_is_served() {
    let app = s3_app().await;
    let talent = app.talent().await;
    let still = sideways_jpeg(320, 240);
    let (id, url, headers) =
        request_upload(&app, &talent, "HEADSHOT", "image/jpeg", still.len()).await;
    assert_eq!(put(&app, &url, &headers, &still).await, 200);
    complete(&app, &talent, &id).await;
    let ready = settled(&app, &talent, &id).await;
    assert_eq!(ready["status"], "READY", "{ready:#}");
    let served = bytes_of(&app, ready["url"].as_str().expect("url")).await;

    // S3 still takes the PUT (the URL has not expired), but it lands where nothing is served
    // from, and is removed with the item.
    assert!((200..300).contains(&put(&app, &url, &headers, &swapped(&still)).await));
    let again = app
        .gql_ok(
            "query($id: UUID!) { media(id: $id) { url } }",
            json!({ "id": id }),
            Some(&talent.access_token),
        )
        .await;
    assert_eq!(
        bytes_of(&app, again["media"]["url"].as_str().expect("url")).await,
        served
    );
}
