//! CSV import and export of assets.
//!
//! An import takes two passes over the file, so that nothing is written unless all of
//! it is valid and no write transaction waits on a slow upload. The adapter keeps a
//! copy of the body as it arrives (a spool file) and feeds each piece to
//! [`AssetImport::check`]; [`AssetImport::finish`] gives the problems, or a
//! [`CheckedImport`]; [`Workvault::apply_asset_import`] then reads the copy again and
//! the store writes every row in one transaction (rolled back on a dry run). Neither
//! pass holds more of the file than one record and one batch of rows.

use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use super::assets::record_of;
use super::{Ctx, Workvault};
use crate::asset::{Asset, FieldKey, ImportBatch, ImportCounts, ImportWrite, RowRefusal};
use crate::asset_csv::{COLUMNS, CsvError, Importer, MAX_LISTED_ERRORS, Records, SplitError, write_record};
use crate::blob::ByteStream;
use crate::error::Error;
use crate::id::{AssetId, UserId, WorkspaceId};
use crate::policy::Action;
use crate::text::Email;

/// Rows per batch handed to the store.
const BATCH: usize = 1000;

/// Assets read per export page.
const EXPORT_PAGE: u32 = 5000;

/// The first pass of an import: checks the file piece by piece.
#[derive(Debug)]
pub struct AssetImport {
    ctx: Ctx,
    ws: WorkspaceId,
    keys: BTreeSet<FieldKey>,
    members: HashMap<Email, UserId>,
    records: Records,
    pass: Pass,
}

#[derive(Debug)]
enum Pass {
    Header,
    Rows { importer: Importer, row: u64 },
    Refused(Vec<CsvError>),
}

impl Pass {
    fn record(&mut self, fields: &[&[u8]], keys: &BTreeSet<FieldKey>, members: &HashMap<Email, UserId>) {
        match self {
            Pass::Header => {
                *self = match Importer::new(fields, keys) {
                    Ok(importer) => Pass::Rows { importer, row: 1 },
                    Err(errors) => Pass::Refused(errors),
                }
            }
            Pass::Rows { importer, row } => {
                *row += 1;
                if let Some(valid) = importer.row(*row, fields)
                    && let Some(email) = valid.fields.assignee_email
                    && !members.contains_key(&email)
                {
                    let message = format!("`{}` is not a member of this workspace", email.as_str());
                    importer.reject(*row, "assignee_email", "unknown_assignee", message);
                }
            }
            Pass::Refused(_) => {}
        }
    }

    fn row(&self) -> u64 {
        match self {
            Pass::Rows { row, .. } => *row,
            _ => 1,
        }
    }
}

/// A file that passed the first pass; only [`Workvault::apply_asset_import`] uses it.
#[derive(Debug)]
pub struct CheckedImport {
    ctx: Ctx,
    ws: WorkspaceId,
    keys: BTreeSet<FieldKey>,
    members: HashMap<Email, UserId>,
    rows: u64,
}

impl CheckedImport {
    /// How many rows the file holds.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

fn too_long(row: u64) -> CsvError {
    CsvError {
        row,
        column: None,
        code: "record_too_long",
        message: format!("a record is longer than {} KiB", crate::asset_csv::MAX_RECORD_BYTES / 1024),
    }
}

impl AssetImport {
    /// Checks the next piece of the file (an empty piece at the end).
    pub fn check(&mut self, piece: &[u8]) {
        if matches!(self.pass, Pass::Refused(_)) {
            return;
        }
        let (pass, keys, members) = (&mut self.pass, &self.keys, &self.members);
        let fed = self.records.feed(piece, &mut |fields| pass.record(fields, keys, members));
        if let Err(SplitError::RecordTooLong) = fed {
            let row = self.pass.row() + 1;
            let mut listed = match std::mem::replace(&mut self.pass, Pass::Header) {
                Pass::Rows { importer, .. } => importer.finish().0,
                _ => Vec::new(),
            };
            listed.truncate(MAX_LISTED_ERRORS - 1);
            listed.push(too_long(row));
            self.pass = Pass::Refused(listed);
        }
    }

    /// Ends the first pass (after the empty piece): the problems, or the go-ahead.
    pub fn finish(self) -> Result<CheckedImport, Error> {
        let (importer, rows) = match self.pass {
            Pass::Header => {
                let message = "the file is empty: the first line names the columns (name, …)".to_owned();
                let errors = vec![CsvError { row: 0, column: None, code: "empty", message }];
                return Err(Error::CsvRejected { errors, total: 1 });
            }
            Pass::Refused(errors) => {
                let total = errors.len() as u64;
                return Err(Error::CsvRejected { errors, total });
            }
            Pass::Rows { importer, row } => (importer, row - 1),
        };
        let (errors, total, _) = importer.finish();
        if total > 0 {
            return Err(Error::CsvRejected { errors, total });
        }
        Ok(CheckedImport { ctx: self.ctx, ws: self.ws, keys: self.keys, members: self.members, rows })
    }
}

/// The CSV export: its columns and the stream of its bytes.
pub struct CsvExport {
    /// The header (fixed columns, then `custom.<key>` in key order).
    pub columns: Vec<String>,
    /// The file, header first, one page of assets per piece.
    pub body: Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>,
}

impl std::fmt::Debug for CsvExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvExport").field("columns", &self.columns).finish()
    }
}

impl CsvExport {
    /// A CSV file streamed in keyset pages: the header, then one piece per page that
    /// `fetch` reads after the last id written (`page` records at most), each record
    /// written by `write`. The stream ends after a short page.
    pub(super) fn paged<T, K, F, Fut>(
        columns: Vec<String>,
        page: u32,
        fetch: F,
        key: fn(&T) -> K,
        write: impl Fn(&mut Vec<u8>, &T) + Clone + Send + Sync + 'static,
    ) -> Self
    where
        T: Send + 'static,
        K: Copy + Send + 'static,
        F: Fn(Option<K>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<T>, Error>> + Send + 'static,
    {
        let mut header = Vec::new();
        write_record(&mut header, columns.iter().map(String::as_str));
        // State: the last key written; `None` once the last page went out.
        let pages = futures_util::stream::try_unfold(Some(None::<K>), move |after| {
            let (fetch, write) = (fetch.clone(), write.clone());
            async move {
                let Some(after) = after else { return Ok(None) };
                let records = fetch(after).await?;
                let Some(last) = records.last().map(key) else { return Ok(None) };
                let mut out = Vec::with_capacity(records.len() * 200);
                for r in &records {
                    write(&mut out, r);
                }
                let next = (records.len() == page as usize).then_some(Some(last));
                Ok(Some((Bytes::from(out), next)))
            }
        });
        let body = futures_util::stream::once(async move { Ok(Bytes::from(header)) }).chain(pages);
        CsvExport { columns, body: Box::pin(body) }
    }
}

/// Writes one asset as a CSV record in the export's column order.
fn write_asset(out: &mut Vec<u8>, a: &Asset, keys: &[FieldKey]) {
    let r = &a.record;
    let id = a.id.to_string();
    let date = r.purchase_date.map(|d| d.format("%Y-%m-%d").to_string());
    let cost = r.cost.map(|c| c.to_string());
    let fixed: [&str; 11] = [
        &id,
        r.name.as_str(),
        r.tag.as_ref().map_or("", |t| t.as_str()),
        r.serial.as_ref().map_or("", |t| t.as_str()),
        r.category.as_ref().map_or("", |t| t.as_str()),
        r.status.as_str(),
        r.location.as_ref().map_or("", |t| t.as_str()),
        a.assignee_email.as_ref().map_or("", |e| e.as_str()),
        date.as_deref().unwrap_or(""),
        cost.as_deref().unwrap_or(""),
        r.notes.as_ref().map_or("", |n| n.as_str()),
    ];
    let custom = keys.iter().map(|k| r.custom.get(k).map_or("", String::as_str));
    write_record(out, fixed.into_iter().chain(custom));
}

impl Workvault {
    /// Starts an import into `ws`: checks the right (`ImportAssets`) and reads the
    /// workspace's custom fields and members once.
    pub async fn begin_asset_import(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<AssetImport, Error> {
        self.authorize_workspace(ctx, ws, Action::ImportAssets).await?;
        let (keys, members) = (self.field_keys(ws).await?, self.member_emails(ws).await?);
        Ok(AssetImport { ctx: *ctx, ws, keys, members, records: Records::default(), pass: Pass::Header })
    }

    /// The second pass: reads the checked file again (`body`, the same bytes) and has
    /// the store write every row in one transaction, or, for a dry run, count what it
    /// would do and roll back. Audited (`assets.imported`, with the counts) when written.
    pub async fn apply_asset_import(
        &self,
        checked: CheckedImport,
        body: ByteStream,
        dry_run: bool,
    ) -> Result<ImportCounts, Error> {
        let CheckedImport { ctx, ws, keys, members, rows } = checked;
        self.authorize_workspace(&ctx, ws, Action::ImportAssets).await?;
        let (tx, rx) = futures_channel::mpsc::channel(4);
        let details = json!({"rows": rows});
        let audit = self.audit(&ctx, ws, "assets.imported", ("workspace", ws.to_string()), details);
        let produce = self.produce_rows(body, keys, members, tx);
        let write = self.store.import_assets(ws, rx, self.now(), dry_run, audit);
        let (produced, written) = futures_util::future::join(produce, write).await;
        // The store's failure first: when it stops reading, the producer fails too.
        let outcome = written?;
        produced?;
        if outcome.total_refused > 0 {
            let errors = outcome
                .refused
                .iter()
                .map(|&(row, why)| CsvError {
                    row,
                    column: Some("id".into()),
                    code: match why {
                        RowRefusal::UnknownId => "unknown_id",
                        RowRefusal::Trashed => "trashed_id",
                    },
                    message: match why {
                        RowRefusal::UnknownId => {
                            "no asset of this workspace has this id (leave it empty to create one)"
                        }
                        RowRefusal::Trashed => "this asset is in the trash: restore it first",
                    }
                    .into(),
                })
                .collect();
            return Err(Error::CsvRejected { errors, total: outcome.total_refused });
        }
        Ok(outcome.counts)
    }

    /// Parses the checked file again into batches of rows for the store; sends
    /// [`ImportBatch::End`] only after the last row, so a failure here rolls back.
    async fn produce_rows(
        &self,
        mut body: ByteStream,
        keys: BTreeSet<FieldKey>,
        members: HashMap<Email, UserId>,
        mut tx: futures_channel::mpsc::Sender<ImportBatch>,
    ) -> Result<(), Error> {
        let changed = || Error::BadBody("the file changed between its check and its import".into());
        let mut records = Records::default();
        let mut importer: Option<Importer> = None;
        let mut columns = std::sync::Arc::new(crate::asset::ImportColumns::default());
        let (mut row, mut batch, mut bad) = (1_u64, Vec::with_capacity(BATCH), false);
        let mut at_end = false;
        while !at_end {
            let piece = match body.next().await {
                Some(piece) => piece.map_err(|e| Error::BadBody(e.to_string()))?,
                None => {
                    at_end = true;
                    Bytes::new()
                }
            };
            let fed = records.feed(&piece, &mut |fields| {
                let Some(imp) = importer.as_mut() else {
                    importer = Importer::new(fields, &keys).ok();
                    bad |= importer.is_none();
                    if let Some(imp) = &importer {
                        columns = std::sync::Arc::new(imp.columns());
                    }
                    return;
                };
                row += 1;
                let valid = imp.row(row, fields).and_then(|r| Some((r.row, r.id, record_of(r.fields, &members).ok()?)));
                let Some((row, id, record)) = valid else {
                    bad = true;
                    return;
                };
                let (id, update) = match id {
                    Some(id) => (id, true),
                    None => (AssetId::generate(&*self.clock, &*self.rng), false),
                };
                batch.push(ImportWrite { row, id, update, record, columns: columns.clone() });
            });
            if fed.is_err() || bad {
                return Err(changed());
            }
            if batch.len() >= BATCH || (at_end && !batch.is_empty()) {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                tx.send(ImportBatch::Rows(full)).await.map_err(|_| changed())?;
            }
        }
        if importer.is_none() {
            return Err(changed());
        }
        tx.send(ImportBatch::End).await.map_err(|_| changed())?;
        Ok(())
    }

    /// Exports the live assets as CSV, in id order (creation order), streamed page by
    /// page. Audited (`assets.exported`) before the first byte.
    pub async fn export_assets(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<CsvExport, Error> {
        self.authorize_workspace(ctx, ws, Action::ExportRecords).await?;
        let keys: Vec<FieldKey> = self.field_keys(ws).await?.into_iter().collect();
        let mut columns: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        columns.extend(keys.iter().map(|k| format!("custom.{}", k.as_str())));
        let details = json!({"columns": columns.len()});
        self.store.record(self.audit(ctx, ws, "assets.exported", ("workspace", ws.to_string()), details)).await?;
        let store = self.store.clone();
        let fetch = move |after| {
            let store = store.clone();
            async move { Ok(store.assets_in_order(ws, after, EXPORT_PAGE).await?) }
        };
        let write = move |out: &mut Vec<u8>, a: &Asset| write_asset(out, a, &keys);
        Ok(CsvExport::paged(columns, EXPORT_PAGE, fetch, |a: &Asset| a.id, write))
    }
}
