//! Assets on PostgreSQL. A read joins the actor's membership (and the assignee's email) in
//! one statement; an import is one write transaction fed batch by batch.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use uuid::Uuid;
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
use crate::jobs::cursor_time;
use crate::rows::{corrupt, role, text};
use crate::schema::{asset_fields, assets, memberships, users};
use crate::{Db, PgStore, read, write_tx};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = assets, treat_none_as_null = true)]
pub(crate) struct AssetRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub tag: Option<String>,
    pub serial: Option<String>,
    pub category: Option<String>,
    pub status: String,
    pub location: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub purchase_date: Option<NaiveDate>,
    pub cost_cents: Option<i64>,
    pub notes: Option<String>,
    pub custom: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = asset_fields)]
pub(crate) struct FieldRow {
    pub workspace_id: Uuid,
    pub key: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

fn custom_json(custom: &CustomValues) -> String {
    if custom.is_empty() { "{}".into() } else { serde_json::to_string(custom).unwrap_or_else(|_| "{}".into()) }
}

impl AssetRow {
    pub fn new(ws: WorkspaceId, id: AssetId, r: &AssetRecord, created: DateTime<Utc>, updated: DateTime<Utc>) -> Self {
        Self {
            id: *id.as_uuid(),
            workspace_id: *ws.as_uuid(),
            name: r.name.as_str().to_owned(),
            tag: r.tag.as_ref().map(|t| t.as_str().to_owned()),
            serial: r.serial.as_ref().map(|t| t.as_str().to_owned()),
            category: r.category.as_ref().map(|t| t.as_str().to_owned()),
            status: r.status.as_str().to_owned(),
            location: r.location.as_ref().map(|t| t.as_str().to_owned()),
            assignee_id: r.assignee.map(|u| *u.as_uuid()),
            purchase_date: r.purchase_date,
            cost_cents: r.cost.map(|c| c.0),
            notes: r.notes.as_ref().map(|t| t.as_str().to_owned()),
            custom: custom_json(&r.custom),
            created_at: created,
            updated_at: updated,
            deleted_at: None,
        }
    }

    pub fn from_domain(a: &Asset) -> Self {
        Self { deleted_at: a.deleted_at, ..Self::new(a.workspace_id, a.id, &a.record, a.created_at, a.updated_at) }
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
            assignee: self.assignee_id.map(UserId::from_uuid),
            purchase_date: self.purchase_date,
            cost: self.cost_cents.map(Cents),
            notes: self.notes.as_deref().map(|n| text("asset notes", n, LongText::parse)).transpose()?,
            custom,
        };
        Ok(Asset {
            id: AssetId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            record,
            assignee_email: email.as_deref().map(|e| text("email", e, Email::parse)).transpose()?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
        })
    }
}

impl FieldRow {
    pub fn from_domain(f: &AssetField) -> Self {
        Self {
            workspace_id: *f.workspace_id.as_uuid(),
            key: f.key.as_str().to_owned(),
            label: f.label.as_str().to_owned(),
            created_at: f.created_at,
        }
    }

    pub fn into_domain(self) -> Result<AssetField, StoreError> {
        Ok(AssetField {
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            key: FieldKey::parse(&self.key).ok_or_else(|| corrupt("field key", &self.key))?,
            label: text("field label", &self.label, Name::parse)?,
            created_at: self.created_at,
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
async fn write_content(c: &mut AsyncPgConnection, row: &AssetRow) -> Result<(), Db> {
    diesel::update(assets::table.find(row.id))
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
        .execute(c)
        .await?;
    Ok(())
}

/// One batch of an import: refuses unknown and trashed ids, counts unchanged rows,
/// updates changed ones and inserts new ones (writing nothing once a row was refused).
async fn import_batch(
    c: &mut AsyncPgConnection,
    ws_id: WorkspaceId,
    rows: Vec<ImportWrite>,
    at: DateTime<Utc>,
    out: &mut ImportOutcome,
) -> Result<(), Abort> {
    out.counts.rows += rows.len() as u64;
    let ids: Vec<Uuid> = rows.iter().filter(|w| w.update).map(|w| *w.id.as_uuid()).collect();
    let mut existing: HashMap<Uuid, AssetRow> = HashMap::new();
    if !ids.is_empty() {
        let found: Vec<AssetRow> = assets::table
            .filter(assets::workspace_id.eq(*ws_id.as_uuid()))
            .filter(assets::id.eq_any(&ids))
            .select(AssetRow::as_select())
            .load(c)
            .await?;
        existing.extend(found.into_iter().map(|r| (r.id, r)));
    }
    let mut inserts = Vec::new();
    for w in rows {
        if !w.update {
            out.counts.created += 1;
            inserts.push(AssetRow::new(ws_id, w.id, &w.record, at, at));
            continue;
        }
        let key = *w.id.as_uuid();
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
                        let row = AssetRow::new(ws_id, w.id, &merged, created_at, at);
                        write_content(c, &row).await?;
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
        diesel::insert_into(assets::table).values(&inserts).execute(c).await?;
    }
    Ok(())
}

/// Rows written by one import past which the table's statistics are refreshed.
const ANALYZE_AFTER: u64 = 10_000;

type ReadRow = (AssetRow, Option<String>, String);

#[async_trait]
impl AssetStore for PgStore {
    async fn asset_fields(&self, ws: WorkspaceId) -> StoreResult<Vec<AssetField>> {
        read!(self, |c| {
            let rows: Vec<FieldRow> = asset_fields::table
                .filter(asset_fields::workspace_id.eq(ws.as_uuid()))
                .order(asset_fields::key)
                .select(FieldRow::as_select())
                .load(c)
                .await?;
            Ok(rows.into_iter().map(FieldRow::into_domain).collect::<Result<_, _>>()?)
        })
    }

    async fn create_asset_field(&self, field: &AssetField, audit: AuditDraft) -> StoreResult<()> {
        let row = FieldRow::from_domain(field);
        write_tx!(self, |c| {
            diesel::insert_into(asset_fields::table).values(&row).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn delete_asset_field(&self, ws: WorkspaceId, key: &FieldKey, audit: AuditDraft) -> StoreResult<()> {
        let key = key.as_str().to_owned();
        write_tx!(self, |c| {
            let gone = diesel::delete(asset_fields::table.find((ws.as_uuid(), &key))).execute(c).await?;
            if gone == 0 {
                return Err(Db(StoreError::NotFound));
            }
            diesel::sql_query(
                "UPDATE assets SET custom = (custom::jsonb - $1)::text WHERE workspace_id = $2 AND custom <> '{}'",
            )
            .bind::<diesel::sql_types::Text, _>(&key)
            .bind::<diesel::sql_types::Uuid, _>(ws.as_uuid())
            .execute(c)
            .await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn create_asset(&self, asset: &Asset, audit: AuditDraft) -> StoreResult<()> {
        let row = AssetRow::from_domain(asset);
        write_tx!(self, |c| {
            diesel::insert_into(assets::table).values(&row).execute(c).await?;
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn asset_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        asset: AssetId,
        trashed: bool,
    ) -> StoreResult<Option<(Asset, Role)>> {
        read!(self, |c| {
            let found: Option<ReadRow> = assets::table
                .inner_join(memberships::table.on(
                    memberships::workspace_id.eq(assets::workspace_id).and(memberships::user_id.eq(*actor.as_uuid())),
                ))
                .left_join(users::table.on(users::id.nullable().eq(assets::assignee_id)))
                .filter(assets::id.eq(*asset.as_uuid()))
                .filter(assets::workspace_id.eq(*ws.as_uuid()))
                .filter(assets::deleted_at.is_null().eq(!trashed))
                .select((AssetRow::as_select(), users::email.nullable(), memberships::role))
                .first(c)
                .await
                .optional()?;
            let Some((row, email, r)) = found else { return Ok(None) };
            Ok(Some((row.into_domain(email)?, role(&r)?)))
        })
    }

    async fn assets_for(
        &self,
        actor: UserId,
        ws: WorkspaceId,
        page: PageRequest,
    ) -> StoreResult<Option<(Role, Page<Asset>)>> {
        let (key, after) = match page.after {
            Some(after) => (cursor_time(after.key)?, after.id),
            None => (DateTime::<Utc>::MAX_UTC, Uuid::max()),
        };
        read!(self, |c| {
            // The member's row, left-joined to the page's assets: one statement.
            let rows: Vec<(String, Option<AssetRow>, Option<String>)> = memberships::table
                .left_join(
                    assets::table.on(assets::workspace_id
                        .eq(memberships::workspace_id)
                        .and(assets::deleted_at.is_null())
                        .and(assets::created_at.lt(key).or(assets::created_at.eq(key).and(assets::id.lt(after))))),
                )
                .left_join(users::table.on(users::id.nullable().eq(assets::assignee_id)))
                .filter(memberships::workspace_id.eq(ws.as_uuid()))
                .filter(memberships::user_id.eq(actor.as_uuid()))
                .order((assets::created_at.desc(), assets::id.desc()))
                .limit(i64::from(page.limit) + 1)
                .select((memberships::role, assets::all_columns.nullable(), users::email.nullable()))
                .load(c)
                .await?;
            let Some((r, _, _)) = <[_]>::first(&rows) else { return Ok(None) };
            let r = role(r)?;
            let items = rows
                .into_iter()
                .filter_map(|(_, row, email)| row.map(|row| row.into_domain(email)))
                .collect::<Result<Vec<_>, _>>()?;
            let page = Page::from_rows(items, page.limit, |a| Cursor {
                key: a.created_at.timestamp_micros(),
                id: *a.id.as_uuid(),
            });
            Ok(Some((r, page)))
        })
    }

    async fn update_asset(&self, asset: &Asset, read_at: DateTime<Utc>, audit: AuditDraft) -> StoreResult<()> {
        let row = AssetRow::from_domain(asset);
        write_tx!(self, |c| {
            let n = diesel::update(
                assets::table
                    .filter(assets::id.eq(row.id))
                    .filter(assets::workspace_id.eq(row.workspace_id))
                    .filter(assets::deleted_at.is_null())
                    .filter(assets::updated_at.eq(read_at)),
            )
            .set(&row)
            .execute(c)
            .await?;
            if n == 0 {
                return Err(Db(StoreError::Conflict(Conflict::Stale)));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn trash_asset(
        &self,
        ws: WorkspaceId,
        asset: AssetId,
        at: DateTime<Utc>,
        audit: AuditDraft,
    ) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(
                assets::table
                    .filter(assets::id.eq(*asset.as_uuid()))
                    .filter(assets::workspace_id.eq(*ws.as_uuid()))
                    .filter(assets::deleted_at.is_null()),
            )
            .set(assets::deleted_at.eq(at))
            .execute(c)
            .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn restore_asset(&self, ws: WorkspaceId, asset: AssetId, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::update(
                assets::table
                    .filter(assets::id.eq(*asset.as_uuid()))
                    .filter(assets::workspace_id.eq(*ws.as_uuid()))
                    .filter(assets::deleted_at.is_not_null()),
            )
            .set(assets::deleted_at.eq(None::<DateTime<Utc>>))
            .execute(c)
            .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn purge_asset(&self, ws: WorkspaceId, asset: AssetId, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| {
            let n = diesel::delete(
                assets::table
                    .filter(assets::id.eq(*asset.as_uuid()))
                    .filter(assets::workspace_id.eq(*ws.as_uuid()))
                    .filter(assets::deleted_at.is_not_null()),
            )
            .execute(c)
            .await?;
            if n == 0 {
                return Err(Db(StoreError::NotFound));
            }
            append(c, audit).await?;
            Ok(())
        })
    }

    async fn import_assets(
        &self,
        ws: WorkspaceId,
        mut feed: ImportFeed,
        at: DateTime<Utc>,
        dry_run: bool,
        mut audit: AuditDraft,
    ) -> StoreResult<ImportOutcome> {
        let mut conn = self.conn().await?;
        let done = conn
            .transaction::<_, Abort, _>(async move |c| {
                let mut out = ImportOutcome::default();
                loop {
                    match feed.next().await {
                        Some(ImportBatch::Rows(rows)) => import_batch(c, ws, rows, at, &mut out).await?,
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
                append(c, audit).await?;
                Ok(out)
            })
            .await;
        match done {
            Ok(out) => {
                // A bulk write leaves the planner's statistics behind until autovacuum
                // comes by; the export's keyset pages need them to use their index. The
                // import is committed: a failure here is only logged.
                if out.counts.created + out.counts.updated >= ANALYZE_AFTER
                    && let Err(e) = diesel::sql_query("ANALYZE assets").execute(&mut conn).await
                {
                    tracing::warn!(error = %e, "ANALYZE after a bulk import failed");
                }
                Ok(out)
            }
            Err(Abort::Rollback(out)) => Ok(out),
            Err(Abort::Db(e)) => Err(e.into()),
        }
    }

    async fn assets_in_order(&self, ws: WorkspaceId, after: Option<AssetId>, limit: u32) -> StoreResult<Vec<Asset>> {
        let after = after.map(|a| *a.as_uuid()).unwrap_or(Uuid::nil());
        read!(self, |c| {
            let rows: Vec<(AssetRow, Option<String>)> = assets::table
                .left_join(users::table.on(users::id.nullable().eq(assets::assignee_id)))
                .filter(assets::workspace_id.eq(*ws.as_uuid()))
                .filter(assets::deleted_at.is_null())
                .filter(assets::id.gt(after))
                .order(assets::id)
                .limit(i64::from(limit))
                .select((AssetRow::as_select(), users::email.nullable()))
                .load(c)
                .await?;
            Ok(rows.into_iter().map(|(r, e)| r.into_domain(e)).collect::<Result<_, _>>()?)
        })
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
