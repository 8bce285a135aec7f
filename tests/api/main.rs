//! The API as clients use it: GraphQL over HTTP and websockets against a real server,
//! PostgreSQL and Redis.

// A test that cannot arrange its world should stop right there, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod applications;
mod auth;
mod authorization;
mod cohorts;
mod deadlines;
mod discover;
mod favorites;
mod fliers;
mod groups;
mod hardening;
mod hostile;
mod jobs;
mod mail_sink;
mod matching;
mod media;
mod media_processing;
mod migrations;
mod notifications;
mod operations;
mod outages;
mod outbox_compat;
mod over_http;
mod pagination;
mod pipelines;
mod profiles;
mod provider_login;
mod queues;
mod rate_limit;
mod search;
mod search_index;
mod semantic;
mod subscriptions;
mod transport;
mod two_factor;
