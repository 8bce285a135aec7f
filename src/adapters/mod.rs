//! The server's implementations of the actors' ports, and its clients of outside services.

pub mod ai;
pub mod deadlines;
pub mod documents;
pub mod embeddings;
pub mod ffmpeg;
pub mod imaging;
pub mod mail;
pub mod matching;
pub mod outbox;
pub mod redis_bus;
pub mod sandbox;
pub mod storage;
