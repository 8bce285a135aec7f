//! Every `down.sql` undoes its `up.sql`: migrating a fresh database up, all the way down and up
//! again leaves exactly the schema diesel's bookkeeping table, and works twice.

use crate::helpers::{sql_values_in, TestDatabase};
use castyou::configuration::DatabaseSettings;

async fn user_tables(db: &DatabaseSettings) -> Vec<String> {
    sql_values_in(
        db,
        "SELECT table_name::text AS value FROM information_schema.tables
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .await
}

async fn user_types(db: &DatabaseSettings) -> Vec<String> {
    sql_values_in(
        db,
        "SELECT t.typname::text AS value FROM pg_type t
         JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
         ORDER BY t.typname",
    )
    .await
}

async fn user_functions_and_sequences(db: &DatabaseSettings) -> Vec<String> {
    sql_values_in(
        db,
        "SELECT p.proname::text AS value FROM pg_proc p
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
         UNION ALL
         SELECT sequence_name::text FROM information_schema.sequences WHERE sequence_schema = 'public'
         ORDER BY 1",
    )
    .await
}

#[actix_web::test]
async fn migrations_revert_completely_and_apply_again() {
    let database = TestDatabase::create().await;
    let db = &database.settings.database;
    let before = user_functions_and_sequences(db).await;

    let applied = castyou::db::run_migrations(db).await.expect("migrating up");
    assert!(
        !applied.is_empty(),
        "a fresh database has migrations to apply"
    );
    let tables = user_tables(db).await;
    for table in [
        "users",
        "jobs",
        "applications",
        "application_events",
        "talent_groups",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing after migrating: {tables:?}"
        );
    }
    let types = user_types(db).await;
    assert!(types.iter().any(|t| t == "application_stage"), "{types:?}");

    castyou::db::revert_all_migrations(db)
        .await
        .expect("reverting");

    assert_eq!(
        user_tables(db).await,
        vec!["__diesel_schema_migrations".to_string()]
    );
    assert_eq!(
        user_types(db).await,
        Vec::<String>::new(),
        "enum/domain/composite types left behind"
    );
    assert_eq!(
        user_functions_and_sequences(db).await,
        before,
        "functions or sequences left behind"
    );

    let again = castyou::db::run_migrations(db)
        .await
        .expect("migrating up again");
    assert_eq!(again, applied, "the same migrations apply again");
    assert_eq!(user_tables(db).await, tables);
    assert_eq!(user_types(db).await, types);
}

#[actix_web::test]
async fn migrating_an_up_to_date_database_applies_nothing() {
    let database = TestDatabase::create().await;
    let db = &database.settings.database;
    castyou::db::run_migrations(db).await.expect("migrating up");

    let second = castyou::db::run_migrations(db)
        .await
        .expect("migrating again");

    assert!(second.is_empty(), "nothing should be pending: {second:?}");
}
