//! Media uploads through the local store: signed upload URLs, the checks of
//! `completeMediaUpload`, who may see and delete what, and signed downloads with ranges.

use crate::helpers::{
    assert_bad_input, assert_error, spawn_app, spawn_app_with, TestApp, TestUser,
};
use castyou::clients::storage::LocalStore;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const REQUEST: &str = r#"mutation($k: MediaKind!, $t: String!, $s: Int!, $n: String) {
    requestMediaUpload(kind: $k, contentType: $t, byteSize: $s, fileName: $n) {
        uploadUrl method headers expiresAt
        media { id kind status contentType byteSize fileName progress url thumbnailUrl error owner { id } } } }"#;
const COMPLETE: &str = r#"mutation($id: UUID!) { completeMediaUpload(id: $id) {
    id status progress error url } }"#;
const MEDIA: &str = r#"query($id: UUID!) { media(id: $id) { id status fileName } }"#;
const PROFILE_MEDIA: &str = r#"query($id: UUID!) { talentProfile(id: $id) {
    media(kind: HEADSHOT) { id status } } }"#;

/// A real (2 × 2) PNG padded with zeros after its end to `len` bytes: decoders stop at IEND.
pub(crate) fn png_like(len: usize) -> Vec<u8> {
    let image =
        image::RgbImage::from_fn(2, 2, |x, y| image::Rgb([x as u8 * 200, y as u8 * 200, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("a png");
    let mut bytes = out.into_inner();
    assert!(bytes.len() <= len, "{} bytes", bytes.len());
    bytes.resize(len, 0);
    bytes
}

/// The item once it is READY or FAILED (polled as its owner sees it).
pub(crate) async fn settled(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let query = r#"query($id: UUID!) { media(id: $id) {
        id status progress error url thumbnailUrl width height durationSeconds } }"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let body = app
            .gql_ok(query, json!({ "id": id }), Some(&user.access_token))
            .await;
        let status = body["media"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == "READY" || status == "FAILED" {
            return body["media"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status} after 30 s: {body:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn request(
    app: &TestApp,
    user: &TestUser,
    kind: &str,
    content_type: &str,
    size: usize,
) -> Value {
    app.gql(
        REQUEST,
        json!({ "k": kind, "t": content_type, "s": size, "n": "../../etc/passwd.png" }),
        Some(&user.access_token),
    )
    .await
}

/// Requests an upload and returns (media id, upload URL).
async fn requested(
    app: &TestApp,
    user: &TestUser,
    content_type: &str,
    size: usize,
) -> (String, String) {
    let body = request(app, user, "HEADSHOT", content_type, size).await;
    let upload = &body["data"]["requestMediaUpload"];
    assert!(upload.is_object(), "{body:#}");
    (
        upload["media"]["id"].as_str().expect("id").to_string(),
        upload["uploadUrl"].as_str().expect("url").to_string(),
    )
}

async fn put(app: &TestApp, url: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .put(url)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("the upload request")
}

async fn complete(app: &TestApp, user: &TestUser, id: &str) -> Value {
    app.gql(COMPLETE, json!({ "id": id }), Some(&user.access_token))
        .await
}

fn stored_path(app: &TestApp, id: &str) -> std::path::PathBuf {
    std::path::Path::new(&app.settings.media.dir)
        .join("m")
        .join(id)
        .join("original")
}

#[actix_web::test]
async fn a_talent_uploads_through_the_signed_url_and_processing_starts() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let producer = app.producer().await;
    let bytes = png_like(4096);

    let body = request(&app, &talent, "HEADSHOT", "image/png", bytes.len()).await;
    let upload = &body["data"]["requestMediaUpload"];
    assert_eq!(upload["method"], "PUT", "{body:#}");
    assert_eq!(upload["headers"], json!({ "Content-Type": "image/png" }));
    let url = upload["uploadUrl"].as_str().expect("url");
    let id = upload["media"]["id"].as_str().expect("id");
    // Absolute, on this server, with a key made from the id only: the file name is a label.
    assert!(
        url.starts_with(&format!("{}/media/upload/m/{id}/original?", app.url(""))),
        "{url}"
    );
    assert!(!url.contains("passwd"), "{url}");
    let media = &upload["media"];
    assert_eq!(media["status"], "AWAITING_UPLOAD");
    assert_eq!(media["fileName"], "../../etc/passwd.png");
    assert_eq!(media["byteSize"], 4096);
    assert_eq!(media["owner"]["id"], talent.id.to_string());
    assert_eq!(
        (media["progress"].as_f64(), &media["url"]),
        (Some(0.0), &Value::Null)
    );

    // Unfinished media is the owner's to see.
    let listed = |user: &TestUser| {
        let token = user.access_token.clone();
        let app = &app;
        async move {
            app.gql_ok(PROFILE_MEDIA, json!({ "id": talent.id }), Some(&token))
                .await["talentProfile"]["media"]
                .as_array()
                .expect("a list")
                .len()
        }
    };
    let theirs = app
        .gql_ok(MEDIA, json!({ "id": id }), Some(&producer.access_token))
        .await;
    assert_eq!(theirs["media"], Value::Null);
    assert_eq!((listed(&talent).await, listed(&producer).await), (1, 0));

    // Completing before the upload: nothing is there yet.
    assert_error(&complete(&app, &talent, id).await, "CONFLICT");

    let response = put(&app, url, "image/png", bytes.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(std::fs::read(stored_path(&app, id)).expect("stored"), bytes);

    let done = complete(&app, &talent, id).await;
    assert_eq!(
        done["data"]["completeMediaUpload"]["status"], "PROCESSING",
        "{done:#}"
    );
    assert_eq!(done["data"]["completeMediaUpload"]["url"], Value::Null);
    // Once only.
    assert_error(&complete(&app, &talent, id).await, "CONFLICT");

    // Processed, it is everyone's to see.
    let ready = settled(&app, &talent, id).await;
    assert_eq!(ready["status"], "READY", "{ready:#}");
    let theirs = app
        .gql_ok(MEDIA, json!({ "id": id }), Some(&producer.access_token))
        .await;
    assert_eq!(theirs["media"]["status"], "READY");
    assert_eq!(listed(&producer).await, 1);
}

#[actix_web::test]
async fn types_sizes_roles_and_quotas_are_checked_before_any_upload() {
    let app = spawn_app_with(|s| s.media.quota_items = 2).await;
    let talent = app.talent().await;
    let producer = app.producer().await;

    assert_bad_input(
        &request(&app, &talent, "HEADSHOT", "image/gif", 100).await,
        "contentType",
    );
    assert_bad_input(
        &request(&app, &talent, "REEL", "image/png", 100).await,
        "contentType",
    );
    assert_bad_input(
        &request(&app, &talent, "HEADSHOT", "image/png", 0).await,
        "byteSize",
    );
    assert_bad_input(
        &request(&app, &talent, "HEADSHOT", "image/png", 20 * 1024 * 1024 + 1).await,
        "byteSize",
    );
    // A reel may be far larger than a headshot.
    let reel = request(&app, &talent, "REEL", "video/mp4", 500 * 1024 * 1024).await;
    assert_eq!(
        reel["data"]["requestMediaUpload"]["media"]["kind"], "REEL",
        "{reel:#}"
    );
    // Parameters and case do not matter; the stored type is the plain one.
    let voice = request(&app, &talent, "VOICE_REEL", "Audio/MPEG; codecs=mp3", 1000).await;
    assert_eq!(
        voice["data"]["requestMediaUpload"]["media"]["contentType"], "audio/mpeg",
        "{voice:#}"
    );
    // Two items is this test's quota.
    assert_bad_input(
        &request(&app, &talent, "HEADSHOT", "image/png", 100).await,
        "kind",
    );

    assert_error(
        &request(&app, &producer, "HEADSHOT", "image/png", 100).await,
        "FORBIDDEN",
    );
    let anonymous = app
        .gql(
            REQUEST,
            json!({ "k": "HEADSHOT", "t": "image/png", "s": 100 }),
            None,
        )
        .await;
    assert_error(&anonymous, "UNAUTHENTICATED");
}

#[actix_web::test]
async fn uploads_must_be_exactly_what_was_signed() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let (id, url) = requested(&app, &talent, "image/png", 1000).await;

    // More bytes than declared: refused, nothing kept.
    let response = put(&app, &url, "image/png", png_like(1001)).await;
    assert!(
        response.status() == 413 || response.status() == 400,
        "{}",
        response.status()
    );
    // Fewer.
    let response = app
        .client
        .put(&url)
        .header("Content-Type", "image/png")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            vec![Ok::<_, std::io::Error>(png_like(500))],
        )))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 400);
    // Another type than signed.
    assert_eq!(
        put(&app, &url, "image/jpeg", png_like(1000)).await.status(),
        400
    );
    assert!(!stored_path(&app, &id).exists());
    assert_error(&complete(&app, &talent, &id).await, "CONFLICT");

    // A tampered signature, size or key is refused.
    let tampered = url.replace("sig=", "sig=00");
    assert_eq!(
        put(&app, &tampered, "image/png", png_like(1000))
            .await
            .status(),
        403
    );
    let bigger = url.replace("size=1000", "size=2000");
    assert_eq!(
        put(&app, &bigger, "image/png", png_like(2000))
            .await
            .status(),
        403
    );
    let (other, _) = requested(&app, &talent, "image/png", 1000).await;
    let elsewhere = url.replace(&id, &other);
    assert_eq!(
        put(&app, &elsewhere, "image/png", png_like(1000))
            .await
            .status(),
        403
    );
    let escape = url.replace(&format!("m/{id}/original"), "m/../../../etc/passwd");
    assert!(put(&app, &escape, "image/png", png_like(1000))
        .await
        .status()
        .is_client_error());

    // The right bytes still go through.
    assert_eq!(
        put(&app, &url, "image/png", png_like(1000)).await.status(),
        200
    );
}

#[actix_web::test]
async fn expired_upload_urls_are_refused() {
    let app = spawn_app_with(|s| s.media.upload_ttl_secs = 1).await;
    let talent = app.talent().await;
    let (id, url) = requested(&app, &talent, "image/png", 100).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = put(&app, &url, "image/png", png_like(100)).await;
    assert_eq!(response.status(), 403);
    let text = response.text().await.expect("body");
    assert!(text.contains("expired"), "{text}");
    assert_error(&complete(&app, &talent, &id).await, "CONFLICT");
}

#[actix_web::test]
async fn an_executable_declared_as_an_image_fails_and_is_removed() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let mut elf = vec![0x7F, b'E', b'L', b'F', 2, 1, 1, 0];
    elf.resize(2048, 0x90);
    let (id, url) = requested(&app, &talent, "image/jpeg", elf.len()).await;
    assert_eq!(put(&app, &url, "image/jpeg", elf).await.status(), 200);
    let done = complete(&app, &talent, &id).await;
    let item = &done["data"]["completeMediaUpload"];
    assert_eq!(item["status"], "FAILED", "{done:#}");
    assert_eq!(item["error"], "the file is not a image/jpeg file");
    assert!(!stored_path(&app, &id).exists());
}

#[actix_web::test]
async fn only_the_owner_completes_and_deletes_and_deleting_removes_the_objects() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let other = app.talent().await;
    let (id, url) = requested(&app, &talent, "image/png", 300).await;
    assert_eq!(
        put(&app, &url, "image/png", png_like(300)).await.status(),
        200
    );

    assert_error(&complete(&app, &other, &id).await, "FORBIDDEN");
    let delete = "mutation($id: UUID!) { deleteMedia(id: $id) }";
    let refused = app
        .gql(delete, json!({ "id": id }), Some(&other.access_token))
        .await;
    assert_error(&refused, "FORBIDDEN");
    assert!(stored_path(&app, &id).exists());

    let deleted = app
        .gql_ok(delete, json!({ "id": id }), Some(&talent.access_token))
        .await;
    assert_eq!(deleted["deleteMedia"], true);
    assert!(!stored_path(&app, &id).exists());
    let gone = app
        .gql_ok(MEDIA, json!({ "id": id }), Some(&talent.access_token))
        .await;
    assert_eq!(gone["media"], Value::Null);
    assert_error(
        &app.gql(delete, json!({ "id": id }), Some(&talent.access_token))
            .await,
        "NOT_FOUND",
    );
}

#[actix_web::test]
async fn signed_downloads_serve_ranges_and_refuse_tampering() {
    let app = spawn_app().await;
    let talent = app.talent().await;
    let bytes: Vec<u8> = png_like(10_000)
        .into_iter()
        .enumerate()
        .map(|(i, b)| if i < 16 { b } else { (i % 251) as u8 })
        .collect();
    let (id, url) = requested(&app, &talent, "image/png", bytes.len()).await;
    assert_eq!(
        put(&app, &url, "image/png", bytes.clone()).await.status(),
        200
    );

    // The server's own signer (the same secret and base as the app's).
    let secret = app
        .settings
        .auth
        .jwt_secret
        .as_ref()
        .expect("a secret")
        .expose_secret()
        .to_string();
    let store = LocalStore::new(
        std::path::PathBuf::from(&app.settings.media.dir),
        &app.url(""),
        secret.as_bytes(),
    );
    let key = format!("m/{id}/original");
    let signed = store.download_url(&key, "image/png", chrono::Duration::minutes(5));
    let whole = app.client.get(&signed.url).send().await.expect("get");
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "image/png");
    assert_eq!(whole.bytes().await.expect("body").to_vec(), bytes);

    let part = app
        .client
        .get(&signed.url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .expect("ranged get");
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(
        part.bytes().await.expect("body").to_vec(),
        bytes[100..200].to_vec()
    );

    let tampered = signed.url.replace("type=image%2Fpng", "type=text%2Fhtml");
    assert_eq!(
        app.client
            .get(&tampered)
            .send()
            .await
            .expect("get")
            .status(),
        403
    );
    let expired = store.download_url(&key, "image/png", chrono::Duration::seconds(-3600));
    assert_eq!(
        app.client
            .get(&expired.url)
            .send()
            .await
            .expect("get")
            .status(),
        403
    );
    let foreign = LocalStore::new(
        std::path::PathBuf::from(&app.settings.media.dir),
        &app.url(""),
        b"some-other-secret-of-enough-length-000000",
    );
    let forged = foreign.download_url(&key, "image/png", chrono::Duration::minutes(5));
    assert_eq!(
        app.client
            .get(&forged.url)
            .send()
            .await
            .expect("get")
            .status(),
        403
    );
}

#[actix_web::test]
async fn uploads_never_completed_are_swept_with_their_objects() {
    let app = spawn_app_with(|s| {
        s.media.upload_ttl_secs = 1;
        s.media.sweep_secs = 1;
    })
    .await;
    let talent = app.talent().await;
    let (abandoned, url) = requested(&app, &talent, "image/png", 100).await;
    assert_eq!(
        put(&app, &url, "image/png", png_like(100)).await.status(),
        200
    );
    let (completed, url) = requested(&app, &talent, "image/png", 100).await;
    assert_eq!(
        put(&app, &url, "image/png", png_like(100)).await.status(),
        200
    );
    assert_eq!(
        complete(&app, &talent, &completed).await["data"]["completeMediaUpload"]["status"],
        "PROCESSING"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while stored_path(&app, &abandoned).exists() || app.row_count("media_items").await != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned upload was not swept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The completed one stays, objects and all.
    assert_eq!(settled(&app, &talent, &completed).await["status"], "READY");
    assert!(stored_path(&app, &completed).exists());
}
