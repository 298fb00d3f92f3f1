//! Assets on SQLite. A read joins the actor's membership (and the assignee's email) in
//! one statement; an import is one write transaction fed batch by batch.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use futures_util::StreamExt;
use workvault_domain::asset::{
    Asset, AssetField, AssetRecord, AssetStatus, AssetStore, Cents, CustomValues, FieldKey, ImportBatch, ImportCounts,
    ImportFeed, ImportOutcome, ImportWrite, RowRefusal,
};
use workvault_domain::asset_csv::MAX_LISTED_ERRORS;
use workvault_domain::audit::AuditDraft;
use workvault_domain::id::{AssetId, UserId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::policy::Role;
use workvault_domain::ports::{Conflict, StoreError, StoreResult};
use workvault_domain::text::{Email, LongText, Name};

use crate::audit::append;
use crate::rows::{corrupt, id, micros, opt_time, role, text, time};
use crate::schema::{asset_fields, assets, memberships, users};
use crate::{Db, SqliteStore};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = assets, treat_none_as_null = true)]
pub(crate) struct AssetRow {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub tag: Option<String>,
    pub serial: Option<String>,
    pub category: Option<String>,
    pub status: String,
    pub location: Option<String>,
    pub assignee_id: Option<String>,
    pub purchase_date: Option<NaiveDate>,
    pub cost_cents: Option<i64>,
    pub notes: Option<String>,
    pub custom: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = asset_fields)]
pub(crate) struct FieldRow {
    pub workspace_id: String,
    pub key: String,
    pub label: String,
    pub created_at: i64,
}

fn custom_json(custom: &CustomValues) -> String {
    if custom.is_empty() { "{}".into() } else { serde_json::to_string(custom).unwrap_or_else(|_| "{}".into()) }
}

impl AssetRow {
    pub fn new(ws: WorkspaceId, id: AssetId, r: &AssetRecord, created: DateTime<Utc>, updated: DateTime<Utc>) -> Self {
        Self {
            id: id.to_string(),
            workspace_id: ws.to_string(),
            name: r.name.as_str().to_owned(),
            tag: r.tag.as_ref().map(|t| t.as_str().to_owned()),
            serial: r.serial.as_ref().map(|t| t.as_str().to_owned()),
            category: r.category.as_ref().map(|t| t.as_str().to_owned()),
            status: r.status.as_str().to_owned(),
            location: r.location.as_ref().map(|t| t.as_str().to_owned()),
            assignee_id: r.assignee.map(|u| u.to_string()),
            purchase_date: r.purchase_date,
            cost_cents: r.cost.map(|c| c.0),
            notes: r.notes.as_ref().map(|t| t.as_str().to_owned()),
            custom: custom_json(&r.custom),
            created_at: micros(created),
            updated_at: micros(updated),
            deleted_at: None,
        }
    }

    pub fn from_domain(a: &Asset) -> Self {
        Self {
            deleted_at: a.deleted_at.map(micros),
            ..Self::new(a.workspace_id, a.id, &a.record, a.created_at, a.updated_at)
        }
    }

    pub fn into_domain(self, email: Option<String>) -> Result<Asset, StoreError> {
        let short = |what: &str, v: Option<String>| v.map(|v| text(what, &v, Name::parse)).transpose();
        let custom: CustomValues =
            serde_json::from_str(&self.custom).map_err(|_| corrupt("asset custom values", &self.custom))?;
        let record = AssetRecord {
            name: text("asset name", &self.name, Name::parse)?,
            tag: short("asset tag", self.tag)?,
            serial: short("asset serial", self.serial)?,
            category: short("asset category", self.category)?,
            status: AssetStatus::parse(&self.status).ok_or_else(|| corrupt("asset status", &self.status))?,
            location: short("asset location", self.location)?,
            assignee: self.assignee_id.as_deref().map(id).transpose()?,
            purchase_date: self.purchase_date,
            cost: self.cost_cents.map(Cents),
            notes: self.notes.as_deref().map(|n| text("asset notes", n, LongText::parse)).transpose()?,
            custom,
        };
        Ok(Asset {
            id: id(&self.id)?,
            workspace_id: id(&self.workspace_id)?,
            record,
            assignee_email: email.as_deref().map(|e| text("email", e, Email::parse)).transpose()?,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
            deleted_at: opt_time(self.deleted_at)?,
        })
    }
}

impl FieldRow {
    pub fn from_domain(f: &AssetField) -> Self {
        Self {
            workspace_id: f.workspace_id.to_string(),
            key: f.key.as_str().to_owned(),
            label: f.label.as_str().to_owned(),
            created_at: micros(f.created_at),
        }
    }

    pub fn into_domain(self) -> Result<AssetField, StoreError> {
        Ok(AssetField {
            workspace_id: id(&self.workspace_id)?,
            key: FieldKey::parse(&self.key).ok_or_else(|| corrupt("field key", &self.key))?,
            label: text("field label", &self.label, Name::parse)?,
            created_at: time(self.created_at)?,
        })
    }
}

/// Why an import transaction ends without a commit.
enum Abort {
    Db(Db),
    /// Rolled back on purpose (a dry run, refused rows): the outcome stands.
    Rollback(ImportOutcome),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Db(Db::from(e))
    }
}

impl From<Db> for Abort {
    fn from(e: Db) -> Self {
        Abort::Db(e)
    }
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Self {
        Abort::Db(Db(e))
    }
}

/// Writes an asset's content and `updated_at` (never its id, workspace, creation or
/// trash time).
fn write_content(c: &mut SqliteConnection, row: &AssetRow) -> Result<(), Db> {
    diesel::update(assets::table.find(&row.id))
        .set((
            assets::name.eq(&row.name),
            assets::tag.eq(&row.tag),
            assets::serial.eq(&row.serial),
            assets::category.eq(&row.category),
            assets::status.eq(&row.status),
            assets::location.eq(&row.location),
            assets::assignee_id.eq(&row.assignee_id),
            assets::purchase_date.eq(&row.purchase_date),
            assets::cost_cents.eq(&row.cost_cents),
            assets::notes.eq(&row.notes),
            assets::custom.eq(&row.custom),
            assets::updated_at.eq(row.updated_at),
        ))
        .execute(c)?;
    Ok(())
}

/// One batch of an import: refuses unknown and trashed ids, counts unchanged rows,
/// updates changed ones and inserts new ones (writing nothing once a row was refused).
fn import_batch(
    c: &mut SqliteConnection,
    ws: &str,
    rows: Vec<ImportWrite>,
    at: DateTime<Utc>,
    out: &mut ImportOutcome,
) -> Result<(), Abort> {
    out.counts.rows += rows.len() as u64;
    let ws_id: WorkspaceId = id(ws).map_err(Db)?;
    let ids: Vec<String> = rows.iter().filter(|w| w.update).map(|w| w.id.to_string()).collect();
    let mut existing: HashMap<String, AssetRow> = HashMap::new();
    if !ids.is_empty() {
        let found: Vec<AssetRow> = assets::table
            .filter(assets::workspace_id.eq(ws))
            .filter(assets::id.eq_any(&ids))
            .select(AssetRow::as_select())
            .load(c)?;
        existing.extend(found.into_iter().map(|r| (r.id.clone(), r)));
    }
    let mut inserts = Vec::new();
    for w in rows {
        if !w.update {
            out.counts.created += 1;
            inserts.push(AssetRow::new(ws_id, w.id, &w.record, at, at));
            continue;
        }
        let key = w.id.to_string();
        let refusal = match existing.remove(&key) {
            None => Some(RowRefusal::UnknownId),
            Some(old) if old.deleted_at.is_some() => Some(RowRefusal::Trashed),
            Some(old) => {
                let (created_at, stored) = (old.created_at, old.into_domain(None)?.record);
                // Columns the file does not have keep their stored values; values are
                // compared as values, not as the text a store keeps them in.
                let merged = w.columns.merge(&stored, w.record);
                if merged == stored {
                    out.counts.unchanged += 1;
                } else {
                    out.counts.updated += 1;
                    if out.total_refused == 0 {
                        let row = AssetRow::new(ws_id, w.id, &merged, time(created_at)?, at);
                        write_content(c, &row)?;
                    }
                }
                None
            }
        };
        if let Some(why) = refusal {
            out.total_refused += 1;
            if out.refused.len() < MAX_LISTED_ERRORS {
                out.refused.push((w.row, why));
            }
        }
    }
    if out.total_refused == 0 && !inserts.is_empty() {
        diesel::insert_into(assets::table).values(&inserts).execute(c)?;
    }
    Ok(())
}

type ReadRow = (AssetRow, Option<String>, String);

#[async_trait]
impl AssetStore for SqliteStore {
    async fn asset_fields(&self, ws: WorkspaceId) -> StoreResult<Vec<AssetField>> {
        self.run(move |c| {
            let rows: Vec<FieldRow> = asset_fields::table
                .filter(asset_fields::workspace_id.eq(ws.to_string()))
                .order(asset_fields::key)
                .select(FieldRow::as_select())
                .load(c)?;
            Ok(rows.into_iter().map(FieldRow::into_domain).collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn create_asset_field(&self, field: &AssetField, audit: AuditDraft) -> StoreResult<()> {
        let row = FieldRow::from_domain(field);
        self.write(move |c| {
            diesel::insert_into(asset_fields::table).values(&row).execute(c)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn delete_asset_field(&self, ws: WorkspaceId, key: &FieldKey, audit: AuditDraft) -> StoreResult<()> {
        let key = key.as_str().to_owned();
        self.write(move |c| {
            let ws = ws.to_string();
            let gone = diesel::delete(asset_fields::table.find((&ws, &key))).execute(c)?;
            if gone == 0 {
                return Err(Db(StoreError::NotFound));
            }
            // Keys are `[a-z0-9_]`, so the JSON path needs no quoting beyond this.
            diesel::sql_query("UPDATE assets SET custom = json_remove(custom, '$.' || ?) WHERE workspace_id = ?")
                .bind::<diesel::sql_types::Text, _>(&key)
                .bind::<diesel::sql_types::Text, _>(&ws)
                .execute(c)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn create_asset(&self, asset: &Asset, audit: AuditDraft) -> StoreResult<()> {
        let row = AssetRow::from_domain(asset);
        self.write(move |c| {
            diesel::insert_into(assets::table).values(&row).execute(c)?;
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn asset_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        asset: AssetId,
        trashed: bool,
    ) -> StoreResult<Option<(Asset, Role)>> {
        self.run(move |c| {
            let found: Option<ReadRow> = assets::table
                .inner_join(memberships::table.on(
                    memberships::workspace_id.eq(assets::workspace_id).and(memberships::user_id.eq(actor.to_string())),
                ))
                .left_join(users::table.on(users::id.nullable().eq(assets::assignee_id)))
                .filter(assets::id.eq(asset.to_string()))
                .filter(assets::workspace_id.eq(ws.to_string()))
                .filter(assets::deleted_at.is_null().eq(!trashed))
                .select((AssetRow::as_select(), users::email.nullable(), memberships::role))
                .first(c)
                .optional()?;
            let Some((row, email, r)) = found else { return Ok(None) };
            Ok(Some((row.into_domain(email)?, role(&r)?)))
        })
        .await
    }

    async fn assets_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<Asset>)>> {
        self.run(move |c| {
            let (key, after) = match page.after {
                Some(after) => (after.key, after.id.to_string()),
                None => (i64::MAX, String::from("~")),
            };
            // The member's row, left-joined to the page's assets: one statement.
            let rows: Vec<(String, Option<AssetRow>, Option<String>)> = memberships::table
                .left_join(
                    assets::table.on(assets::workspace_id
                        .eq(memberships::workspace_id)
                        .and(assets::deleted_at.is_null())
                        .and(assets::created_at.lt(key).or(assets::created_at.eq(key).and(assets::id.lt(after))))),
                )
                .left_join(users::table.on(users::id.nullable().eq(assets::assignee_id)))
                .filter(memberships::workspace_id.eq(ws.to_string()))
                .filter(memberships::user_id.eq(actor.to_string()))
                .order((assets::created_at.desc(), assets::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((memberships::role, assets::all_columns.nullable(), users::email.nullable()))
                .load(c)?;
            let Some((r, _, _)) = rows.first() else { return Ok(None) };
            let r = role(r)?;
            let items = rows
                .into_iter()
                .filter_map(|(_, row, email)| row.map(|row| row.into_domain(email)))
                .collect::<Result<Vec<_>, _>>()?;
            let page =
                Page::from_rows(items, page.limit, |a| Cursor { key: micros(a.created_at), id: *a.id.as_uuid() });
            Ok(Some((r, page)))
        })
        .await
    }

    async fn update_asset(&self, asset: &Asset, read_at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()> {
        let row = AssetRow::from_domain(asset);
        self.write(move |c| {
            let n = diesel::update(
                assets::table
                    .filter(assets::id.eq(&row.id))
                    .filter(assets::workspace_id.eq(&row.workspace_id))
                    .filter(assets::deleted_at.is_null())
                    .filter(assets::updated_at.eq(micros(read_at))),
            )
            .set(&row)
            .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::Stale)));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn trash_asset(
        &self,
        ws: WorkspaceId,
        asset: AssetId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(
                assets::table
                    .filter(assets::id.eq(asset.to_string()))
                    .filter(assets::workspace_id.eq(ws.to_string()))
                    .filter(assets::deleted_at.is_null()),
            )
            .set(assets::deleted_at.eq(micros(at)))
            .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn restore_asset(&self, ws: WorkspaceId, asset: AssetId, audit: AuditDraft) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::update(
                assets::table
                    .filter(assets::id.eq(asset.to_string()))
                    .filter(assets::workspace_id.eq(ws.to_string()))
                    .filter(assets::deleted_at.is_not_null()),
            )
            .set(assets::deleted_at.eq(None::<i64>))
            .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn purge_asset(&self, ws: WorkspaceId, asset: AssetId, audit: AuditDraft) -> StoreResult<()> {
        self.write(move |c| {
            let n = diesel::delete(
                assets::table
                    .filter(assets::id.eq(asset.to_string()))
                    .filter(assets::workspace_id.eq(ws.to_string()))
                    .filter(assets::deleted_at.is_not_null()),
            )
            .execute(c)?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit)?;
            Ok(())
        })
        .await
    }

    async fn import_assets(
        &self,
        ws: WorkspaceId,
        mut feed: ImportFeed,
        at: DateTime<Utc>,
        dry_run: bool,
        mut audit: AuditDraft,
    ) -> StoreResult<ImportOutcome> {
        // The feed is produced on the async side; this blocking thread waits for each batch.
        let handle = tokio::runtime::Handle::current();
        self.run_long(move |c| {
            let done = c.immediate_transaction::<_, Abort, _>(|c| {
                let ws = ws.to_string();
                let mut out = ImportOutcome::default();
                loop {
                    match handle.block_on(feed.next()) {
                        Some(ImportBatch::Rows(rows)) => import_batch(c, &ws, rows, at, &mut out)?,
                        Some(ImportBatch::End) => break,
                        None => {
                            let cut = StoreError::Unavailable("the import's rows stopped before their end".into());
                            return Err(Abort::Db(Db(cut)));
                        }
                    }
                }
                if out.total_refused > 0 || dry_run {
                    return Err(Abort::Rollback(out));
                }
                merge_counts(&mut audit, out.counts);
                append(c, audit)?;
                Ok(out)
            });
            match done {
                Ok(out) | Err(Abort::Rollback(out)) => Ok(out),
                Err(Abort::Db(e)) => Err(e),
            }
        })
        .await
    }

    async fn assets_in_order(&self, ws: WorkspaceId, after: Option<AssetId>, limit: u32) -> StoreResult<Vec<Asset>> {
        self.run(move |c| {
            let after = after.map(|a| a.to_string()).unwrap_or_default();
            let rows: Vec<(AssetRow, Option<String>)> = assets::table
                .left_join(users::table.on(users::id.nullable().eq(assets::assignee_id)))
                .filter(assets::workspace_id.eq(ws.to_string()))
                .filter(assets::deleted_at.is_null())
                .filter(assets::id.gt(after))
                .order(assets::id)
                .limit(i64::from(limit))
                .select((AssetRow::as_select(), users::email.nullable()))
                .load(c)?;
            Ok(rows.into_iter().map(|(r, e)| r.into_domain(e)).collect::<Result<_, _>>()?)
        })
        .await
    }
}

/// Adds an import's counts to its audit event's details.
pub(crate) fn merge_counts(audit: &mut AuditDraft, counts: ImportCounts) {
    if let (Some(details), Ok(serde_json::Value::Object(counts))) =
        (audit.details.as_object_mut(), serde_json::to_value(counts))
    {
        details.extend(counts);
    }
}
