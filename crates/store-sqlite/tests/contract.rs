//! The store contract on SQLite: in memory, and on a file (WAL, pooled connections).

mod memory {
    use std::sync::Arc;
    use workvault_store_sqlite::SqliteStore;

    workvault_store_contract::contract_tests!(async { Arc::new(SqliteStore::in_memory().expect("in-memory sqlite")) });
}

mod file {
    use std::sync::Arc;
    use workvault_store_sqlite::SqliteStore;

    workvault_store_contract::contract_tests!(async {
        // The directory lives as long as the test process; each test gets its own.
        let dir = Box::leak(Box::new(tempfile::tempdir().expect("temp dir")));
        Arc::new(SqliteStore::open(&dir.path().join("workvault.db")).expect("sqlite file"))
    });
}
