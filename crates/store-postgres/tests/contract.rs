//! The store contract on PostgreSQL: each case on its own database, cloned from a
//! template migrated once per run, dropped after the case.

use std::sync::Arc;

use workvault_domain::ports::Store;
use workvault_store_postgres::testdb::TestDb;

async fn fresh() -> (Arc<dyn Store>, TestDb) {
    let db = TestDb::new().await;
    (Arc::new(db.store().await), db)
}

workvault_store_contract::contract_tests!(fresh());
