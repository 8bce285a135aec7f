//! The server's implementations of the actors' ports.

pub mod deadlines;
pub mod documents;
pub mod mail;
pub mod matching;
pub mod outbox;
pub mod redis_bus;
