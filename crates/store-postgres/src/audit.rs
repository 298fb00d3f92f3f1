//! Appending to and reading the per-workspace audit chains.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;
use workvault_domain::audit::{AuditDraft, AuditEvent, GENESIS};
use workvault_domain::id::{AuditEventId, WorkspaceId};
use workvault_domain::page::{Cursor, Page, PageRequest};
use workvault_domain::ports::{AuditStore, StoreResult};

use crate::rows::{AuditRow, digest};
use crate::schema::{audit_events, audit_heads};
use crate::{Db, PgStore, read, write_tx};

/// Appends `draft` to its workspace's chain, inside the caller's transaction. The head
/// row is locked (`FOR UPDATE`), so concurrent appends to one chain queue up behind
/// each other and never fork it.
pub(crate) async fn append(c: &mut AsyncPgConnection, draft: AuditDraft) -> Result<AuditEvent, Db> {
    let ws = *draft.workspace_id.as_uuid();
    let lock_head = || audit_heads::table.find(ws).select((audit_heads::seq, audit_heads::hash)).for_update();
    let mut head: Option<(i64, Vec<u8>)> = lock_head().first(c).await.optional()?;
    if head.is_none() {
        // The first event of a chain: create the head, then lock it like any other.
        diesel::insert_into(audit_heads::table)
            .values((audit_heads::workspace_id.eq(ws), audit_heads::seq.eq(0), audit_heads::hash.eq(GENESIS.to_vec())))
            .on_conflict_do_nothing()
            .execute(c)
            .await?;
        head = lock_head().first(c).await.optional()?;
    }
    let (seq, prev) = head.ok_or(Db(workvault_domain::ports::StoreError::NotFound))?;
    let event = draft.seal(AuditEventId::from_uuid(Uuid::now_v7()), seq + 1, digest(&prev)?);
    diesel::insert_into(audit_events::table).values(AuditRow::from_domain(&event)).execute(c).await?;
    diesel::update(audit_heads::table.find(ws))
        .set((audit_heads::seq.eq(event.seq), audit_heads::hash.eq(event.hash.to_vec())))
        .execute(c)
        .await?;
    Ok(event)
}

/// Appends many drafts, in order, with one locked head read and one head write per
/// workspace and the events inserted together (a batch of share link views).
pub(crate) async fn append_all(c: &mut AsyncPgConnection, drafts: Vec<AuditDraft>) -> Result<(), Db> {
    let mut by_ws: Vec<(Uuid, Vec<AuditDraft>)> = Vec::new();
    for d in drafts {
        let ws = *d.workspace_id.as_uuid();
        match by_ws.iter_mut().find(|(w, _)| *w == ws) {
            Some((_, list)) => list.push(d),
            None => by_ws.push((ws, vec![d])),
        }
    }
    // In workspace order, so two batches never lock heads in opposite orders.
    by_ws.sort_by_key(|(ws, _)| *ws);
    for (ws, drafts) in by_ws {
        let lock_head = || audit_heads::table.find(ws).select((audit_heads::seq, audit_heads::hash)).for_update();
        let mut head: Option<(i64, Vec<u8>)> = lock_head().first(c).await.optional()?;
        if head.is_none() {
            diesel::insert_into(audit_heads::table)
                .values((
                    audit_heads::workspace_id.eq(ws),
                    audit_heads::seq.eq(0),
                    audit_heads::hash.eq(GENESIS.to_vec()),
                ))
                .on_conflict_do_nothing()
                .execute(c)
                .await?;
            head = lock_head().first(c).await.optional()?;
        }
        let (mut seq, prev) = head.ok_or(Db(workvault_domain::ports::StoreError::NotFound))?;
        let mut prev = digest(&prev)?;
        let mut rows = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let event = draft.seal(AuditEventId::from_uuid(Uuid::now_v7()), seq + 1, prev);
            (seq, prev) = (event.seq, event.hash);
            rows.push(AuditRow::from_domain(&event));
        }
        // In chunks under PostgreSQL's 65,535 bound parameters a statement.
        for chunk in rows.chunks(1_000) {
            diesel::insert_into(audit_events::table).values(chunk).execute(c).await?;
        }
        diesel::update(audit_heads::table.find(ws))
            .set((audit_heads::seq.eq(seq), audit_heads::hash.eq(prev.to_vec())))
            .execute(c)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl AuditStore for PgStore {
    async fn audit_events(&self, ws: WorkspaceId, page: PageRequest) -> StoreResult<Page<AuditEvent>> {
        read!(self, |c| {
            let mut q = audit_events::table
                .filter(audit_events::workspace_id.eq(*ws.as_uuid()))
                .order(audit_events::seq.desc())
                .limit(i64::from(page.limit) + 1)
                .select(AuditRow::as_select())
                .into_boxed();
            if let Some(after) = page.after {
                q = q.filter(audit_events::seq.lt(after.key));
            }
            let rows = q.load(c).await?.into_iter().map(AuditRow::into_domain).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(rows, page.limit, |e| Cursor { key: e.seq, id: *e.id.as_uuid() }))
        })
    }

    async fn audit_chain(&self, ws: WorkspaceId, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        read!(self, |c| {
            let rows = audit_events::table
                .filter(audit_events::workspace_id.eq(*ws.as_uuid()))
                .filter(audit_events::seq.gt(after_seq))
                .order(audit_events::seq.asc())
                .limit(i64::from(limit))
                .select(AuditRow::as_select())
                .load(c)
                .await?;
            Ok(rows.into_iter().map(AuditRow::into_domain).collect::<Result<Vec<_>, _>>()?)
        })
    }

    async fn audit_head(&self, ws: WorkspaceId) -> StoreResult<Option<(i64, [u8; 32])>> {
        read!(self, |c| {
            let head: Option<(i64, Vec<u8>)> = audit_heads::table
                .find(*ws.as_uuid())
                .select((audit_heads::seq, audit_heads::hash))
                .first(c)
                .await
                .optional()?;
            Ok(head.map(|(seq, hash)| digest(&hash).map(|h| (seq, h))).transpose()?)
        })
    }

    async fn record(&self, audit: AuditDraft) -> StoreResult<()> {
        write_tx!(self, |c| append(c, audit).await.map(drop))
    }
}
