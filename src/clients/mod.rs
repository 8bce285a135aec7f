//! Clients of the services outside the server: the OpenAI-compatible endpoint, the media store
//! (a local folder or S3), the media tools and the sandboxed decoders, and Redis. Services use
//! them; they use nothing above them.

pub mod ai;
pub mod ffmpeg;
pub mod imaging;
pub mod lexical;
pub mod redis;
pub mod sandbox;
pub mod storage;
