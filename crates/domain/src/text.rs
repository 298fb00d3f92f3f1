//! Validated text values. Constructors refuse what the model cannot hold, so a value of
//! these types is always valid.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Empty after trimming.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// Holds control characters.
    #[error("must not contain control characters")]
    ControlCharacters,
    /// Not an email address.
    #[error("is not a valid email address")]
    InvalidEmail,
}

fn clean(raw: &str, max: usize, multiline: bool) -> Result<String, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t'));
    if trimmed.chars().any(bad) {
        return Err(TextError::ControlCharacters);
    }
    Ok(trimmed.to_owned())
}

macro_rules! text {
    ($(#[$doc:meta])* $name:ident, $max:expr, $multiline:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The most characters this value may hold.
            pub const MAX: usize = $max;
            /// Trims and validates.
            pub fn parse(raw: &str) -> Result<Self, TextError> {
                clean(raw, $max, $multiline).map(Self)
            }
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = TextError;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text!(
    /// A display name (workspace or job title): 1 to 200 characters, one line.
    Name, 200, false
);
text!(
    /// Free text (job description, notes): up to 10,000 characters, several lines.
    LongText, 10_000, true
);
text!(
    /// A photo's caption in a report: up to 2,000 characters, several lines.
    Caption, 2_000, true
);
text!(
    /// A postal or site address: up to 500 characters, several lines.
    Address, 500, true
);

/// An email address, lower-cased. Checked for shape only; ownership is proven by the
/// identity provider (a sign-in link sent to it, or a verified OIDC claim).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses and lower-cases an address.
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let s = clean(raw, 254, false)?.to_lowercase();
        let (local, domain) = s.rsplit_once('@').ok_or(TextError::InvalidEmail)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || !domain_ok || s.contains(char::is_whitespace) {
            return Err(TextError::InvalidEmail);
        }
        Ok(Self(s))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = TextError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Roof repair ").map(|n| n.0), Ok("Roof repair".into()));
        assert_eq!(Name::parse("   "), Err(TextError::Empty));
        assert!(Name::parse(&"x".repeat(200)).is_ok());
        assert_eq!(Name::parse(&"x".repeat(201)), Err(TextError::TooLong { max: 200 }));
        assert_eq!(Name::parse("a\nb"), Err(TextError::ControlCharacters));
        assert!(LongText::parse("a\nb").is_ok());
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(Email::parse("Alice@Example.COM").map(|e| e.0), Ok("alice@example.com".into()));
        for bad in ["alice", "@example.com", "a@b", "a b@example.com", "a@.com", "a@example."] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
