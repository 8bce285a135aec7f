//! CastYou's shared vocabulary, one definition for every crate (the server, the actors and the
//! matching model):
//!
//! - `ids`: typed ids (`UserId`, `JobId`, …): swapped arguments do not compile, anywhere.
//! - `enums`: the domain enums (roles, stages, statuses, production types, proficiencies,
//!   factors and verdicts of the matching model).
//! - `events`: `OutboxEvent`, every event CastYou records or carries, with its payloads, its
//!   `Topic`s and the `Event` envelope relays and buses carry; consumers match it exhaustively.
//! - `media`: what processing a media item found and made.
//! - `queue`: a leased item of a background job queue, and what a run did.
//!
//! Plain data and pure functions. Its SQL mappings (diesel) and GraphQL derives are behind the
//! `diesel` and `graphql` features, which only the server turns on.

pub mod enums;
pub mod events;
pub mod ids;
pub mod media;
pub mod queue;

pub use enums::*;
pub use ids::*;
