//! `kboss migrate` on PostgreSQL: the committed v1 fixture log (`schemas/records/v1/`, written
//! by the last v1 version into SQLite) is loaded into a fresh schema exactly as v1's PostgreSQL
//! store kept it (`jsonb` bodies, text hashes), migrated in place, and gives the same log as the
//! SQLite migration: every position, the same v2 chain from the same genesis, the keys. (The
//! answers the migrated log serves are compared in `gateway/tests/api/migrate.rs`.)

use std::path::Path;

use event_log::migrate::{migrate_postgres, migrate_sqlite, Migrated};
use event_log::{LogRead, PostgresReader, SqliteReader, StoreError};

const V1_LOG_SQL: &str = include_str!("../../schemas/sql/postgres/0001_log.sql");

struct Schema {
    config: postgres::Config,
    admin: postgres::Config,
    name: String,
}

impl Schema {
    fn new() -> Schema {
        let url = std::env::var("KBOSS_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
        let admin: postgres::Config = url.parse().expect("KBOSS_TEST_DATABASE_URL parses");
        let name = format!("kboss_test_{}", uuid::Uuid::now_v7().simple());
        let mut client = admin.connect(postgres::NoTls).expect("PostgreSQL is reachable (ops/services start)");
        client.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
        let mut config = admin.clone();
        config.options(&format!("-c search_path={name}"));
        Schema { config, admin, name }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = self.admin.connect(postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/records/v1/kboss.sqlite")
}

/// The v1 fixture, loaded into `schema` as v1's PostgreSQL store wrote it.
fn load_v1(schema: &Schema) -> usize {
    let v1 = rusqlite::Connection::open_with_flags(fixture(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut client = schema.config.connect(postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL);
             {V1_LOG_SQL}
             INSERT INTO schema_migrations VALUES (1, now());"
        ))
        .unwrap();
    let mut statement = v1
        .prepare(
            "SELECT position, event_id, event_type, schema_version, recorded_at, effective_date, idempotency_key,
                    correlation_id, body, prev_hash, hash FROM events ORDER BY position",
        )
        .unwrap();
    let mut rows = statement.query([]).unwrap();
    let mut events = 0;
    while let Some(row) = rows.next().unwrap() {
        let texts: Vec<Option<String>> =
            (1..11).map(|index| row.get::<_, Option<String>>(index).ok().flatten()).collect();
        let position: i64 = row.get(0).unwrap();
        let version: i64 = row.get(3).unwrap();
        client
            .execute(
                "INSERT INTO events VALUES ($1, $2::text::uuid, $3, $4, $5::text::timestamptz, $6::text::date, $7,
                                            $8::text::uuid, $9::text::jsonb, $10, $11)",
                &[
                    &position,
                    &texts[0],
                    &texts[1],
                    &(version as i32),
                    &texts[3],
                    &texts[4],
                    &texts[5],
                    &texts[6],
                    &texts[7],
                    &texts[8],
                    &texts[9],
                ],
            )
            .unwrap();
        events += 1;
    }
    let mut keys =
        v1.prepare("SELECT scoped_key, request_hash, first_position, last_position FROM idempotency").unwrap();
    let mut rows = keys.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        let (key, hash, first, last): (String, String, i64, i64) =
            (row.get(0).unwrap(), row.get(1).unwrap(), row.get(2).unwrap(), row.get(3).unwrap());
        client.execute("INSERT INTO idempotency VALUES ($1, $2, $3, $4)", &[&key, &hash, &first, &last]).unwrap();
    }
    events
}

#[test]
fn a_v1_postgresql_log_migrates_to_the_same_log_as_the_sqlite_one() {
    let schema = Schema::new();
    let events = load_v1(&schema);
    assert!(matches!(PostgresReader::open(&schema.config), Err(StoreError::FormatV1 { .. })), "v1 is refused");

    let migrated = migrate_postgres(&schema.config, "migrate test").unwrap();
    let Migrated::Converted { events: converted, keys, v1_head, v2_head, .. } = migrated else {
        panic!("nothing was converted")
    };
    assert_eq!(converted as usize, events);
    assert_eq!(migrate_postgres(&schema.config, "migrate test").unwrap(), Migrated::AlreadyV2);

    let directory = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(), directory.path().join("kboss.sqlite")).unwrap();
    let Migrated::Converted { keys: sqlite_keys, v1_head: sqlite_v1_head, v2_head: sqlite_v2_head, .. } =
        migrate_sqlite(directory.path()).unwrap()
    else {
        panic!("nothing was converted")
    };
    assert_eq!((keys, &v1_head, &v2_head), (sqlite_keys, &sqlite_v1_head, &sqlite_v2_head), "one chain");

    let mut postgres = PostgresReader::open(&schema.config).unwrap();
    let mut sqlite = SqliteReader::open(directory.path()).unwrap();
    assert_eq!(postgres.genesis().unwrap(), v1_head);
    let (from_postgres, from_sqlite) = (postgres.read_after(0, 10_000).unwrap(), sqlite.read_after(0, 10_000).unwrap());
    assert_eq!(from_postgres.len(), events);
    assert_eq!(from_postgres, from_sqlite, "every event, hash included");
    let report = event_log::verify_store(&mut postgres, |_| {}).unwrap();
    assert_eq!(report.last_hash, v2_head);
}
