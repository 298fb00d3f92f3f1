//! Assets: workspace records that Members edit and Admins delete, import and export;
//! an import is checked whole before its one transaction, refuses ids of other
//! workspaces and trashed assets, is idempotent, and a dry run or a cut-short feed
//! writes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, TryStreamExt};
use workvault_domain::Error;
use workvault_domain::asset::{AssetStatus, Cents, ImportBatch, ImportWrite};
use workvault_domain::blob::ByteStream;
use workvault_domain::id::{AssetId, WorkspaceId};
use workvault_domain::page::PageRequest;
use workvault_domain::policy::Role;
use workvault_domain::ports::Store;
use workvault_domain::service::AssetInput;
use workvault_domain::{Ctx, Workvault};

use crate::Fixture;

fn input(name: &str) -> AssetInput {
    AssetInput { name: Some(name.into()), ..Default::default() }
}

/// Runs both passes of an import over `csv`, fed in small pieces.
pub(crate) async fn import(
    app: &Workvault,
    who: &Ctx,
    ws: WorkspaceId,
    csv: &str,
    dry_run: bool,
) -> Result<workvault_domain::asset::ImportCounts, Error> {
    let mut check = app.begin_asset_import(who, ws).await?;
    for piece in csv.as_bytes().chunks(7) {
        check.check(piece);
    }
    check.check(&[]);
    let checked = check.finish()?;
    let pieces: Vec<Result<Bytes, workvault_domain::blob::BlobError>> =
        csv.as_bytes().chunks(11).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let body: ByteStream = Box::pin(futures_util::stream::iter(pieces));
    app.apply_asset_import(checked, body, dry_run).await
}

async fn export(app: &Workvault, who: &Ctx, ws: WorkspaceId) -> Result<String, Error> {
    let out = app.export_assets(who, ws).await?;
    let pieces: Vec<Bytes> = out.body.try_collect().await?;
    Ok(pieces.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect())
}

async fn names(app: &Workvault, who: &Ctx, ws: WorkspaceId) -> Vec<String> {
    let page = app.assets(who, ws, PageRequest::first()).await.expect("list");
    let mut names: Vec<String> = page.items.into_iter().map(|a| a.record.name.as_str().to_owned()).collect();
    names.sort();
    names
}

/// Members create, read and edit assets; only Admins trash, restore and purge them;
/// Restricted members and outsiders see none; an edit from a stale read is refused.
pub async fn assets_are_workspace_records_members_edit_and_admins_delete(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member, restricted, outsider) =
        (f.user("owner").await, f.user("member").await, f.user("restricted").await, f.user("outsider").await);
    let ws = f.workspace(&owner, "Assets").await;
    f.workspace(&outsider, "Elsewhere").await;
    f.join(&owner, ws, &member, Role::Member).await;
    f.join(&owner, ws, &restricted, Role::Restricted).await;
    f.app.create_asset_field(&owner, ws, "warranty_until", "Warranty until").await.expect("field");

    let mut new = input("Ladder 3m");
    new.cost = Some(Some("149.90".into()));
    new.status = Some(AssetStatus::InStock);
    new.assignee_email = Some(Some("MEMBER@example.test".into()));
    new.custom = BTreeMap::from([("warranty_until".into(), Some("2027-01".into()))]);
    let ladder = f.app.create_asset(&member, ws, new).await.expect("a member creates");
    assert_eq!(ladder.record.cost, Some(Cents(14_990)));
    assert_eq!(ladder.record.assignee, Some(member.user));
    let read = f.app.asset(&owner, ws, ladder.id).await.expect("read");
    assert_eq!(read.assignee_email.as_ref().map(|e| e.as_str()), Some("member@example.test"));
    assert_eq!(read.record, ladder.record);

    let mut unknown_field = input("Drill");
    unknown_field.custom = BTreeMap::from([("colour".into(), Some("red".into()))]);
    assert!(matches!(f.app.create_asset(&owner, ws, unknown_field).await, Err(Error::Invalid { field: "custom", .. })));
    let mut stranger = input("Drill");
    stranger.assignee_email = Some(Some("outsider@example.test".into()));
    assert!(matches!(
        f.app.create_asset(&owner, ws, stranger).await,
        Err(Error::Invalid { field: "assignee_email", .. })
    ));

    for who in [&restricted, &outsider] {
        assert!(f.app.asset(who, ws, ladder.id).await.is_err(), "restricted and outsiders read nothing");
        assert!(f.app.assets(who, ws, PageRequest::first()).await.is_err());
    }
    assert!(matches!(f.app.asset(&outsider, ws, ladder.id).await, Err(Error::NotFound)));
    assert!(matches!(f.app.trash_asset(&member, ws, ladder.id).await, Err(Error::Forbidden(_))));

    let mut edit = AssetInput { location: Some(Some("Van 2".into())), ..Default::default() };
    edit.custom = BTreeMap::from([("warranty_until".into(), None)]);
    f.clock.advance(chrono::Duration::seconds(5));
    let moved = f.app.update_asset(&member, ws, ladder.id, edit).await.expect("edit");
    assert_eq!(moved.record.location.as_ref().map(|l| l.as_str()), Some("Van 2"));
    assert!(moved.record.custom.is_empty(), "a null custom value removes it");
    assert_eq!(moved.record.cost, ladder.record.cost, "fields not sent stay");
    // A write decided on the first read is stale now.
    let stale = workvault_domain::asset::Asset { updated_at: f.clock_now(), ..ladder.clone() };
    let draft = f.store_draft(ws);
    assert!(store.update_asset(&stale, ladder.updated_at, draft).await.is_err(), "compare-and-set");

    f.app.trash_asset(&owner, ws, ladder.id).await.expect("trash");
    assert!(matches!(f.app.asset(&owner, ws, ladder.id).await, Err(Error::NotFound)));
    assert!(names(&f.app, &owner, ws).await.is_empty());
    f.app.restore_asset(&owner, ws, ladder.id).await.expect("restore");
    assert_eq!(names(&f.app, &member, ws).await, ["Ladder 3m"]);
    f.app.trash_asset(&owner, ws, ladder.id).await.expect("trash");
    f.app.purge_asset(&owner, ws, ladder.id).await.expect("purge");
    assert!(matches!(f.app.restore_asset(&owner, ws, ladder.id).await, Err(Error::NotFound)));
}

/// An import writes every row or none: a bad cell, an unknown id or another
/// workspace's id changes nothing; a dry run counts and writes nothing; the same file
/// again changes nothing; the export reads back through the import unchanged.
pub async fn asset_imports_are_all_or_nothing_and_idempotent(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let (owner, member, outsider) = (f.user("owner").await, f.user("member").await, f.user("outsider").await);
    let ws = f.workspace(&owner, "Imports").await;
    let theirs = f.workspace(&outsider, "Elsewhere").await;
    f.join(&owner, ws, &member, Role::Member).await;
    f.app.create_asset_field(&owner, ws, "room", "Room").await.expect("field");
    let audit_before = f.audit_len(ws).await;

    let csv = "\u{feff}Name,TAG,cost,purchase_date,assignee_email,custom.room,notes,status\r\n\
               Ladder,L-1,149.9,2025-07-14,member@example.test,Store,\"two\nlines\",in stock\r\n\
               Drill,D-7,,,,,'=not a formula,\r\n";
    let counts = import(&f.app, &owner, ws, csv, true).await.expect("dry run");
    assert_eq!((counts.rows, counts.created), (2, 2));
    assert!(names(&f.app, &owner, ws).await.is_empty(), "a dry run writes nothing");
    assert_eq!(f.audit_len(ws).await, audit_before, "nor audits");

    let counts = import(&f.app, &owner, ws, csv, false).await.expect("import");
    assert_eq!((counts.rows, counts.created, counts.updated), (2, 2, 0));
    assert_eq!(names(&f.app, &owner, ws).await, ["Drill", "Ladder"]);
    assert_eq!(f.audit_len(ws).await, audit_before + 1, "one event for the import");
    assert!(matches!(import(&f.app, &member, ws, csv, false).await, Err(Error::Forbidden(_))), "members do not import");

    // The export names every asset with its id; importing it back changes nothing.
    let exported = export(&f.app, &owner, ws).await.expect("export");
    assert!(exported.starts_with(
        "id,name,tag,serial,category,status,location,assignee_email,purchase_date,cost,notes,custom.room\r\n"
    ));
    assert!(exported.contains("'=not a formula"), "formula cells stay escaped: {exported}");
    assert!(exported.contains(",member@example.test,2025-07-14,149.90,\"two\nlines\",Store\r\n"), "{exported}");
    let again = import(&f.app, &owner, ws, &exported, false).await.expect("re-import");
    assert_eq!((again.rows, again.created, again.updated, again.unchanged), (2, 0, 0, 2));
    assert_eq!(export(&f.app, &owner, ws).await.expect("export"), exported, "round trip");

    // An edited export updates in place.
    let edited = exported.replacen("Drill", "Drill 18V", 1);
    let changed = import(&f.app, &owner, ws, &edited, false).await.expect("update");
    assert_eq!((changed.created, changed.updated, changed.unchanged), (0, 1, 1));
    assert_eq!(names(&f.app, &owner, ws).await, ["Drill 18V", "Ladder"]);

    // A file with some columns changes only those: a rename keeps cost, notes, room.
    let ladder = exported
        .lines()
        .find(|l| l.contains(",Ladder,"))
        .expect("ladder row")
        .split(',')
        .next()
        .expect("id")
        .to_owned();
    let renamed =
        import(&f.app, &owner, ws, &format!("ID,Name\r\n{ladder},Ladder 4m\r\n"), false).await.expect("rename");
    assert_eq!((renamed.updated, renamed.unchanged), (1, 0));
    let after = f.app.asset(&owner, ws, ladder.parse().expect("id")).await.expect("read");
    assert_eq!(after.record.name.as_str(), "Ladder 4m");
    assert_eq!(after.record.cost, Some(Cents(14_990)), "columns not in the file stay");
    assert_eq!(after.record.status, AssetStatus::InStock);
    assert_eq!(after.record.custom.len(), 1);
    let again = import(&f.app, &owner, ws, &format!("id,name\r\n{ladder},Ladder 4m\r\n"), false).await.expect("same");
    assert_eq!((again.updated, again.unchanged), (0, 1));
    // Removing the member clears what they held; the export imports back all the same.
    f.app.remove_member(&owner, ws, member.user).await.expect("remove");
    assert_eq!(f.app.asset(&owner, ws, ladder.parse().expect("id")).await.expect("read").record.assignee, None);
    let without = export(&f.app, &owner, ws).await.expect("export");
    let back = import(&f.app, &owner, ws, &without, false).await.expect("re-import after the removal");
    assert_eq!(back.updated, 0);

    // Another workspace's asset id, an unknown id, a trashed one: refused, nothing written.
    let foreign = f.app.create_asset(&outsider, theirs, input("Theirs")).await.expect("asset").id;
    let trashed = f.app.create_asset(&owner, ws, input("Old")).await.expect("asset").id;
    f.app.trash_asset(&owner, ws, trashed).await.expect("trash");
    let unknown = AssetId::from_uuid(uuid::Uuid::from_u128(7));
    let bad = format!("id,name\r\n,New one\r\n{foreign},Stolen\r\n{unknown},Ghost\r\n{trashed},Back\r\n");
    let before = export(&f.app, &owner, ws).await.expect("export");
    match import(&f.app, &owner, ws, &bad, false).await {
        Err(Error::CsvRejected { errors, total }) => {
            assert_eq!(total, 3);
            let codes: Vec<(u64, &str)> = errors.iter().map(|e| (e.row, e.code)).collect();
            assert_eq!(codes, [(3, "unknown_id"), (4, "unknown_id"), (5, "trashed_id")]);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(export(&f.app, &owner, ws).await.expect("export"), before, "nothing written, not even the new row");
    let theirs_now = f.app.asset(&outsider, theirs, foreign).await.expect("theirs");
    assert_eq!(theirs_now.record.name.as_str(), "Theirs");

    // Cell errors are all listed with row and column; nothing is written.
    let cells = "name,cost,purchase_date,assignee_email\r\nA,12.345,2025-02-30,nobody@example.test\r\n,1,,\r\n";
    match import(&f.app, &owner, ws, cells, false).await {
        Err(Error::CsvRejected { errors, total }) => {
            let got: Vec<(u64, Option<&str>, &str)> =
                errors.iter().map(|e| (e.row, e.column.as_deref(), e.code)).collect();
            assert_eq!(
                got,
                [
                    (2, Some("purchase_date"), "invalid_date"),
                    (2, Some("cost"), "invalid_number"),
                    (3, Some("name"), "required"),
                ]
            );
            assert_eq!(total, 3, "an unknown assignee on a row with other errors is not checked");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let unknown_member = "name,assignee_email\r\nA,nobody@example.test\r\n";
    match import(&f.app, &owner, ws, unknown_member, false).await {
        Err(Error::CsvRejected { errors, .. }) => assert_eq!(errors[0].code, "unknown_assignee"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(export(&f.app, &owner, ws).await.expect("export"), before);
}

/// A feed that stops before its end rolls the whole import back.
pub async fn an_import_cut_short_writes_nothing(store: Arc<dyn Store>) {
    let f = Fixture::new(store.clone());
    let owner = f.user("owner").await;
    let ws = f.workspace(&owner, "Cut").await;
    let before = f.audit_len(ws).await;
    let (mut tx, rx) = futures_channel::mpsc::channel(2);
    let record = workvault_domain::asset::AssetRecord {
        name: workvault_domain::text::Name::parse("Ladder").expect("name"),
        tag: None,
        serial: None,
        category: None,
        status: AssetStatus::InUse,
        location: None,
        assignee: None,
        purchase_date: None,
        cost: None,
        notes: None,
        custom: BTreeMap::new(),
    };
    let id = AssetId::from_uuid(uuid::Uuid::now_v7());
    let write = ImportWrite { row: 2, id, update: false, record, columns: Default::default() };
    let at = f.clock_now();
    let draft = f.store_draft(ws);
    let feeding = async move {
        tx.send(ImportBatch::Rows(vec![write])).await.expect("send");
        drop(tx);
    };
    let (_, done) = futures_util::future::join(feeding, store.import_assets(ws, rx, at, false, draft)).await;
    assert!(done.is_err(), "a feed without its end is an error");
    assert!(f.app.asset(&owner, ws, id).await.is_err(), "and nothing was written");
    assert_eq!(f.audit_len(ws).await, before);

    // Removing a custom field removes its values.
    f.app.create_asset_field(&owner, ws, "room", "Room").await.expect("field");
    assert!(matches!(f.app.create_asset_field(&owner, ws, "room", "Again").await, Err(Error::Conflict(_))));
    let mut with_room = input("Desk");
    with_room.custom = BTreeMap::from([("room".into(), Some("B12".into()))]);
    let desk = f.app.create_asset(&owner, ws, with_room).await.expect("asset");
    f.app.delete_asset_field(&owner, ws, "room").await.expect("delete field");
    assert!(f.app.asset(&owner, ws, desk.id).await.expect("read").record.custom.is_empty());
    assert!(matches!(f.app.delete_asset_field(&owner, ws, "room").await, Err(Error::NotFound)));
}
