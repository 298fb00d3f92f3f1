//! The asset CSV format: a push parser that takes the file in pieces as they arrive
//! (never whole), and the validation of every row against the columns, collecting
//! errors as `{row, column, code, message}` so a bad file can be refused whole.
//!
//! Columns: `id, name, tag, serial, category, status, location, assignee_email,
//! purchase_date, cost, notes`, then `custom.<key>`; header names are matched
//! case-insensitively and only `name` is required. Cells beginning with `=`, `+`, `-`,
//! `@`, tab or CR are refused (a spreadsheet would run them as formulas) unless escaped
//! with a leading `'`, which the import removes and the export adds. The export also
//! escapes such a character right after a `,` `;` TAB `|` or line break inside a cell
//! (a spreadsheet reading the file with another delimiter starts a cell there), and the
//! import removes those escapes too.

use std::collections::{BTreeSet, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::asset::{AssetFields, AssetStatus, Cents, CustomValues, FieldKey, MAX_CUSTOM_VALUE};
use crate::id::AssetId;
use crate::text::{Email, LongText, Name};

/// The fixed columns, in export order.
pub const COLUMNS: [&str; 11] = [
    "id",
    "name",
    "tag",
    "serial",
    "category",
    "status",
    "location",
    "assignee_email",
    "purchase_date",
    "cost",
    "notes",
];

/// At most this many errors are listed (the total is counted on).
pub const MAX_LISTED_ERRORS: usize = 100;

/// The longest record taken, in bytes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// One problem with the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvError {
    /// The record's number, counting the header as 1 (0: the file as a whole).
    pub row: u64,
    /// The column's header name, if the problem is one cell's.
    pub column: Option<String>,
    /// A stable code.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// Splits CSV bytes into records as they arrive (RFC 4180 quoting), without holding
/// more than the record being read.
pub struct Records {
    reader: csv_core::Reader,
    field: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    bom_checked: bool,
    pending_bom: Vec<u8>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").field("buffered", &self.out_len).finish()
    }
}

impl Default for Records {
    fn default() -> Self {
        Self {
            reader: csv_core::Reader::new(),
            field: vec![0; 1024],
            ends: vec![0; 32],
            out_len: 0,
            ends_len: 0,
            bom_checked: false,
            pending_bom: Vec::new(),
        }
    }
}

/// What [`Records::feed`] found wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// A record longer than [`MAX_RECORD_BYTES`].
    RecordTooLong,
}

impl Records {
    /// Feeds the next piece of the file (an empty piece at the end); `record` hears each
    /// complete record's fields.
    pub fn feed(&mut self, mut input: &[u8], record: &mut dyn FnMut(&[&[u8]])) -> Result<(), SplitError> {
        let end = input.is_empty();
        // A UTF-8 byte order mark, even one split across pieces, is dropped.
        if !self.bom_checked {
            let take = (3 - self.pending_bom.len()).min(input.len());
            self.pending_bom.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending_bom.len() < 3 && !end {
                return Ok(());
            }
            self.bom_checked = true;
            let head = std::mem::take(&mut self.pending_bom);
            if head != [0xEF, 0xBB, 0xBF] {
                self.split(&head, false, record)?;
            }
        }
        self.split(input, end, record)
    }

    /// Runs the parser over `input`; at `end`, an empty read tells it the file ended.
    fn split(&mut self, mut input: &[u8], end: bool, record: &mut dyn FnMut(&[&[u8]])) -> Result<(), SplitError> {
        use csv_core::ReadRecordResult as R;
        loop {
            if input.is_empty() && !end {
                return Ok(());
            }
            let (res, nin, nout, nend) =
                self.reader.read_record(input, &mut self.field[self.out_len..], &mut self.ends[self.ends_len..]);
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                R::InputEmpty => {}
                R::OutputFull => {
                    if self.field.len() >= MAX_RECORD_BYTES {
                        return Err(SplitError::RecordTooLong);
                    }
                    let grown = (self.field.len() * 2).min(MAX_RECORD_BYTES);
                    self.field.resize(grown, 0);
                }
                R::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                R::Record => {
                    let mut start = 0;
                    let fields: Vec<&[u8]> = self.ends[..self.ends_len]
                        .iter()
                        .map(|&e| {
                            let f = &self.field[start..e];
                            start = e;
                            f
                        })
                        .collect();
                    record(&fields);
                    self.out_len = 0;
                    self.ends_len = 0;
                }
                R::End => return Ok(()),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Column {
    Fixed(usize),
    Custom(FieldKey),
}

/// One valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Its record number (the header is 1).
    pub row: u64,
    /// The asset it updates, if given.
    pub id: Option<AssetId>,
    /// Its fields.
    pub fields: AssetFields,
}

/// Validates the records of an asset CSV one by one.
#[derive(Debug)]
pub struct Importer {
    columns: Vec<(String, Column)>,
    seen: HashSet<AssetId>,
    errors: Vec<CsvError>,
    total_errors: u64,
    rows: u64,
}

const FORMULA: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Characters a spreadsheet may split a cell at: the delimiters of every locale's CSV
/// (`,` `;` TAB `|`) and line breaks (a reader that misses the quotes ends the record
/// there). A formula character right after one of them is escaped as at the start.
const SPLITS: [char; 6] = [',', ';', '\t', '|', '\n', '\r'];

/// Whether a spreadsheet would take text beginning here for a formula: a formula
/// character, possibly behind `"`s (a reader that splits a quoted cell drops them).
fn formula(rest: &str) -> bool {
    rest.trim_start_matches('"').starts_with(FORMULA)
}

/// Whether the text from here on needs an escape `'` in front: it begins like a
/// formula, or with a `'` that the import would take for an escape.
fn needs_escape(rest: &str) -> bool {
    formula(rest) || rest.strip_prefix('\'').is_some_and(|r| formula(r) || r.starts_with('\''))
}

/// Removes the formula escapes (a `'` before a formula character, `"`s and a formula
/// character, or another `'`, at the start of the cell or right after a delimiter or
/// line break), or refuses a cell that begins with a formula character. Any other `'`
/// is text (`'90s radio`).
pub fn unescape(cell: &str) -> Result<std::borrow::Cow<'_, str>, &'static str> {
    if cell.starts_with(FORMULA) {
        return Err("begins like a spreadsheet formula (=, +, -, @, tab or CR): put a ' before it to keep it as text");
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut at_start = true;
    for (i, c) in cell.char_indices() {
        if at_start && c == '\'' && needs_escape(&cell[i..]) {
            out.push_str(&cell[copied..i]);
            copied = i + 1;
        }
        at_start = SPLITS.contains(&c);
    }
    if copied == 0 {
        return Ok(cell.into());
    }
    out.push_str(&cell[copied..]);
    Ok(out.into())
}

/// Escapes a cell for export: a `'` before a formula character (also behind `"`s), and
/// before a `'` that the import would otherwise take for an escape, at the start of the
/// cell and after each delimiter or line break in it.
pub fn escape(cell: &str) -> std::borrow::Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut escaped = false;
    let mut at_start = true;
    for (i, c) in cell.char_indices() {
        if at_start && needs_escape(&cell[i..]) {
            out.push_str(&cell[copied..i]);
            out.push('\'');
            copied = i;
            escaped = true;
        }
        at_start = SPLITS.contains(&c);
    }
    if !escaped {
        return cell.into();
    }
    out.push_str(&cell[copied..]);
    out.into()
}

/// Appends one CSV record (escaped against formulas, CRLF), each cell quoted when it
/// holds a quote, a delimiter of any locale (`,` `;` TAB `|`) or a line break, or
/// begins or ends with a space.
pub fn write_record<'a>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = &'a str>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let cell = escape(cell);
        if cell.contains(SPLITS) || cell.contains('"') || cell.starts_with(' ') || cell.ends_with(' ') {
            out.push(b'"');
            for b in cell.bytes() {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(cell.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

impl Importer {
    /// Reads the header against the workspace's custom field keys.
    pub fn new(header: &[&[u8]], custom: &BTreeSet<FieldKey>) -> Result<Self, Vec<CsvError>> {
        let err = |code, message: String| CsvError { row: 1, column: None, code, message };
        let mut problems = Vec::new();
        if header.len() == 1 && header[0].iter().any(|b| matches!(b, b';' | b'\t' | b'|')) {
            return Err(vec![err("delimiter", "the header has one column: separate columns with commas".into())]);
        }
        let mut columns = Vec::new();
        let mut names = HashSet::new();
        for raw in header {
            let Ok(name) = std::str::from_utf8(raw) else {
                return Err(vec![err("encoding", "the header is not UTF-8".into())]);
            };
            let lower = name.trim().to_ascii_lowercase();
            if !names.insert(lower.clone()) {
                problems.push(err("duplicate_column", format!("the column `{lower}` appears twice")));
                continue;
            }
            let column = if let Some(i) = COLUMNS.iter().position(|c| *c == lower) {
                Column::Fixed(i)
            } else if let Some(key) = lower.strip_prefix("custom.").and_then(FieldKey::parse) {
                if !custom.contains(&key) {
                    problems.push(err(
                        "unknown_column",
                        format!("`{lower}`: no custom field `{}` is defined", key.as_str()),
                    ));
                    continue;
                }
                Column::Custom(key)
            } else {
                problems.push(err("unknown_column", format!("`{}` is not a column of the asset CSV", name.trim())));
                continue;
            };
            columns.push((lower, column));
        }
        if !columns.iter().any(|(_, c)| *c == Column::Fixed(1)) {
            problems.push(err("missing_column", "the `name` column is required".into()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self { columns, seen: HashSet::new(), errors: Vec::new(), total_errors: 0, rows: 0 })
    }

    fn fail(&mut self, row: u64, column: Option<&str>, code: &'static str, message: impl Into<String>) {
        self.total_errors += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(CsvError { row, column: column.map(str::to_owned), code, message: message.into() });
        }
    }

    /// Validates one record (`row` counts the header as 1); the row if it is valid.
    pub fn row(&mut self, row: u64, fields: &[&[u8]]) -> Option<ImportRow> {
        self.rows += 1;
        if fields.len() != self.columns.len() {
            let (n, want) = (fields.len(), self.columns.len());
            self.fail(row, None, "ragged_row", format!("has {n} cells; the header has {want}"));
            return None;
        }
        let before = self.total_errors;
        let mut cells: [Option<String>; 11] = Default::default();
        let mut custom = CustomValues::new();
        let columns = self.columns.clone();
        for ((name, column), raw) in columns.iter().zip(fields) {
            let Ok(text) = std::str::from_utf8(raw) else {
                self.fail(row, Some(name), "encoding", "is not UTF-8");
                continue;
            };
            let text = match unescape(text.trim()) {
                Ok(t) => t,
                Err(why) => {
                    self.fail(row, Some(name), "formula", why);
                    continue;
                }
            };
            if text.is_empty() {
                continue;
            }
            match column {
                Column::Fixed(i) => cells[*i] = Some(text.into_owned()),
                Column::Custom(_) if text.chars().count() > MAX_CUSTOM_VALUE => {
                    self.fail(row, Some(name), "too_long", format!("is longer than {MAX_CUSTOM_VALUE} characters"));
                }
                Column::Custom(_) if !crate::asset::custom_text_ok(&text) => {
                    self.fail(row, Some(name), "invalid_text", "holds control characters");
                }
                Column::Custom(key) => {
                    custom.insert(key.clone(), text.into_owned());
                }
            }
        }
        let fields = self.fields(row, cells, custom)?;
        (self.total_errors == before).then_some(fields)
    }

    fn fields(&mut self, row: u64, cells: [Option<String>; 11], custom: CustomValues) -> Option<ImportRow> {
        let [id, name, tag, serial, category, status, location, email, date, cost, notes] = cells;
        let id = match id.map(|s| s.parse::<AssetId>()) {
            Some(Ok(id)) if !self.seen.insert(id) => {
                self.fail(row, Some("id"), "duplicate_id", "this id is on an earlier row too");
                None
            }
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                self.fail(row, Some("id"), "invalid_id", "is not an asset id (leave it empty for a new asset)");
                None
            }
            None => None,
        };
        let mut name_of = |col: &'static str, v: Option<String>| -> Option<Name> {
            let v = v?;
            match Name::parse(&v) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.fail(row, Some(col), "invalid_text", e.to_string());
                    None
                }
            }
        };
        let name = name_of("name", name);
        let (tag, serial, category, location) = (
            name_of("tag", tag),
            name_of("serial", serial),
            name_of("category", category),
            name_of("location", location),
        );
        let status = status.and_then(|s| {
            let parsed = AssetStatus::parse(&s);
            if parsed.is_none() {
                let all: Vec<&str> = AssetStatus::ALL.iter().map(|s| s.as_str()).collect();
                self.fail(row, Some("status"), "invalid_status", format!("`{s}` is not one of {}", all.join(", ")));
            }
            parsed
        });
        let assignee_email = email.and_then(|e| match Email::parse(&e) {
            Ok(e) => Some(e),
            Err(_) => {
                self.fail(row, Some("assignee_email"), "invalid_email", format!("`{e}` is not an email address"));
                None
            }
        });
        let purchase_date = date.and_then(|d| match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
            Ok(day) if !crate::asset::date_in_range(day) => {
                self.fail(
                    row,
                    Some("purchase_date"),
                    "invalid_date",
                    format!("`{d}` is not between the years 1000 and 9999"),
                );
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.fail(row, Some("purchase_date"), "invalid_date", format!("`{d}` is not a date like 2025-07-14"));
                None
            }
        });
        let cost = cost.and_then(|c| match Cents::parse(&c) {
            Ok(c) => Some(c),
            Err(e) => {
                self.fail(row, Some("cost"), "invalid_number", format!("`{c}` {e}"));
                None
            }
        });
        let notes = notes.and_then(|n| match LongText::parse(&n) {
            Ok(n) => Some(n),
            Err(e) => {
                self.fail(row, Some("notes"), "invalid_text", e.to_string());
                None
            }
        });
        let Some(name) = name else {
            if self.errors.last().is_none_or(|e| e.row != row || e.column.as_deref() != Some("name")) {
                self.fail(row, Some("name"), "required", "a name is required");
            }
            return None;
        };
        let fields = AssetFields {
            name,
            tag,
            serial,
            category,
            status,
            location,
            assignee_email,
            purchase_date,
            cost,
            notes,
            custom,
        };
        Some(ImportRow { row, id, fields })
    }

    /// The columns of the file.
    pub fn columns(&self) -> crate::asset::ImportColumns {
        let mut out = crate::asset::ImportColumns::default();
        for (_, column) in &self.columns {
            match column {
                Column::Fixed(i) => out.fixed[*i] = true,
                Column::Custom(key) => {
                    out.custom.insert(key.clone());
                }
            }
        }
        out
    }

    /// Records an error found outside the cells (an unknown assignee, an id of another
    /// workspace) against a row.
    pub fn reject(&mut self, row: u64, column: &str, code: &'static str, message: impl Into<String>) {
        self.fail(row, Some(column), code, message);
    }

    /// The errors listed (at most [`MAX_LISTED_ERRORS`]), their total, and the rows read.
    pub fn finish(self) -> (Vec<CsvError>, u64, u64) {
        (self.errors, self.total_errors, self.rows)
    }
}

#[cfg(test)]
mod tests;
