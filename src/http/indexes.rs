//! `POST /indexes/{index}/rebuild` on the operators' listener: builds one of this instance's
//! indexes (`lexical`, `match`, `semantic`) again from PostgreSQL, as after rows were changed
//! by hand in SQL. The previous data keeps answering until the new build is complete; the next
//! copy saved is of the new build.

use actix::Recipient;
use actix_web::{web, HttpResponse};
use castyou_actors::kept::Rebuild;
use serde_json::json;

/// The indexes this instance keeps, by the name operators use.
pub struct Rebuilders(pub Vec<(&'static str, Recipient<Rebuild>)>);

pub async fn rebuild(index: web::Path<String>, rebuilders: web::Data<Rebuilders>) -> HttpResponse {
    let index = index.into_inner();
    let Some((name, actor)) = rebuilders.0.iter().find(|(name, _)| *name == index) else {
        let known: Vec<&str> = rebuilders.0.iter().map(|(name, _)| *name).collect();
        return HttpResponse::NotFound()
            .json(json!({ "error": format!("no index {index:?} here"), "indexes": known }));
    };
    match actor.try_send(Rebuild) {
        Ok(()) => {
            tracing::info!(index = name, "rebuild asked by an operator");
            HttpResponse::Accepted().json(json!({ "index": name, "status": "rebuilding" }))
        }
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({ "index": name, "error": format!("the index did not take it: {e}") })),
    }
}
