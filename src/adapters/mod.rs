//! The server's implementations of the actors' ports: storage, the outbox, the bus, the mail
//! transport and the indexes' sources, over the services and the database.

pub mod deadlines;
pub mod documents;
pub mod embeddings;
pub mod mail;
pub mod matching;
pub mod media;
pub mod outbox;
pub mod redis_bus;
