//! The leased queue's vocabulary, shared by the server's storage and the actors' workers.

use uuid::Uuid;

/// One leased item of a queue: its key, the token every write of its holder names (so a
/// worker whose lease ran out, or whose item was queued again, changes nothing), and which
/// try this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "diesel", derive(diesel::QueryableByName))]
pub struct Lease {
    #[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Uuid))]
    pub id: Uuid,
    #[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Uuid))]
    pub token: Uuid,
    #[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Integer))]
    pub attempt: i32,
}

/// What one run of a queue's work did with its leases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ran {
    /// Items finished.
    pub done: u64,
    /// Items refused for good (the input's fault: a broken file).
    pub refused: u64,
    /// Items given back to be tried again later.
    pub retried: u64,
}
