//! Versioned schema migrations. `PRAGMA user_version` holds the number of scripts applied;
//! each script runs in its own transaction together with the version bump, so a crash leaves
//! the database at one version or the next, never in between.

use rusqlite::Connection;

use super::StoreError;

/// The ordered migration scripts; script `i` takes the schema from version `i` to `i + 1`.
/// Append only: a released script never changes.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_room_service.sql"),
    include_str!("migrations/0003_room_aliases.sql"),
    include_str!("migrations/0004_device_list_changes.sql"),
    include_str!("migrations/0005_key_backup_and_presence.sql"),
    include_str!("migrations/0006_media.sql"),
    include_str!("migrations/0007_cross_signing_keys.sql"),
    include_str!("migrations/0008_current_state_changes.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Applies every migration the database has not seen yet.
pub fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    migrate_with(connection, MIGRATIONS)
}

fn migrate_with(connection: &mut Connection, scripts: &[&str]) -> Result<(), StoreError> {
    let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let applied = usize::try_from(found).map_err(|_| StoreError::SchemaTooNew {
        found,
        supported: scripts.len(),
    })?;
    if applied > scripts.len() {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: scripts.len(),
        });
    }
    for (index, script) in scripts.iter().enumerate().skip(applied) {
        let version = index + 1;
        let failed = |source| StoreError::Migration { version, source };
        let transaction = connection.transaction().map_err(failed)?;
        transaction.execute_batch(script).map_err(failed)?;
        transaction
            .pragma_update(None, "user_version", version as i64)
            .map_err(failed)?;
        transaction.commit().map_err(failed)?;
        tracing::info!(version, "migrated the database schema");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(connection: &Connection) -> i64 {
        connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    fn table_names(connection: &Connection) -> Vec<String> {
        let mut statement = connection
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn fresh_database_reaches_the_current_version_with_every_table() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        assert_eq!(user_version(&connection), SCHEMA_VERSION as i64);
        let tables = table_names(&connection);
        for table in [
            "users",
            "devices",
            "access_tokens",
            "transaction_ids",
            "filters",
            "account_data",
            "stream_positions",
            "device_keys",
            "cross_signing_keys",
            "one_time_keys",
            "fallback_keys",
            "to_device_messages",
            "rooms",
            "events",
            "event_edges",
            "event_auth_edges",
            "forward_extremities",
            "state_groups",
            "state_group_deltas",
            "current_state",
            "room_memberships",
            "room_aliases",
            "device_list_changes",
            "key_backup_versions",
            "key_backup_sessions",
            "presence",
        ] {
            assert!(tables.iter().any(|name| name == table), "missing {table}");
        }
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();
        let before = table_names(&connection);
        migrate(&mut connection).unwrap();
        assert_eq!(table_names(&connection), before);
        assert_eq!(user_version(&connection), SCHEMA_VERSION as i64);
    }

    #[test]
    fn later_scripts_apply_on_top_of_earlier_ones() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate_with(&mut connection, &["CREATE TABLE a (x INTEGER);"]).unwrap();
        connection.execute("INSERT INTO a VALUES (1)", []).unwrap();
        migrate_with(
            &mut connection,
            &[
                "CREATE TABLE a (x INTEGER);",
                "ALTER TABLE a ADD COLUMN y TEXT;",
            ],
        )
        .unwrap();
        assert_eq!(user_version(&connection), 2);
        let row: (i64, Option<String>) = connection
            .query_row("SELECT x, y FROM a", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!(row, (1, None));
    }

    #[test]
    fn a_failing_script_rolls_back_and_keeps_the_version() {
        let mut connection = Connection::open_in_memory().unwrap();
        let error = migrate_with(
            &mut connection,
            &[
                "CREATE TABLE ok (x INTEGER);",
                "CREATE TABLE half (x); SYNTAX ERROR;",
            ],
        )
        .unwrap_err();
        assert!(matches!(error, StoreError::Migration { version: 2, .. }));
        assert_eq!(user_version(&connection), 1);
        assert!(!table_names(&connection).contains(&"half".to_string()));
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection
            .pragma_update(None, "user_version", SCHEMA_VERSION as i64 + 1)
            .unwrap();
        let error = migrate(&mut connection).unwrap_err();
        assert!(matches!(error, StoreError::SchemaTooNew { .. }));
    }
}
