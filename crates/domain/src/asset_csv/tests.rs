use super::*;

fn split_all(pieces: &[&[u8]]) -> Result<Vec<Vec<Vec<u8>>>, SplitError> {
    let mut records = Records::default();
    let mut out = Vec::new();
    let mut emit = |r: &[&[u8]]| out.push(r.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
    for piece in pieces {
        records.feed(piece, &mut emit)?;
    }
    records.feed(b"", &mut emit)?;
    Ok(out)
}

fn strings(records: &[Vec<Vec<u8>>]) -> Vec<Vec<String>> {
    records.iter().map(|r| r.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect()).collect()
}

const FILE: &[u8] = b"\xEF\xBB\xBFName,Tag,notes\r\nDrill,T-1,\"two\r\nlines, and a comma\"\r\n\"Saw \"\"big\"\"\",,\nLast,L,no newline";

#[test]
fn records_are_the_same_whatever_pieces_the_file_arrives_in() {
    let whole = split_all(&[FILE]).expect("split");
    assert_eq!(
        strings(&whole),
        [
            vec!["Name", "Tag", "notes"],
            vec!["Drill", "T-1", "two\r\nlines, and a comma"],
            vec!["Saw \"big\"", "", ""],
            vec!["Last", "L", "no newline"],
        ]
    );
    for size in 1..FILE.len() {
        let pieces: Vec<&[u8]> = FILE.chunks(size).collect();
        assert_eq!(split_all(&pieces).expect("split"), whole, "pieces of {size}");
    }
    assert_eq!(strings(&split_all(&[b"a,b\n"]).expect("split")), [vec!["a", "b"]], "no BOM");
    assert_eq!(split_all(&[b""]).expect("split"), Vec::<Vec<Vec<u8>>>::new());
}

#[test]
fn a_record_longer_than_the_limit_is_refused() {
    let long = vec![b'x'; MAX_RECORD_BYTES + 1];
    assert_eq!(split_all(&[b"name\n", &long]), Err(SplitError::RecordTooLong));
}

fn importer(header: &str) -> Result<Importer, Vec<CsvError>> {
    let custom: BTreeSet<FieldKey> = [FieldKey::parse("warranty").expect("key")].into();
    let fields: Vec<&[u8]> = header.split(',').map(str::as_bytes).collect();
    Importer::new(&fields, &custom)
}

fn row(imp: &mut Importer, n: u64, line: &str) -> Option<ImportRow> {
    let fields: Vec<&[u8]> = line.split(',').map(str::as_bytes).collect();
    imp.row(n, &fields)
}

#[test]
fn headers_match_case_insensitively_and_need_a_name() {
    assert!(importer("NAME,Tag,Custom.Warranty").is_ok());
    let codes = |r: Result<Importer, Vec<CsvError>>| {
        r.err().unwrap_or_default().into_iter().map(|e| e.code).collect::<Vec<_>>()
    };
    assert_eq!(codes(importer("tag,serial")), ["missing_column"]);
    assert_eq!(codes(importer("name,colour")), ["unknown_column"]);
    assert_eq!(codes(importer("name,custom.unknown")), ["unknown_column"]);
    assert_eq!(codes(importer("name,Name")), ["duplicate_column"]);
    assert_eq!(codes(importer("name;tag;serial")), ["delimiter"]);
}

#[test]
fn valid_rows_become_fields_and_every_bad_cell_is_named() {
    let header = "id,name,status,assignee_email,purchase_date,cost,notes,custom.warranty";
    let mut imp = importer(header).expect("header");
    let good = row(
        &mut imp,
        2,
        "0190f0e2-7c3a-7000-8000-000000000001,Drill,In use,a@example.test,2025-07-14,1234.5,'=not a formula,2027",
    )
    .expect("valid");
    assert_eq!(good.fields.name.to_string(), "Drill");
    assert_eq!(good.fields.status, Some(AssetStatus::InUse));
    assert_eq!(good.fields.cost, Some(Cents(123_450)));
    assert_eq!(good.fields.purchase_date, NaiveDate::from_ymd_opt(2025, 7, 14));
    assert_eq!(good.fields.notes.as_ref().map(|n| n.to_string()).as_deref(), Some("=not a formula"), "escape removed");
    assert_eq!(good.fields.custom.values().next().map(String::as_str), Some("2027"));
    let minimal = row(&mut imp, 3, ",Saw,,,,,,").expect("only a name");
    assert_eq!((minimal.id, minimal.fields.status, minimal.fields.cost), (None, None, None));

    let bad = [
        (4, "0190f0e2-7c3a-7000-8000-000000000001,Dup,,,,,,", "duplicate_id", "id"),
        (5, "nope,Bad id,,,,,,", "invalid_id", "id"),
        (6, ",Bad date,,,2025-13-01,,,", "invalid_date", "purchase_date"),
        (7, ",Bad cost,,,,12.345,,", "invalid_number", "cost"),
        (8, ",Bad status,broken,,,,,", "invalid_status", "status"),
        (9, ",Bad email,,not-an-email,,,,", "invalid_email", "assignee_email"),
        (10, ",=SUM(A1),,,,,,", "formula", "name"),
        (11, ",,,,,,,", "required", "name"),
    ];
    for (n, line, code, column) in bad {
        assert!(row(&mut imp, n, line).is_none(), "{line}");
        let last = imp.errors.last().expect("an error");
        assert_eq!((last.row, last.code, last.column.as_deref()), (n, code, Some(column)), "{line}");
    }
    assert!(row(&mut imp, 12, "a,b").is_none());
    assert_eq!(imp.errors.last().map(|e| e.code), Some("ragged_row"));
    let latin1: Vec<&[u8]> = vec![b"", b"Caf\xe9", b"", b"", b"", b"", b"", b""];
    assert!(imp.row(13, &latin1).is_none());
    assert_eq!(imp.errors.last().map(|e| (e.code, e.column.as_deref())), Some(("encoding", Some("name"))));
    let (_, total, rows) = imp.finish();
    assert_eq!((total, rows), (10, 12), "12 rows read, 10 refused cells or rows");
}

#[test]
fn errors_are_listed_up_to_a_hundred_and_all_counted() {
    let mut imp = importer("name,cost").expect("header");
    for n in 0..250 {
        assert!(row(&mut imp, n + 2, "x,-1").is_none());
    }
    let (errors, total, rows) = imp.finish();
    assert_eq!((errors.len(), total, rows), (MAX_LISTED_ERRORS, 250, 250));
}

#[test]
fn export_escaping_round_trips_through_import() {
    for cell in
        ["=1+1", "+33 1 23", "-40 freezer", "@home", "\tindented", "plain", "", "'quoted", "'=kept", "''", "'", "'-'"]
    {
        let escaped = escape(cell);
        assert_eq!(unescape(&escaped).as_deref(), Ok(cell), "{cell:?}");
        assert!(!escaped.starts_with(['=', '+', '-', '@', '\t', '\r']), "{escaped:?}");
    }
    assert_eq!(unescape("'90s radio").as_deref(), Ok("'90s radio"), "a quote before text is text");
    assert_eq!(unescape("a;'90s").as_deref(), Ok("a;'90s"), "after a delimiter too");
}

#[test]
fn written_records_split_back_into_the_same_cells() {
    let cells = ["a,b", "say \"hi\"", "two\nlines", " padded ", "=SUM(A1)", "plain"];
    let mut out = Vec::new();
    write_record(&mut out, cells);
    let mut got = Vec::new();
    let mut records = Records::default();
    let mut keep =
        |f: &[&[u8]]| got.push(f.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>());
    records.feed(&out, &mut keep).expect("feed");
    records.feed(&[], &mut keep).expect("end");
    let back: Vec<String> = got[0].iter().map(|c| unescape(c).expect("escaped").into_owned()).collect();
    assert_eq!(back, cells);
}

fn written(cells: &[&str]) -> String {
    let mut out = Vec::new();
    write_record(&mut out, cells.iter().copied());
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn a_formula_after_a_delimiter_inside_a_cell_is_escaped_and_the_cell_quoted() {
    assert_eq!(written(&["Laptop;=1+1;"]), "\"Laptop;'=1+1;\"\r\n");
    assert_eq!(written(&["tab\there", "x"]), "\"tab\there\",x\r\n", "a tab is a delimiter: quoted");
    assert_eq!(written(&["note\t-1"]), "\"note\t'-1\"\r\n");
    assert_eq!(written(&["a|@SUM(1)"]), "\"a|'@SUM(1)\"\r\n");
    assert_eq!(written(&["a,+1;;=2"]), "\"a,'+1;;'=2\"\r\n", "each segment, even an empty one's neighbour");
    assert_eq!(written(&["line\n=cmd"]), "\"line\n'=cmd\"\r\n", "a line break starts a cell too");
    assert_eq!(written(&["a;'=b"]), "\"a;''=b\"\r\n", "a quote the import would take for an escape");
    assert_eq!(written(&["a-b=c", "1|2"]), "a-b=c,\"1|2\"\r\n", "mid-word signs are not at a cell's start");
    assert_eq!(written(&["a;\"=b"]), "\"a;'\"\"=b\"\r\n", "a sign behind a quote");
    for (escaped, plain) in [
        ("Laptop;'=1+1;", "Laptop;=1+1;"),
        ("note\t'-1", "note\t-1"),
        ("a|'@SUM(1)", "a|@SUM(1)"),
        ("a;''=b", "a;'=b"),
        ("'\"=b", "\"=b"),
    ] {
        assert_eq!(unescape(escaped).as_deref(), Ok(plain), "{escaped:?}");
    }
    assert_eq!(unescape("pen,-pencil").as_deref(), Ok("pen,-pencil"), "an unescaped sign inside a cell is text");
}

/// Every cell of random text survives the export and the import, and whatever
/// delimiter a spreadsheet splits the written line at, no piece begins like a formula
/// (not even behind `"`s).
#[test]
fn no_delimiter_reading_of_an_export_starts_a_formula_and_every_cell_comes_back() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = ['a', ',', ';', '\t', '|', '\n', '\r', '=', '+', '-', '@', '\'', '"', ' '];
    for _ in 0..2000 {
        let cells: Vec<String> = (0..3)
            .map(|_| (0..next() % 8).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect())
            .collect();
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let line = written(&refs);
        for piece in line.split(SPLITS) {
            assert!(!formula(piece), "{piece:?} in {line:?} from {cells:?}");
        }
        let got = split_all(&[line.as_bytes()]).expect("split");
        let back: Vec<String> = strings(&got)[0].iter().map(|c| unescape(c).expect("escaped").into_owned()).collect();
        assert_eq!(back, cells, "{line:?}");
    }
}

#[test]
fn an_exported_asset_imports_back_with_the_same_values() {
    let custom: BTreeSet<FieldKey> = [FieldKey::parse("warranty").expect("key")].into();
    let header = ["name", "tag", "notes", "custom.warranty"];
    let row = ["Laptop;=1+1;", "a|@SUM(1)", "first\n-second\tthird,=4;'+5", "tab\t=1"];
    let mut file = Vec::new();
    write_record(&mut file, header);
    write_record(&mut file, row);
    let records = split_all(&[&file]).expect("split");
    fn fields(r: &[Vec<u8>]) -> Vec<&[u8]> {
        r.iter().map(Vec::as_slice).collect()
    }
    let mut imp = Importer::new(&fields(&records[0]), &custom).expect("header");
    let got = imp.row(2, &fields(&records[1])).expect("the exported row is valid");
    assert_eq!(got.fields.name.to_string(), row[0]);
    assert_eq!(got.fields.tag.map(|t| t.to_string()).as_deref(), Some(row[1]));
    assert_eq!(got.fields.notes.map(|n| n.to_string()).as_deref(), Some(row[2]));
    assert_eq!(got.fields.custom.values().next().map(String::as_str), Some(row[3]));
}

/// Random bytes in random pieces never panic the parser or the importer, and the
/// pieces never change the records (a bounded, seeded stand-in for a `cargo fuzz`
/// target, which needs a nightly compiler).
#[test]
fn random_input_in_random_pieces_is_handled() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"ab,\"\r\n=;'-\xEF\xBB\xBF\xff";
    for _ in 0..500 {
        let len = (next() % 200) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        let whole = split_all(&[&bytes]);
        let size = 1 + (next() % 7) as usize;
        let pieces: Vec<&[u8]> = bytes.chunks(size).collect();
        assert_eq!(split_all(&pieces), whole);
        if let Ok(records) = whole {
            let mut rows = records.iter();
            let Some(header) = rows.next() else { continue };
            let header: Vec<&[u8]> = header.iter().map(Vec::as_slice).collect();
            if let Ok(mut imp) = Importer::new(&header, &BTreeSet::new()) {
                for (n, r) in rows.enumerate() {
                    let fields: Vec<&[u8]> = r.iter().map(Vec::as_slice).collect();
                    let _ = imp.row(n as u64 + 2, &fields);
                }
                let (errors, total, _) = imp.finish();
                assert!(errors.len() as u64 <= total);
            }
        }
    }
}

#[test]
fn dates_stay_in_years_every_store_keeps_and_custom_cells_refuse_control_characters() {
    let mut imp = importer("name,purchase_date,custom.warranty").expect("header");
    assert!(row(&mut imp, 2, "A,0999-12-31,").is_none());
    assert!(row(&mut imp, 3, "B,10000-01-01,").is_none());
    assert!(row(&mut imp, 4, "C,2025-07-14,bell\u{7}").is_none());
    assert!(row(&mut imp, 5, "D,1000-01-01,two\tparts").is_some());
    let (errors, total, _) = imp.finish();
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e.row, e.code)).collect();
    assert_eq!(got, [(2, "invalid_date"), (3, "invalid_date"), (4, "invalid_text")]);
    assert_eq!(total, 3);
}

#[test]
fn a_file_with_some_columns_updates_only_those() {
    let imp = importer("ID,name,Cost").expect("header");
    let columns = imp.columns();
    let fixed: Vec<&str> = COLUMNS.iter().zip(columns.fixed).filter(|(_, on)| *on).map(|(c, _)| *c).collect();
    assert_eq!(fixed, ["id", "name", "cost"]);
    assert!(columns.custom.is_empty());
}
