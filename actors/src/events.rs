//! The event vocabulary the actors route: `Event` envelopes and their `Topic`s, declared once
//! in `castyou_vocab::events` with the events themselves.

pub use castyou_vocab::events::{Event, OutboxEvent, Topic};
