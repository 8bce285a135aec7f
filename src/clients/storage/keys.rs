//! Object keys: made by the server from an item's id only (`m/<uuid>/<name>`), or for a saved
//! copy of an index (`s/<database>/<index>`), never from what a user typed. The local adapter
//! refuses any other shape, so no key reaches outside its folder.

/// Whether `key` is one the server makes: `m/<uuid>/<name>`, the name of lower-case letters,
/// digits, `.`, `-` and `_` (no `..`); or `s/<database>/<index>` (see [`snapshot_key`]).
pub fn valid_key(key: &str) -> bool {
    let mut parts = key.split('/');
    let (Some(kind), Some(id), Some(name), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if kind == "s" {
        return plain(id) && plain(name);
    }
    kind == "m"
        && uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
        && !name.is_empty()
        && name.len() <= 64
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// The upload of every item.
pub const ORIGINAL: &str = "original";
/// Where an S3 upload lands (its presigned URL names this key); completion copies it to
/// `ORIGINAL`, which no client can write.
pub const UPLOAD: &str = "upload";
/// A still at full size without its metadata (same format as the upload).
pub const FULL: &str = "full";
/// A still's large and small renditions; a video's poster frame.
pub const LARGE: &str = "large.jpg";
pub const SMALL: &str = "small.jpg";
pub const POSTER: &str = "poster.jpg";
/// The names of every object the server makes for an item.
pub const ITEM_OBJECTS: [&str; 6] = [ORIGINAL, UPLOAD, FULL, LARGE, SMALL, POSTER];

/// Lower-case letters, digits, `-` and `_`; 1 to 128 of them.
fn plain(part: &str) -> bool {
    (1..=128).contains(&part.len())
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b))
}

/// The key of the newest saved copy of `index` taken from the database `database` (each made
/// plain: other characters become `-`).
pub fn snapshot_key(database: &str, index: &str) -> String {
    let plain = |s: &str| -> String {
        s.chars()
            .take(128)
            .map(|c| match c {
                'a'..='z' | '0'..='9' | '-' | '_' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '-',
            })
            .collect()
    };
    format!("s/{}/{}", plain(database), plain(index))
}

/// The key of an item's object called `name`.
pub fn key_of(item: uuid::Uuid, name: &str) -> String {
    format!("m/{}/{name}", item.hyphenated())
}

/// The error for a key the server does not make.
pub(super) fn bad_key(key: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("not a media key: {key:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_the_server_makes_are_valid() {
        let id = uuid::Uuid::now_v7();
        assert!(valid_key(&key_of(id, "original")));
        assert!(valid_key(&key_of(id, "thumb.jpg")));
        assert_eq!(
            snapshot_key("castyou-16384", "lexical index"),
            "s/castyou-16384/lexical-index"
        );
        assert!(valid_key(&snapshot_key("Cast You", "semantic index")));
        assert!(!valid_key("s/../lexical-index"));
        assert!(!valid_key("s/a/b/c"));
        for bad in [
            "../etc/passwd".to_string(),
            format!("m/{id}/../x"),
            format!("m/{id}/a/b"),
            format!("m/{id}/"),
            format!("m/{}/x", id.simple()),
            format!("/m/{id}/x"),
            format!("m/{id}/X.jpg"),
            format!("x/{id}/x"),
        ] {
            assert!(!valid_key(&bad), "{bad}");
        }
    }
}
