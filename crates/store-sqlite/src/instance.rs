//! Bulk dump and restore of every record (`workvault migrate-store`, and later full
//! export and import). Pages are keyset on the primary key.

use async_trait::async_trait;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::sqlite::SqliteConnection;
use workvault_domain::instance::{InstanceStore, Record, RecordKind, RecordPage};
use workvault_domain::ports::{StoreError, StoreResult};

use crate::assets::{AssetRow, FieldRow};
use crate::queue::TaskRow;
use crate::reports::{ReportRow, insert_items, items_of};
use crate::rows::{
    AuditRow, GrantRow, InviteRow, JobRow, MembershipRow, PhotoRow, SessionRow, SignInLinkRow, UserRow, WorkspaceRow,
    corrupt, micros, opt_time,
};
use crate::schema::{
    asset_fields, assets, audit_events, audit_heads, grants, invites, jobs, memberships, photos, reports, sessions,
    share_links, share_views, sign_in_links, submit_links, tasks, ticket_attachments, ticket_replies, tickets, users,
    workspaces,
};
use crate::share::{LinkRow, ViewRow};
use crate::tickets::{AttachmentRow, ReplyRow, SubmitLinkRow, TicketRow};
use crate::{Db, SqliteStore};

/// The cursor after the last record of a full page, or `None` at the end.
fn next<T>(rows: &[T], limit: u32, key: impl Fn(&T) -> String) -> Option<String> {
    (rows.len() == limit as usize).then(|| rows.last().map(key)).flatten()
}

fn split(cursor: &str) -> Result<(String, String), Db> {
    cursor.split_once('|').map(|(a, b)| (a.to_owned(), b.to_owned())).ok_or_else(|| Db(corrupt("cursor", cursor)))
}

/// A share view cursor, `link|at (µs)|id`; the start when there is none.
fn view_cursor(cursor: Option<&str>) -> Result<(String, i64, String), Db> {
    let Some(c) = cursor else { return Ok((String::new(), i64::MIN, String::new())) };
    let mut parts = c.splitn(3, '|');
    match (parts.next(), parts.next().and_then(|a| a.parse().ok()), parts.next()) {
        (Some(link), Some(at), Some(id)) => Ok((link.to_owned(), at, id.to_owned())),
        _ => Err(Db(corrupt("cursor", c))),
    }
}

/// An audit event cursor, `workspace|seq`; the start when there is none.
fn audit_cursor(cursor: Option<&str>) -> Result<(String, i64), Db> {
    let Some(c) = cursor else { return Ok((String::new(), i64::MIN)) };
    c.split_once('|')
        .and_then(|(ws, seq)| Some((ws.to_owned(), seq.parse().ok()?)))
        .ok_or_else(|| Db(corrupt("cursor", c)))
}

fn dump(c: &mut SqliteConnection, kind: RecordKind, after: Option<String>, limit: u32) -> Result<RecordPage, Db> {
    let n = i64::from(limit);
    let after_id = after.clone().unwrap_or_default();
    Ok(match kind {
        RecordKind::User => {
            let rows: Vec<UserRow> = users::table
                .filter(users::id.gt(&after_id))
                .order(users::id)
                .limit(n)
                .select(UserRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain().map(Record::User)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Workspace => {
            let rows: Vec<WorkspaceRow> = workspaces::table
                .filter(workspaces::id.gt(&after_id))
                .order(workspaces::id)
                .limit(n)
                .select(WorkspaceRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain().map(Record::Workspace)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Membership => {
            let (ws, user) = match &after {
                Some(a) => split(a)?,
                None => (String::new(), String::new()),
            };
            let rows: Vec<MembershipRow> = memberships::table
                .filter(
                    memberships::workspace_id
                        .gt(&ws)
                        .or(memberships::workspace_id.eq(&ws).and(memberships::user_id.gt(&user))),
                )
                .order((memberships::workspace_id, memberships::user_id))
                .limit(n)
                .select(MembershipRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| format!("{}|{}", r.workspace_id, r.user_id));
            (rows.into_iter().map(|r| r.into_domain().map(Record::Membership)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Job => {
            let rows: Vec<(JobRow, Option<i64>)> = jobs::table
                .filter(jobs::id.gt(&after_id))
                .order(jobs::id)
                .limit(n)
                .select((JobRow::as_select(), jobs::deleted_at))
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.0.id.clone());
            let records = rows
                .into_iter()
                .map(|(j, d)| Ok(Record::Job(j.into_domain()?, opt_time(d)?)))
                .collect::<Result<_, StoreError>>()?;
            (records, cursor)
        }
        RecordKind::Photo => {
            let rows: Vec<PhotoRow> = photos::table
                .filter(photos::id.gt(&after_id))
                .order(photos::id)
                .limit(n)
                .select(PhotoRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain().map(Record::Photo)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Report => {
            let rows: Vec<ReportRow> = reports::table
                .filter(reports::id.gt(&after_id))
                .order(reports::id)
                .limit(n)
                .select(ReportRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            let mut items = items_of(c, rows.iter().map(|r| r.id.clone()).collect())?;
            let records = rows
                .into_iter()
                .map(|r| {
                    let its = items.remove(&r.id).unwrap_or_default();
                    r.into_domain(its).map(Record::Report)
                })
                .collect::<Result<_, _>>()?;
            (records, cursor)
        }
        RecordKind::ShareLink => {
            let rows: Vec<LinkRow> = share_links::table
                .filter(share_links::id.gt(&after_id))
                .order(share_links::id)
                .limit(n)
                .select(LinkRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain().map(Record::ShareLink)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::ShareView => {
            let (link, at, id) = view_cursor(after.as_deref())?;
            // Keyset on the table's key (a row value, which SQLite seeks to).
            let rows: Vec<ViewRow> = share_views::table
                .filter(
                    sql::<Bool>("(link_id, at, id) > (")
                        .bind::<Text, _>(link)
                        .sql(", ")
                        .bind::<BigInt, _>(at)
                        .sql(", ")
                        .bind::<Text, _>(id)
                        .sql(")"),
                )
                .order((share_views::link_id, share_views::at, share_views::id))
                .limit(n)
                .select(ViewRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| format!("{}|{}|{}", r.link_id, r.at, r.id));
            (rows.into_iter().map(|r| r.into_domain().map(Record::ShareView)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::AssetField => {
            let (ws, key) = match &after {
                Some(a) => split(a)?,
                None => (String::new(), String::new()),
            };
            let rows: Vec<FieldRow> = asset_fields::table
                .filter(
                    asset_fields::workspace_id
                        .gt(&ws)
                        .or(asset_fields::workspace_id.eq(&ws).and(asset_fields::key.gt(&key))),
                )
                .order((asset_fields::workspace_id, asset_fields::key))
                .limit(n)
                .select(FieldRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| format!("{}|{}", r.workspace_id, r.key));
            (rows.into_iter().map(|r| r.into_domain().map(Record::AssetField)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Asset => {
            let rows: Vec<AssetRow> = assets::table
                .filter(assets::id.gt(&after_id))
                .order(assets::id)
                .limit(n)
                .select(AssetRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain(None).map(Record::Asset)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::SubmitLink => {
            let rows: Vec<SubmitLinkRow> = submit_links::table
                .filter(submit_links::id.gt(&after_id))
                .order(submit_links::id)
                .limit(n)
                .select(SubmitLinkRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain().map(Record::SubmitLink)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Ticket => {
            let rows: Vec<TicketRow> = tickets::table
                .filter(tickets::id.gt(&after_id))
                .order(tickets::id)
                .limit(n)
                .select(TicketRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain(None).map(Record::Ticket)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::TicketReply => {
            let rows: Vec<ReplyRow> = ticket_replies::table
                .filter(ticket_replies::id.gt(&after_id))
                .order(ticket_replies::id)
                .limit(n)
                .select(ReplyRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain(None).map(Record::TicketReply)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::TicketAttachment => {
            let rows: Vec<AttachmentRow> = ticket_attachments::table
                .filter(ticket_attachments::id.gt(&after_id))
                .order(ticket_attachments::id)
                .limit(n)
                .select(AttachmentRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain().map(Record::TicketAttachment)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Grant => {
            let (job, user) = match &after {
                Some(a) => split(a)?,
                None => (String::new(), String::new()),
            };
            let rows: Vec<GrantRow> = grants::table
                .filter(grants::job_id.gt(&job).or(grants::job_id.eq(&job).and(grants::user_id.gt(&user))))
                .order((grants::job_id, grants::user_id))
                .limit(n)
                .select(GrantRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| format!("{}|{}", r.job_id, r.user_id));
            (rows.into_iter().map(|r| r.into_domain().map(Record::Grant)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Invite => {
            let rows: Vec<InviteRow> = invites::table
                .filter(invites::id.gt(&after_id))
                .order(invites::id)
                .limit(n)
                .select(InviteRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain().map(Record::Invite)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Session => {
            let rows: Vec<SessionRow> = sessions::table
                .filter(sessions::id.gt(&after_id))
                .order(sessions::id)
                .limit(n)
                .select(SessionRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            let records = rows
                .into_iter()
                .map(|r| {
                    let revoked = opt_time(r.revoked_at)?;
                    Ok(Record::Session(r.into_domain()?, revoked))
                })
                .collect::<Result<_, StoreError>>()?;
            (records, cursor)
        }
        RecordKind::SignInLink => {
            let after_hash = after.as_deref().map(hex_decode).transpose()?.unwrap_or_default();
            let rows: Vec<SignInLinkRow> = sign_in_links::table
                .filter(sign_in_links::token_hash.gt(after_hash))
                .order(sign_in_links::token_hash)
                .limit(n)
                .select(SignInLinkRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| hex::encode(&r.token_hash));
            (rows.into_iter().map(|r| r.into_domain().map(Record::SignInLink)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::AuditEvent => {
            let (ws, seq) = audit_cursor(after.as_deref())?;
            let rows: Vec<AuditRow> = audit_events::table
                .filter(
                    sql::<Bool>("(workspace_id, seq) > (")
                        .bind::<Text, _>(ws)
                        .sql(", ")
                        .bind::<BigInt, _>(seq)
                        .sql(")"),
                )
                .order((audit_events::workspace_id, audit_events::seq))
                .limit(n)
                .select(AuditRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| format!("{}|{}", r.workspace_id, r.seq));
            (rows.into_iter().map(|r| r.into_domain().map(Record::AuditEvent)).collect::<Result<_, _>>()?, cursor)
        }
        RecordKind::Task => {
            let rows: Vec<TaskRow> = tasks::table
                .filter(tasks::id.gt(&after_id))
                .order(tasks::id)
                .limit(n)
                .select(TaskRow::as_select())
                .load(c)?;
            let cursor = next(&rows, limit, |r| r.id.clone());
            (rows.into_iter().map(|r| r.into_domain().map(Record::Task)).collect::<Result<_, _>>()?, cursor)
        }
    })
}

fn hex_decode(s: &str) -> Result<Vec<u8>, Db> {
    hex::decode(s).map_err(|_| Db(corrupt("cursor", s)))
}

fn restore_one(c: &mut SqliteConnection, record: &Record) -> Result<(), Db> {
    match record {
        Record::User(u) => {
            let row = UserRow {
                id: u.id.to_string(),
                issuer: u.issuer.clone(),
                subject: u.subject.clone(),
                email: u.email.to_string(),
                created_at: micros(u.created_at),
            };
            diesel::insert_into(users::table).values(row).execute(c)?;
        }
        Record::Workspace(w) => {
            diesel::insert_into(workspaces::table).values(WorkspaceRow::from_domain(w)).execute(c)?;
        }
        Record::Membership(m) => {
            diesel::insert_into(memberships::table).values(MembershipRow::from_domain(m)).execute(c)?;
        }
        Record::Job(j, deleted) => {
            diesel::insert_into(jobs::table)
                .values((JobRow::from_domain(j), jobs::deleted_at.eq(deleted.map(micros))))
                .execute(c)?;
        }
        Record::Photo(p) => {
            diesel::insert_into(photos::table).values(PhotoRow::from_domain(p)).execute(c)?;
        }
        Record::Report(r) => {
            diesel::insert_into(reports::table).values(ReportRow::from_domain(r)).execute(c)?;
            insert_items(c, r)?;
        }
        Record::ShareLink(l) => {
            diesel::insert_into(share_links::table).values(LinkRow::from_domain(l)).execute(c)?;
        }
        Record::ShareView(v) => {
            diesel::insert_into(share_views::table).values(ViewRow::from_domain(v)).execute(c)?;
        }
        Record::AssetField(f) => {
            diesel::insert_into(asset_fields::table).values(FieldRow::from_domain(f)).execute(c)?;
        }
        Record::Asset(a) => {
            diesel::insert_into(assets::table).values(AssetRow::from_domain(a)).execute(c)?;
        }
        Record::SubmitLink(l) => {
            diesel::insert_into(submit_links::table).values(SubmitLinkRow::from_domain(l)).execute(c)?;
        }
        Record::Ticket(t) => {
            diesel::insert_into(tickets::table).values(TicketRow::from_domain(t)).execute(c)?;
        }
        Record::TicketReply(r) => {
            diesel::insert_into(ticket_replies::table).values(ReplyRow::from_domain(r)).execute(c)?;
        }
        Record::TicketAttachment(a) => {
            diesel::insert_into(ticket_attachments::table).values(AttachmentRow::from_domain(a)).execute(c)?;
        }
        Record::Grant(g) => {
            diesel::insert_into(grants::table).values(GrantRow::from_domain(g)).execute(c)?;
        }
        Record::Invite(i) => {
            diesel::insert_into(invites::table).values(InviteRow::from_domain(i)).execute(c)?;
        }
        Record::Session(s, revoked) => {
            let row = SessionRow { revoked_at: revoked.map(micros), ..SessionRow::from_domain(s) };
            diesel::insert_into(sessions::table).values(row).execute(c)?;
        }
        Record::SignInLink(l) => {
            diesel::insert_into(sign_in_links::table).values(SignInLinkRow::from_domain(l)).execute(c)?;
        }
        Record::AuditEvent(e) => {
            diesel::insert_into(audit_events::table).values(AuditRow::from_domain(e)).execute(c)?;
            // Keep the head at the chain's last event, whatever order events arrive in.
            let ws = e.workspace_id.to_string();
            let head: Option<i64> = audit_heads::table.find(&ws).select(audit_heads::seq).first(c).optional()?;
            if head.is_none_or(|h| h < e.seq) {
                diesel::insert_into(audit_heads::table)
                    .values((
                        audit_heads::workspace_id.eq(&ws),
                        audit_heads::seq.eq(e.seq),
                        audit_heads::hash.eq(e.hash.to_vec()),
                    ))
                    .on_conflict(audit_heads::workspace_id)
                    .do_update()
                    .set((audit_heads::seq.eq(e.seq), audit_heads::hash.eq(e.hash.to_vec())))
                    .execute(c)?;
            }
        }
        Record::Task(t) => {
            diesel::insert_into(tasks::table).values(TaskRow::from_domain(t, t.created_at)).execute(c)?;
        }
    }
    Ok(())
}

#[async_trait]
impl InstanceStore for SqliteStore {
    async fn dump(&self, kind: RecordKind, after: Option<String>, limit: u32) -> StoreResult<RecordPage> {
        if matches!(kind, RecordKind::ShareView | RecordKind::AuditEvent) {
            self.settle().await?;
        }
        self.run(move |c| dump(c, kind, after, limit)).await
    }

    async fn restore(&self, records: &[Record]) -> StoreResult<()> {
        let records = records.to_vec();
        self.write(move |c| {
            for r in &records {
                restore_one(c, r)?;
            }
            Ok(())
        })
        .await
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        self.run(|c| {
            use diesel::dsl::exists;
            let any = diesel::select(
                exists(users::table.select(users::id))
                    .or(exists(workspaces::table.select(workspaces::id)))
                    .or(exists(audit_events::table.select(audit_events::id)))
                    .or(exists(sign_in_links::table.select(sign_in_links::email)))
                    .or(exists(tasks::table.select(tasks::id))),
            )
            .get_result::<bool>(c)?;
            Ok(!any)
        })
        .await
    }
}
