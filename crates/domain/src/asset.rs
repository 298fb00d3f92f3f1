//! Assets (equipment, tools, devices a team keeps track of): the record, its status,
//! money as integer cents, and the workspace's own custom fields.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::AuditDraft;
use crate::id::{AssetId, UserId, WorkspaceId};
use crate::page::{Page, PageRequest};
use crate::policy::Role;
use crate::ports::StoreResult;
use crate::text::{Email, LongText, Name};

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

/// Whether a custom value holds no control characters but line breaks and tabs.
pub fn custom_text_ok(value: &str) -> bool {
    !value.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Whether a date is one an asset can have been bought on (years 1000 to 9999: what
/// every store keeps and every spreadsheet reads).
pub fn date_in_range(d: NaiveDate) -> bool {
    use chrono::Datelike;
    (1000..=9999).contains(&d.year())
}

/// An asset's fields as given (by the API or one CSV row), validated; who the assignee
/// is gets resolved against the workspace's members by the use case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetFields {
    /// Name (required).
    pub name: Name,
    /// The team's own tag (asset number).
    pub tag: Option<Name>,
    /// Manufacturer's serial number.
    pub serial: Option<Name>,
    /// Category.
    pub category: Option<Name>,
    /// Status (`in_use` when not given).
    pub status: Option<AssetStatus>,
    /// Where it is.
    pub location: Option<Name>,
    /// Who has it, by email (a member of the workspace).
    pub assignee_email: Option<Email>,
    /// When it was bought.
    pub purchase_date: Option<NaiveDate>,
    /// What it cost.
    pub cost: Option<Cents>,
    /// Notes.
    pub notes: Option<LongText>,
    /// Custom values.
    pub custom: CustomValues,
}

/// What an asset holds, as stored: [`AssetFields`] with the assignee resolved to a
/// member and the status defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRecord {
    /// Name.
    pub name: Name,
    /// The team's own tag (asset number).
    pub tag: Option<Name>,
    /// Manufacturer's serial number.
    pub serial: Option<Name>,
    /// Category.
    pub category: Option<Name>,
    /// Status.
    pub status: AssetStatus,
    /// Where it is.
    pub location: Option<Name>,
    /// The member who has it.
    pub assignee: Option<UserId>,
    /// When it was bought.
    pub purchase_date: Option<NaiveDate>,
    /// What it cost.
    pub cost: Option<Cents>,
    /// Notes.
    pub notes: Option<LongText>,
    /// Custom values, by key.
    pub custom: CustomValues,
}

/// An asset of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Its id.
    pub id: AssetId,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// What it holds.
    pub record: AssetRecord,
    /// The assignee's email, as read (for display and export).
    pub assignee_email: Option<Email>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was moved to trash.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A custom field a workspace defines for its assets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetField {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The key (`custom.<key>` in CSV, `custom.<key>` in JSON).
    pub key: FieldKey,
    /// The label people see.
    pub label: Name,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
}

/// The most custom fields a workspace defines.
pub const MAX_FIELDS: usize = 50;

/// Which columns an import file has. A row that updates an asset changes only these:
/// a file of `id,name` renames and leaves everything else as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportColumns {
    /// Whether each fixed column (in `asset_csv::COLUMNS` order) is in the file.
    pub fixed: [bool; 11],
    /// The custom fields the file has a column for.
    pub custom: std::collections::BTreeSet<FieldKey>,
}

impl ImportColumns {
    /// The record an update row leaves: the file's columns from `new`, the rest from `old`.
    pub fn merge(&self, old: &AssetRecord, new: AssetRecord) -> AssetRecord {
        let has = |i: usize| self.fixed[i];
        let mut custom = old.custom.clone();
        for key in &self.custom {
            match new.custom.get(key) {
                Some(v) => custom.insert(key.clone(), v.clone()),
                None => custom.remove(key),
            };
        }
        AssetRecord {
            name: new.name,
            tag: if has(2) { new.tag } else { old.tag.clone() },
            serial: if has(3) { new.serial } else { old.serial.clone() },
            category: if has(4) { new.category } else { old.category.clone() },
            status: if has(5) { new.status } else { old.status },
            location: if has(6) { new.location } else { old.location.clone() },
            assignee: if has(7) { new.assignee } else { old.assignee },
            purchase_date: if has(8) { new.purchase_date } else { old.purchase_date },
            cost: if has(9) { new.cost } else { old.cost },
            notes: if has(10) { new.notes } else { old.notes.clone() },
            custom,
        }
    }
}

/// One row of an import, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportWrite {
    /// The CSV record it came from (for errors).
    pub row: u64,
    /// The asset: an existing one of the workspace when `update`, else a new id.
    pub id: AssetId,
    /// Whether the row names an existing asset (it had an id).
    pub update: bool,
    /// What to write (for an update, merged with the stored record by `columns`).
    pub record: AssetRecord,
    /// The file's columns.
    pub columns: std::sync::Arc<ImportColumns>,
}

/// One message of an import's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportBatch {
    /// The next rows.
    Rows(Vec<ImportWrite>),
    /// Every row was sent: the store may commit. A feed that closes without it was cut
    /// short, and the store rolls back.
    End,
}

/// The rows of an import, in batches, as the domain produces them while re-reading the
/// checked file.
pub type ImportFeed = futures_channel::mpsc::Receiver<ImportBatch>;

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    /// Rows read.
    pub rows: u64,
    /// New assets.
    pub created: u64,
    /// Existing assets changed.
    pub updated: u64,
    /// Existing assets the row left as they were.
    pub unchanged: u64,
}

/// Why the store refused a row (found only against the stored assets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowRefusal {
    /// The id names no asset of this workspace.
    UnknownId,
    /// The id names an asset in the trash.
    Trashed,
}

/// The store's answer to an import: counts, and the rows it refused (then nothing was
/// written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// What was (or would be) done.
    pub counts: ImportCounts,
    /// The refused rows, with their record numbers (at most 100 listed).
    pub refused: Vec<(u64, RowRefusal)>,
    /// How many rows were refused in all.
    pub total_refused: u64,
}

/// Assets and their custom fields. Contract: reads take the actor and return the
/// actor's role with the rows in one statement; a trashed asset is found only when
/// asked for; an import is one transaction.
#[async_trait]
pub trait AssetStore: Send + Sync {
    /// The workspace's custom fields, by key.
    async fn asset_fields(&self, ws: WorkspaceId) -> StoreResult<Vec<AssetField>>;
    /// Defines a custom field; `Conflict(Duplicate)` if the key exists.
    async fn create_asset_field(&self, field: &AssetField, audit: AuditDraft) -> StoreResult<()>;
    /// Removes a custom field and every asset's value for it; `NotFound` if none.
    async fn delete_asset_field(&self, ws: WorkspaceId, key: &FieldKey, audit: AuditDraft) -> StoreResult<()>;
    /// Stores a new asset.
    async fn create_asset(&self, asset: &Asset, audit: AuditDraft) -> StoreResult<()>;
    /// The asset (live, or in trash when `trashed`) with the actor's role; `None` if it
    /// is not in `ws` or the actor is not a member there.
    async fn asset_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        asset: AssetId,
        trashed: bool,
    ) -> StoreResult<Option<(Asset, Role)>>;
    /// The actor's role and a page of the live assets, newest first; `None` if the
    /// actor is not a member.
    async fn assets_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<Asset>)>>;
    /// Writes the asset's new state, only if it was not changed since `read_at`:
    /// `Conflict(Stale)`.
    async fn update_asset(&self, asset: &Asset, read_at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()>;
    /// Moves a live asset to trash.
    async fn trash_asset(
        &self,
        ws: WorkspaceId,
        asset: AssetId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()>;
    /// Takes an asset out of the trash.
    async fn restore_asset(&self, ws: WorkspaceId, asset: AssetId, audit: AuditDraft) -> StoreResult<()>;
    /// Deletes a trashed asset for good.
    async fn purge_asset(&self, ws: WorkspaceId, asset: AssetId, audit: AuditDraft) -> StoreResult<()>;
    /// Writes the rows of `feed` in one transaction: new assets are inserted, existing
    /// ones (locked for the transaction) updated with the file's columns where they
    /// differ (`updated_at` = `at`; [`ImportColumns::merge`]) and left alone where they
    /// do not. Rows naming an unknown or trashed asset are refused; then, when
    /// `dry_run`, or when the feed closes without [`ImportBatch::End`], everything is
    /// rolled back (the last: `Unavailable`). The audit event gets the counts added to
    /// its details and is written only with a commit.
    async fn import_assets(
        &self,
        ws: WorkspaceId,
        feed: ImportFeed,
        at: DateTime<Utc>,
        dry_run: bool,
        audit: AuditDraft,
    ) -> StoreResult<ImportOutcome>;
    /// Up to `limit` live assets in id order, after `after` (export pages).
    async fn assets_in_order(&self, ws: WorkspaceId, after: Option<AssetId>, limit: u32) -> StoreResult<Vec<Asset>>;
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
