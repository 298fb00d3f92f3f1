//! The store contract on SQLite: in memory, and on a file (WAL, pooled connections).

mod memory {
    use std::sync::Arc;
    use workvault_store_sqlite::SqliteStore;

    workvault_store_contract::contract_tests!(async { Arc::new(SqliteStore::in_memory().expect("in-memory sqlite")) });
}

mod file {
    use std::sync::Arc;
    use workvault_domain::ports::Store;
    use workvault_store_sqlite::SqliteStore;

    workvault_store_contract::contract_tests!(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("workvault.db")).expect("sqlite file"));
        (store, dir)
    });
}
