//! The asset CSV importer over arbitrary bytes: the parser and the row checks never
//! panic, and how the bytes are split into pieces never changes the records.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use workvault_domain::asset::FieldKey;
use workvault_domain::asset_csv::{Importer, Records};

/// Splits `data` into records, fed in pieces of `piece` bytes.
fn records(data: &[u8], piece: usize) -> (Vec<Vec<Vec<u8>>>, bool) {
    let mut out = Vec::new();
    let mut parser = Records::default();
    let mut keep = |fields: &[&[u8]]| out.push(fields.iter().map(|f| f.to_vec()).collect());
    let mut ok = true;
    for chunk in data.chunks(piece.max(1)) {
        ok &= parser.feed(chunk, &mut keep).is_ok();
        if !ok {
            break;
        }
    }
    ok &= ok && parser.feed(&[], &mut keep).is_ok();
    (out, ok)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else { return };
    let (whole, whole_ok) = records(data, data.len());
    let (pieces, pieces_ok) = records(data, usize::from(split) + 1);
    assert_eq!(whole_ok, pieces_ok);
    if whole_ok {
        assert_eq!(whole, pieces, "the pieces changed the records");
    }
    let custom: BTreeSet<FieldKey> = ["room", "warranty"].into_iter().filter_map(FieldKey::parse).collect();
    let Some((header, rows)) = whole.split_first() else { return };
    let header: Vec<&[u8]> = header.iter().map(Vec::as_slice).collect();
    if let Ok(mut importer) = Importer::new(&header, &custom) {
        for (i, row) in rows.iter().enumerate() {
            let fields: Vec<&[u8]> = row.iter().map(Vec::as_slice).collect();
            let _ = importer.row(i as u64 + 2, &fields);
        }
        let (errors, total, _) = importer.finish();
        assert!(errors.len() as u64 <= total);
    }
});
