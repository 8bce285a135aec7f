//! Keyset pagination: opaque cursors over `(timestamp, id)`, newest first.

use crate::domain::page::CursorKey;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A position in a list ordered by `(timestamp DESC, id DESC)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// Written `<micros>:<id>`.
impl CursorKey for Cursor {
    fn write(&self) -> String {
        format!("{}:{}", self.at.timestamp_micros(), self.id)
    }

    fn read(text: &str) -> Option<Cursor> {
        let (micros, id) = text.split_once(':')?;
        Some(Cursor {
            at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// What a caller asks for: up to `first` items after `after`.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub first: i64,
    pub after: Option<Cursor>,
}

/// One page and what the connection needs to describe it.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(Cursor, T)>,
    pub has_next_page: bool,
    pub total_count: i64,
}

impl<T> Page<T> {
    /// Builds a page from up to `first + 1` rows (the extra row only says there is more).
    pub fn from_rows(
        mut rows: Vec<T>,
        request: PageRequest,
        total_count: i64,
        key: impl Fn(&T) -> Cursor,
    ) -> Page<T> {
        let has_next_page = rows.len() as i64 > request.first;
        rows.truncate(request.first.max(0) as usize);
        Page {
            items: rows.into_iter().map(|r| (key(&r), r)).collect(),
            has_next_page,
            total_count,
        }
    }

    pub fn map<U>(self, f: impl Fn(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            has_next_page: self.has_next_page,
            total_count: self.total_count,
        }
    }
}

/// `(ts, id) < (cursor.at, cursor.id)` for a newest-first keyset, as a diesel expression.
macro_rules! before_cursor {
    ($ts:expr, $id:expr, $cursor:expr) => {
        $ts.lt($cursor.at)
            .or($ts.eq($cursor.at).and($id.lt($cursor.id)))
    };
}
pub(crate) use before_cursor;

/// Escapes `%`, `_` and `\` for a LIKE pattern.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("12:nope")), None);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
