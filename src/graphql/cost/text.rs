//! Before a document is parsed: its size and its lexical tokens, counted in one linear pass.

use super::{over, CostError, CostLimits};

/// Before parsing: document size and lexical token count (a small, linear GraphQL lexer: skip
/// whitespace, commas, `#` comments, BOM; count names, numbers, strings including """block
/// strings""" with escapes, and punctuators `! $ & ( ) ... : = @ [ ] { | }`). Unterminated
/// strings etc. are not its problem: it counts to the end (the parser reports syntax errors).
/// Stops counting as soon as the limit is passed.
pub fn check_text(query: &str, limits: &CostLimits) -> Result<(), CostError> {
    if query.len() > limits.max_document_bytes {
        return Err(over(
            "the document's size in bytes is",
            query.len(),
            limits.max_document_bytes,
        ));
    }
    let tokens = count_tokens(query, limits.max_tokens);
    if tokens > limits.max_tokens {
        return Err(CostError(format!(
            "the document has more than {0} lexical tokens, over the limit of {0}",
            limits.max_tokens
        )));
    }
    Ok(())
}

/// Counts lexical tokens, stopping once the count passes `stop_after`.
pub(super) fn count_tokens(query: &str, stop_after: usize) -> usize {
    let b = query.as_bytes();
    let mut i = 0;
    let mut tokens = 0usize;
    while let Some(&c) = b.get(i) {
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            0xEF if b[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => {
                i += 3;
                continue;
            }
            b'#' => {
                while b.get(i).is_some_and(|&c| c != b'\n' && c != b'\r') {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        tokens += 1;
        if tokens > stop_after {
            return tokens;
        }
        i = match c {
            b'"' => skip_string(b, i),
            b'.' if b[i..].starts_with(b"...") => i + 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                skip_while(b, i + 1, |c| c == b'_' || c.is_ascii_alphanumeric())
            }
            b'-' | b'0'..=b'9' => skip_number(b, i + 1),
            // Not valid outside strings and comments: one token per character.
            0xF0.. => i + 4,
            0xE0.. => i + 3,
            0xC0.. => i + 2,
            _ => i + 1,
        };
    }
    tokens
}

fn skip_while(b: &[u8], mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
    while b.get(i).is_some_and(|&c| keep(c)) {
        i += 1;
    }
    i
}

/// Skips the rest of a number (`-12`, `1.5e-3`); trailing letters are swallowed too.
fn skip_number(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        let exponent_sign = (c == b'+' || c == b'-') && i > 0 && matches!(b[i - 1], b'e' | b'E');
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Skips a string starting at `i` (at a `"`): a block string up to its closing `"""` (an escaped
/// `\"""` does not close it), or a plain string up to its unescaped `"` or the end of the line.
fn skip_string(b: &[u8], i: usize) -> usize {
    if b[i..].starts_with(b"\"\"\"") {
        let mut j = i + 3;
        while j < b.len() {
            if b[j..].starts_with(b"\\\"\"\"") {
                j += 4;
            } else if b[j..].starts_with(b"\"\"\"") {
                return j + 3;
            } else {
                j += 1;
            }
        }
        return b.len();
    }
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        match c {
            b'\\' => j += 2,
            b'"' => return j + 1,
            b'\n' | b'\r' => return j,
            _ => j += 1,
        }
    }
    b.len()
}
