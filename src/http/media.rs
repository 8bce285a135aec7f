//! The local media store's own URLs: `PUT /media/upload/{key}` takes an upload on a signed,
//! expiring URL (streamed to disk, never more bytes than signed) while its item awaits it, one
//! writer at a time (`media::UploadLease`: a second PUT, or one after completion or deletion,
//! is refused before a byte is written), and
//! `GET /media/files/{key}` serves an object on a signed, expiring URL with HTTP Range support.

use crate::clients::storage::{LocalStore, UploadGrant, UrlError};
use crate::errors::AppError;
use crate::services::{media, AppState};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use std::collections::HashMap;
use tokio::io::AsyncWriteExt;

fn refuse(status: actix_web::http::StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": message.to_string() }))
}

fn url_error(e: UrlError) -> HttpResponse {
    refuse(actix_web::http::StatusCode::FORBIDDEN, e)
}

fn local(state: &AppState) -> Option<&LocalStore> {
    state.media_store.local()
}

fn param<'q>(query: &'q HashMap<String, String>, name: &str) -> &'q str {
    query.get(name).map(String::as_str).unwrap_or_default()
}

/// `PUT /media/upload/{key}?size&type&exp&sig`.
pub async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
    body: web::Payload,
) -> HttpResponse {
    let Some(store) = local(&state) else {
        return refuse(StatusCode::NOT_FOUND, "not found");
    };
    let grant = match store.verify_upload(
        &key,
        param(&query, "size"),
        param(&query, "type"),
        param(&query, "exp"),
        param(&query, "sig"),
    ) {
        Ok(grant) => grant,
        Err(e) => return url_error(e),
    };
    if let Err(problem) = check_headers(&req, &grant) {
        return refuse(StatusCode::BAD_REQUEST, problem);
    }
    let Some(path) = store.path(&grant.key) else {
        return url_error(UrlError::Malformed);
    };
    let mut lease = match media::begin_upload(&state, &grant.key).await {
        Ok(lease) => lease,
        Err(e) => return lease_refused(&e),
    };
    let part = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
    let answer = match receive(&state, body, &grant, &mut lease, &part).await {
        // Moved into place only while the item still awaits this upload (a deletion or a
        // completion meanwhile ends it here).
        Ok(Ok(())) => match lease.confirm(&state).await {
            Ok(()) => match tokio::fs::rename(&part, &path).await {
                Ok(()) => HttpResponse::Ok().finish(),
                Err(e) => {
                    tracing::error!(error = %e, "a finished upload could not be moved into place");
                    refuse(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the upload could not be stored",
                    )
                }
            },
            Err(e) => lease_refused(&e),
        },
        Ok(Err(status)) => {
            let message = match status {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    format!("more than the {} bytes declared", grant.size)
                }
                StatusCode::CONFLICT => "this upload no longer holds its item".to_string(),
                _ => format!("fewer than the {} bytes declared", grant.size),
            };
            refuse(status, message)
        }
        Err(e) => {
            tracing::warn!(error = %e, "an upload broke off");
            refuse(StatusCode::BAD_REQUEST, "the upload broke off")
        }
    };
    let _ = tokio::fs::remove_file(&part).await;
    if let Err(e) = lease.end(&state).await {
        tracing::warn!(
            code = e.code(),
            "an upload's lease was not given back; it runs out by itself"
        );
    }
    answer
}

/// The upload's own headers must match what its URL granted: the type always, the length
/// when sent. The error says which does not.
fn check_headers(req: &HttpRequest, grant: &UploadGrant) -> Result<(), String> {
    let sent_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if sent_type != grant.content_type {
        return Err(format!(
            "the upload must carry Content-Type: {}",
            grant.content_type
        ));
    }
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|length| length != grant.size) {
        return Err(format!("the upload must be exactly {} bytes", grant.size));
    }
    Ok(())
}

/// Writes the body to `part`, keeping the item's lease while it comes: exactly the granted
/// size, or the status that refuses it (too large, too short, the lease lost).
async fn receive(
    state: &AppState,
    mut body: web::Payload,
    grant: &UploadGrant,
    lease: &mut media::UploadLease,
    part: &std::path::Path,
) -> std::io::Result<Result<(), StatusCode>> {
    if let Some(dir) = part.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut file = tokio::fs::File::create(part).await?;
    let mut total: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
        total += chunk.len() as u64;
        if total > grant.size {
            return Ok(Err(StatusCode::PAYLOAD_TOO_LARGE));
        }
        file.write_all(&chunk).await?;
        if lease.keep(state).await.is_err() {
            return Ok(Err(StatusCode::CONFLICT));
        }
    }
    if total != grant.size {
        return Ok(Err(StatusCode::BAD_REQUEST));
    }
    file.sync_all().await?;
    Ok(Ok(()))
}

/// The answer to an upload that may not write its item.
fn lease_refused(e: &AppError) -> HttpResponse {
    let status = match e {
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(status, e.message())
}

/// `GET /media/files/{key}?type&exp&sig` (and HEAD), with Range requests.
pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    key: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let Some(store) = local(&state) else {
        return refuse(StatusCode::NOT_FOUND, "not found");
    };
    let content_type = param(&query, "type");
    if let Err(e) = store.verify_download(
        &key,
        content_type,
        param(&query, "exp"),
        param(&query, "sig"),
    ) {
        return url_error(e);
    }
    let Some(path) = store.path(&key) else {
        return url_error(UrlError::Malformed);
    };
    let mime: mime::Mime = content_type
        .parse()
        .unwrap_or(mime::APPLICATION_OCTET_STREAM);
    match actix_files::NamedFile::open_async(&path).await {
        Ok(file) => {
            let mut response = file
                .set_content_type(mime)
                .disable_content_disposition()
                .use_etag(true)
                .use_last_modified(true)
                .into_response(&req);
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("private, max-age=300"),
            );
            response
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            refuse(StatusCode::NOT_FOUND, "no such file")
        }
        Err(e) => {
            tracing::error!(error = %e, "a media file could not be opened");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file could not be read",
            )
        }
    }
}
