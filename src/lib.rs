//! CastYou: the casting platform's GraphQL server. `startup` wires the parts; requests flow
//! `http` (and `live`, for websockets) → `graphql` → `services` → `db` / `documents` /
//! `clients`, with `domain` holding the rules they share; `adapters` give the actors their ports.

pub mod adapters;
pub mod clients;
pub mod configuration;
pub mod db;
pub mod documents;
pub mod domain;
pub mod errors;
pub mod graphql;
pub mod http;
pub mod live;
pub mod seed;
pub mod services;
pub mod startup;
pub mod telemetry;
