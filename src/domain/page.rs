//! What every list shares: how many items a page holds (`first`) and its cursors. A cursor is
//! a list's own position written as text ([`CursorKey::write`]) in URL-safe base64; reading one
//! back checks its size, encoding and shape ([`CursorKey::read`]), and a client's cursor that
//! does not read is refused as `after` with one message, whichever list it was given to.

use crate::errors::{AppError, AppResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;
/// The page a client gets without asking.
pub const DEFAULT_PAGE_SIZE: i32 = 20;
/// The longest cursor read (every position written fits well within it).
const MAX_CURSOR_LEN: usize = 256;

/// Checks `first` (0 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when not given).
pub fn page_size(first: Option<i32>) -> AppResult<usize> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    usize::try_from(first)
        .ok()
        .filter(|_| first <= MAX_PAGE_SIZE)
        .ok_or_else(|| {
            AppError::bad_input("first", format!("must be between 0 and {MAX_PAGE_SIZE}"))
        })
}

/// A position in one kind of list, as its cursor carries it.
pub trait CursorKey: Sized {
    /// The position as text. Lists whose positions could be mistaken for each other start it
    /// with a tag of their own (`m1:`, `s1:`).
    fn write(&self) -> String;

    /// The position `text` names (None: not one this list writes).
    fn read(text: &str) -> Option<Self>;

    /// The opaque cursor of this position.
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.write())
    }

    /// The position an opaque cursor names (None: not a cursor of this list).
    fn decode(cursor: &str) -> Option<Self> {
        if cursor.len() > MAX_CURSOR_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        Self::read(std::str::from_utf8(&bytes).ok()?)
    }
}

/// The position a client's `after` names: none when it is absent or empty.
pub fn after<K: CursorKey>(cursor: Option<&str>) -> AppResult<Option<K>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(raw) => K::decode(raw)
            .map(Some)
            .ok_or_else(|| AppError::bad_input("after", "is not a cursor from this list")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Place(u32);

    impl CursorKey for Place {
        fn write(&self) -> String {
            format!("t1:{}", self.0)
        }

        fn read(text: &str) -> Option<Place> {
            text.strip_prefix("t1:")?.parse().ok().map(Place)
        }
    }

    #[test]
    fn page_sizes_are_checked_in_one_place() {
        assert_eq!(page_size(None).ok(), Some(20));
        assert_eq!(page_size(Some(0)).ok(), Some(0));
        assert_eq!(page_size(Some(100)).ok(), Some(100));
        assert!(page_size(Some(101)).is_err());
        assert!(page_size(Some(-1)).is_err());
    }

    #[test]
    fn cursors_round_trip_and_anything_else_is_refused_as_after() {
        assert_eq!(
            after::<Place>(Some(&Place(7).encode())).ok(),
            Some(Some(Place(7)))
        );
        assert_eq!(after::<Place>(None).ok(), Some(None));
        assert_eq!(after::<Place>(Some("")).ok(), Some(None));
        let other_list = URL_SAFE_NO_PAD.encode("s1:7");
        let too_long = URL_SAFE_NO_PAD.encode(format!("t1:{}", "0".repeat(300)));
        for bad in ["garbage!", other_list.as_str(), too_long.as_str()] {
            let refused = after::<Place>(Some(bad)).expect_err(bad);
            assert!(refused.message().starts_with("after:"), "{refused:?}");
        }
    }
}
