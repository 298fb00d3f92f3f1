//! Assets (equipment, tools, devices a team keeps track of): the record, its status,
//! money as integer cents, and the workspace's own custom fields.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Where an asset stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    /// In use (the default).
    InUse,
    /// In stock, not handed out.
    InStock,
    /// Being repaired.
    InRepair,
    /// Retired.
    Retired,
    /// Lost or stolen.
    Lost,
}

impl AssetStatus {
    /// Every status.
    pub const ALL: [AssetStatus; 5] =
        [AssetStatus::InUse, AssetStatus::InStock, AssetStatus::InRepair, AssetStatus::Retired, AssetStatus::Lost];

    /// The stable name (API, CSV, stores).
    pub const fn as_str(self) -> &'static str {
        match self {
            AssetStatus::InUse => "in_use",
            AssetStatus::InStock => "in_stock",
            AssetStatus::InRepair => "in_repair",
            AssetStatus::Retired => "retired",
            AssetStatus::Lost => "lost",
        }
    }

    /// Parses a stable name, case-insensitively, with spaces or dashes for underscores
    /// (`In use`, `in-use`, `IN_USE`).
    pub fn parse(s: &str) -> Option<Self> {
        let norm: String =
            s.trim().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c.to_ascii_lowercase() }).collect();
        Self::ALL.into_iter().find(|v| v.as_str() == norm)
    }
}

/// An amount of money in cents (the workspace's currency), never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cents(pub i64);

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadAmount(pub &'static str);

impl Cents {
    /// The largest amount taken: 10^13 cents (a hundred billion).
    pub const MAX: i64 = 10_000_000_000_000;

    /// Parses a non-negative decimal with at most two decimals (`1234`, `1234.5`,
    /// `1234.50`); no signs, exponents, thousands separators or currency symbols.
    pub fn parse(s: &str) -> Result<Self, BadAmount> {
        let s = s.trim();
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
            return Err(BadAmount("must be a number like 1234.50 (digits, at most two decimals, no sign)"));
        }
        if frac.len() > 2 {
            return Err(BadAmount("must have at most two decimals"));
        }
        if whole.len() > 12 {
            return Err(BadAmount("is too large"));
        }
        let whole: i64 = whole.parse().map_err(|_| BadAmount("is too large"))?;
        let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| BadAmount("must be a number"))?;
        let cents = whole * 100 + frac;
        if cents > Self::MAX {
            return Err(BadAmount("is too large"));
        }
        Ok(Self(cents))
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// A custom field's key: 1 to 40 of `a-z`, `0-9` and `_`, starting with a letter (it
/// names a CSV column, `custom.<key>`, and a JSON field).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldKey(String);

impl FieldKey {
    /// Validates a key.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (1..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FieldKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| format!("`{s}` is not a field key (a-z, 0-9, _; starting with a letter)"))
    }
}

impl From<FieldKey> for String {
    fn from(k: FieldKey) -> String {
        k.0
    }
}

/// The custom values of one asset, by key (at most 500 characters each).
pub type CustomValues = BTreeMap<FieldKey, String>;

/// The most characters a custom value holds.
pub const MAX_CUSTOM_VALUE: usize = 500;

/// An asset's fields as given (by the API or one CSV row), validated; who the assignee
/// is gets resolved against the workspace's members by the use case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetFields {
    /// Name (required).
    pub name: crate::text::Name,
    /// The team's own tag (asset number).
    pub tag: Option<crate::text::Name>,
    /// Manufacturer's serial number.
    pub serial: Option<crate::text::Name>,
    /// Category.
    pub category: Option<crate::text::Name>,
    /// Status (`in_use` when not given).
    pub status: Option<AssetStatus>,
    /// Where it is.
    pub location: Option<crate::text::Name>,
    /// Who has it, by email (a member of the workspace).
    pub assignee_email: Option<crate::text::Email>,
    /// When it was bought.
    pub purchase_date: Option<NaiveDate>,
    /// What it cost.
    pub cost: Option<Cents>,
    /// Notes.
    pub notes: Option<crate::text::LongText>,
    /// Custom values.
    pub custom: CustomValues,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_cents() {
        assert_eq!(Cents::parse("1234"), Ok(Cents(123_400)));
        assert_eq!(Cents::parse("1234.5"), Ok(Cents(123_450)));
        assert_eq!(Cents::parse(" 0.07 "), Ok(Cents(7)));
        assert_eq!(Cents(123_405).to_string(), "1234.05");
        for bad in ["", "-1", "+1", "1e3", "1,000", "1.234", "€5", "1.", ".5", "NaN", "999999999999"] {
            assert!(Cents::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Cents::parse("100000000000"), Ok(Cents(Cents::MAX)));
    }

    #[test]
    fn statuses_and_keys_are_forgiving_in_case_only() {
        assert_eq!(AssetStatus::parse("In use"), Some(AssetStatus::InUse));
        assert_eq!(AssetStatus::parse("IN-REPAIR"), Some(AssetStatus::InRepair));
        assert_eq!(AssetStatus::parse("broken"), None);
        assert!(FieldKey::parse("warranty_until").is_some());
        for bad in ["", "Warranty", "1st", "has space", "a".repeat(41).as_str()] {
            assert!(FieldKey::parse(bad).is_none(), "{bad}");
        }
    }
}
