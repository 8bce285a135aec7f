//! Typed ids: one definition for every crate (`castyou_vocab::ids`).

pub use castyou_vocab::ids::*;
