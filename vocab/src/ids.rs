//! Typed ids: a `JobId` cannot be passed where a `UserId` is expected, so arguments swapped at a
//! call site fail to compile, in every crate. Each is a `Uuid` underneath: `uuid` in SQL
//! (diesel-derive-newtype, feature `diesel`), the `UUID` scalar in GraphQL (async-graphql's
//! transparent `NewType`, feature `graphql`), a plain string in JSON.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! ids {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            derive_more::Display,
        )]
        #[cfg_attr(feature = "diesel", derive(diesel_derive_newtype::DieselNewType))]
        #[cfg_attr(feature = "graphql", derive(async_graphql::NewType))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7), for a row about to be inserted.
            pub fn generate() -> $name {
                $name(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<$name, uuid::Error> {
                s.parse().map($name)
            }
        }
    )+};
}

ids! {
    /// A user: talent, producer or admin (talent and producer profiles share their user's id).
    UserId;
    /// A job (casting call).
    JobId;
    /// An application of a talent to a job.
    ApplicationId;
    /// One entry of an application's history.
    ApplicationEventId;
    /// A talent group.
    GroupId;
    /// A producer's favorite list.
    FavoriteListId;
    /// A sign-in session (a refresh-token family).
    SessionId;
    /// An outbox event.
    EventId;
    /// A media item (headshot, reel, voice reel).
    MediaId;
}
