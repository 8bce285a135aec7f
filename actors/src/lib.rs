//! CastYou's actors: the supervised, long-lived, stateful parts of the server (live
//! subscriptions, application pipelines, deadlines). They reach storage only through port
//! traits defined here, which the server implements; this crate knows nothing of HTTP, GraphQL
//! or SQL. The realtime core fills it; until then the server needs no long-lived actor.
