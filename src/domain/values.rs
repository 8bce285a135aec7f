//! Parsed values and the field checks every input goes through. Each check names the field it
//! refused, so clients can point at it (`extensions.field`).

use crate::errors::AppError;
use validator::ValidateEmail;

pub type Checked<T> = Result<T, AppError>;

/// A syntactically valid email address, lower-cased; `text` in SQL.
#[derive(Debug, Clone, PartialEq, Eq, diesel_derive_newtype::DieselNewType)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Checked<Email> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 || !email.validate_email() {
            return Err(AppError::bad_input(field, "must be a valid email address"));
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// Checks a new password's length (in characters, so every script counts alike).
pub fn password(field: &str, raw: &str) -> Checked<()> {
    let n = raw.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&n) {
        return Err(AppError::bad_input(
            field,
            format!("must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Declares a code type whose only checked constructor is `parse`: `String` in GraphQL (a
/// transparent `NewType`, so the schema is unchanged) and in JSON. A value that arrives through
/// GraphQL input is checked by its input type's `check` before anything uses it.
macro_rules! code {
    ($(#[$meta:meta])* $name:ident, $normalise:ident, $len:literal, $valid:expr, $what:literal) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize,
            serde::Deserialize, async_graphql::NewType, derive_more::Display,
            diesel_derive_newtype::DieselNewType,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(field: &str, raw: &str) -> Checked<$name> {
                let code = raw.trim().$normalise();
                let valid: fn(&str) -> bool = $valid;
                if code.len() == $len && valid(&code) {
                    Ok($name(code))
                } else {
                    Err(AppError::bad_input(
                        field,
                        format!(concat!("`{}` is not an ", $what), clip(raw)),
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

code!(
    /// ISO 3166-1 alpha-2, upper case.
    CountryCode, to_ascii_uppercase, 2,
    |c| celes::Country::from_alpha2(c).is_ok(),
    "ISO 3166-1 alpha-2 country code"
);
code!(
    /// ISO 639-1, lower case.
    LanguageCode, to_ascii_lowercase, 2,
    |c| isolang::Language::from_639_1(c).is_some(),
    "ISO 639-1 language code"
);
code!(
    /// ISO 4217, upper case.
    CurrencyCode, to_ascii_uppercase, 3,
    |c| iso_currency::Currency::from_code(c).is_some(),
    "ISO 4217 currency code"
);

impl CurrencyCode {
    /// The currency rates and pay are in when none is given.
    pub fn usd() -> CurrencyCode {
        CurrencyCode("USD".into())
    }
}

/// ISO 3166-1 alpha-2, upper case.
pub fn country(field: &str, raw: &str) -> Checked<CountryCode> {
    CountryCode::parse(field, raw)
}

/// ISO 639-1, lower case.
pub fn language(field: &str, raw: &str) -> Checked<LanguageCode> {
    LanguageCode::parse(field, raw)
}

/// ISO 4217, upper case.
pub fn currency(field: &str, raw: &str) -> Checked<CurrencyCode> {
    CurrencyCode::parse(field, raw)
}

/// A required text: trimmed, not empty, at most `max` characters, no control characters
/// other than line breaks and tabs.
pub fn text(field: &str, raw: &str, max: usize) -> Checked<String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_string())
}

/// An optional text: blank becomes absent, otherwise as `text`.
pub fn optional_text(field: &str, raw: Option<&str>, max: usize) -> Checked<Option<String>> {
    match raw {
        Some(v) if !v.trim().is_empty() => text(field, v, max).map(Some),
        _ => Ok(None),
    }
}

/// A list of short texts: at most `max_items`, each as `text`, duplicates dropped.
pub fn text_list(
    field: &str,
    raw: Option<&[String]>,
    max_items: usize,
    max_len: usize,
) -> Checked<Vec<String>> {
    let items = raw.unwrap_or_default();
    if items.len() > max_items {
        return Err(AppError::bad_input(
            field,
            format!("must have at most {max_items} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let value = text(&format!("{field}[{i}]"), item, max_len)?;
        if !out.iter().any(|v| v.eq_ignore_ascii_case(&value)) {
            out.push(value);
        }
    }
    Ok(out)
}

/// An optional whole number within `min..=max`.
pub fn int_in(field: &str, value: Option<i32>, min: i32, max: i32) -> Checked<Option<i32>> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(AppError::bad_input(
            field,
            format!("must be between {min} and {max}"),
        )),
        other => Ok(other),
    }
}

/// Checks `low <= high` when both are given; the error names the lower bound's field.
pub fn ordered<T: PartialOrd>(
    field: &str,
    other: &str,
    low: Option<T>,
    high: Option<T>,
) -> Checked<()> {
    match (low, high) {
        (Some(l), Some(h)) if l > h => Err(AppError::bad_input(
            field,
            format!("must not be greater than {other}"),
        )),
        _ => Ok(()),
    }
}

/// An http(s) URL of reasonable length.
pub fn web_url(field: &str, raw: Option<&str>) -> Checked<Option<String>> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let valid = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() <= 300
        && value.len() > "https://".len()
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(Some(value.to_string()))
    } else {
        Err(AppError::bad_input(
            field,
            "must be an http(s) URL of at most 300 characters",
        ))
    }
}

/// Shortens hostile input before it is echoed in an error message.
fn clip(raw: &str) -> String {
    raw.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: AppError) -> String {
        match e {
            AppError::BadInput { field, .. } => field,
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("email", " Ada@Example.COM ")
                .map(Email::into_inner)
                .ok(),
            Some("ada@example.com".into())
        );
        for bad in ["", "ada", "ada@", "@example.com", "a b@example.com"] {
            assert_eq!(
                field_of(Email::parse("email", bad).unwrap_err()),
                "email",
                "{bad}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse("email", &long).is_err());
    }

    #[test]
    fn passwords_are_ten_to_128_characters() {
        assert!(password("password", "123456789").is_err());
        assert!(password("password", "1234567890").is_ok());
        assert!(password("password", &"é".repeat(128)).is_ok());
        assert!(password("password", &"x".repeat(129)).is_err());
    }

    #[test]
    fn codes_are_checked_against_the_iso_lists() {
        assert_eq!(
            country("c", "gb").ok().map(|c| c.to_string()).as_deref(),
            Some("GB")
        );
        assert!(country("c", "XX").is_err());
        assert!(country("c", "GBR").is_err());
        assert_eq!(
            language("l", "EN").ok().map(|c| c.to_string()).as_deref(),
            Some("en")
        );
        assert!(language("l", "zz").is_err());
        assert_eq!(
            currency("m", "eur").ok().map(|c| c.to_string()).as_deref(),
            Some("EUR")
        );
        assert!(currency("m", "EURO").is_err());
        assert!(currency("m", "ABC").is_err());
    }

    #[test]
    fn texts_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(text("t", "  hi ", 5).ok(), Some("hi".into()));
        assert!(text("t", "   ", 5).is_err());
        assert!(text("t", "abcdef", 5).is_err());
        assert!(text("t", "a\u{0}b", 5).is_err());
        assert_eq!(optional_text("t", Some("  "), 5).ok(), Some(None));
    }

    #[test]
    fn list_entries_report_their_index() {
        let items = vec!["ok".to_string(), "".to_string()];
        assert_eq!(
            field_of(text_list("input.skills", Some(&items), 5, 10).unwrap_err()),
            "input.skills[1]"
        );
        let many = vec!["x".to_string(); 6];
        assert!(text_list("s", Some(&many), 5, 10).is_err());
    }

    #[test]
    fn ranges_and_order_are_enforced() {
        assert!(int_in("a", Some(121), 0, 120).is_err());
        assert!(int_in("a", Some(-1), 0, 120).is_err());
        assert!(int_in("a", None, 0, 120).is_ok());
        assert!(ordered("min", "max", Some(5), Some(4)).is_err());
        assert!(ordered("min", "max", Some(4), Some(4)).is_ok());
        assert!(ordered::<i32>("min", "max", None, Some(4)).is_ok());
    }
}
