//! PostgreSQL enum types (the schema's custom SQL types), declared with the enums they map
//! (`castyou_vocab::enums::sql`).

pub use castyou_vocab::enums::sql::*;
