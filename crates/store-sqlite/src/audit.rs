//! Appending to and reading the per-workspace audit chains.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use uuid::Uuid;
use workvault_domain::audit::{AuditDraft, AuditEvent, GENESIS};
use workvault_domain::id::{AuditEventId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::ports::{AuditStore, StoreResult};

use crate::rows::{AuditRow, corrupt};
use crate::schema::{audit_events, audit_heads};
use crate::{Db, SqliteStore};

/// Appends `draft` to its workspace's chain. Must run inside the write transaction of
/// the change it records: SQLite's single writer serialises appends, so the head read
/// here cannot move before the insert.
pub(crate) fn append(conn: &mut SqliteConnection, draft: AuditDraft) -> Result<AuditEvent, Db> {
    let ws = draft.workspace_id.to_string();
    let head: Option<(i64, Vec<u8>)> =
        audit_heads::table.find(&ws).select((audit_heads::seq, audit_heads::hash)).first(conn).optional()?;
    let (seq, prev) = match head {
        Some((seq, hash)) => (seq, <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| corrupt("audit head", &ws))?),
        None => (0, GENESIS),
    };
    let event = draft.seal(AuditEventId::from_uuid(Uuid::now_v7()), seq + 1, prev);
    insert(conn, AuditRow::from_domain(&event))?;
    diesel::insert_into(audit_heads::table)
        .values((
            audit_heads::workspace_id.eq(&ws),
            audit_heads::seq.eq(event.seq),
            audit_heads::hash.eq(event.hash.to_vec()),
        ))
        .on_conflict(audit_heads::workspace_id)
        .do_update()
        .set((audit_heads::seq.eq(event.seq), audit_heads::hash.eq(event.hash.to_vec())))
        .execute(conn)?;
    Ok(event)
}

/// Appends many drafts, in order, with one head read and one head write per workspace
/// and the events inserted together (a batch of share link views).
pub(crate) fn append_all(conn: &mut SqliteConnection, drafts: Vec<AuditDraft>) -> Result<(), Db> {
    let mut by_ws: Vec<(String, Vec<AuditDraft>)> = Vec::new();
    for d in drafts {
        let ws = d.workspace_id.to_string();
        match by_ws.iter_mut().find(|(w, _)| *w == ws) {
            Some((_, list)) => list.push(d),
            None => by_ws.push((ws, vec![d])),
        }
    }
    for (ws, drafts) in by_ws {
        let head: Option<(i64, Vec<u8>)> =
            audit_heads::table.find(&ws).select((audit_heads::seq, audit_heads::hash)).first(conn).optional()?;
        let (mut seq, mut prev) = match head {
            Some((seq, hash)) => (seq, <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| corrupt("audit head", &ws))?),
            None => (0, GENESIS),
        };
        let mut rows = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let event = draft.seal(AuditEventId::from_uuid(Uuid::now_v7()), seq + 1, prev);
            (seq, prev) = (event.seq, event.hash);
            rows.push(AuditRow::from_domain(&event));
        }
        for row in rows {
            insert(conn, row)?;
        }
        diesel::insert_into(audit_heads::table)
            .values((audit_heads::workspace_id.eq(&ws), audit_heads::seq.eq(seq), audit_heads::hash.eq(prev.to_vec())))
            .on_conflict(audit_heads::workspace_id)
            .do_update()
            .set((audit_heads::seq.eq(seq), audit_heads::hash.eq(prev.to_vec())))
            .execute(conn)?;
    }
    Ok(())
}

/// Inserts one event. Its columns are named one by one, so the statement is the same
/// with or without a request id, and is prepared once per connection and cached (a
/// derived insert leaves out a `None` column, which makes its SQL vary).
fn insert(conn: &mut SqliteConnection, row: AuditRow) -> Result<(), Db> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(row.id),
            audit_events::workspace_id.eq(row.workspace_id),
            audit_events::seq.eq(row.seq),
            audit_events::at.eq(row.at),
            audit_events::actor.eq(row.actor),
            audit_events::action.eq(row.action),
            audit_events::target_kind.eq(row.target_kind),
            audit_events::target_id.eq(row.target_id),
            audit_events::details.eq(row.details),
            audit_events::request_id.eq(row.request_id),
            audit_events::prev_hash.eq(row.prev_hash),
            audit_events::hash.eq(row.hash),
        ))
        .execute(conn)?;
    Ok(())
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_events(&self, ws: WorkspaceId, page: PageRequest) -> StoreResult<Page<AuditEvent>> {
        self.settle().await?;
        self.run(move |conn| {
            let mut q = audit_events::table
                .filter(audit_events::workspace_id.eq(ws.to_string()))
                .order(audit_events::seq.desc())
                .limit(i64::from(page.limit) + 1)
                .select(AuditRow::as_select())
                .into_boxed();
            if let Some(after) = page.after {
                q = q.filter(audit_events::seq.lt(after.key));
            }
            let rows = q.load(conn)?.into_iter().map(AuditRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(rows, page.limit, |e| Cursor { key: e.seq, id: *e.id.as_uuid() }))
        })
        .await
    }

    async fn audit_chain(&self, ws: WorkspaceId, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        self.settle().await?;
        self.run(move |conn| {
            let rows = audit_events::table
                .filter(audit_events::workspace_id.eq(ws.to_string()))
                .filter(audit_events::seq.gt(after_seq))
                .order(audit_events::seq.asc())
                .limit(i64::from(limit))
                .select(AuditRow::as_select())
                .load(conn)?;
            Ok(rows.into_iter().map(AuditRow::into_domain).collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn audit_head(&self, ws: WorkspaceId) -> StoreResult<Option<(i64, [u8; 32])>> {
        self.settle().await?;
        self.run(move |conn| {
            let ws = ws.to_string();
            let head: Option<(i64, Vec<u8>)> =
                audit_heads::table.find(&ws).select((audit_heads::seq, audit_heads::hash)).first(conn).optional()?;
            match head {
                None => Ok(None),
                Some((seq, hash)) => {
                    Ok(Some((seq, <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| corrupt("audit head", &ws))?)))
                }
            }
        })
        .await
    }

    async fn record(&self, audit: AuditDraft) -> StoreResult<()> {
        self.write(move |c| append(c, audit).map(drop)).await
    }
}
