-- Schema version 5: server-side key backup, and presence kept across restarts.
--
-- Each user's backup versions, numbered from 1; the newest one not deleted is current. The
-- etag counts changes to a version's keys.
CREATE TABLE key_backup_versions (
    user_id        TEXT NOT NULL,
    version        INTEGER NOT NULL,
    algorithm      TEXT NOT NULL,
    auth_data_json TEXT NOT NULL,
    etag           INTEGER NOT NULL DEFAULT 0,
    deleted        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
) STRICT, WITHOUT ROWID;
-- The encrypted megolm session keys of a version; the server never reads `session_data`.
CREATE TABLE key_backup_sessions (
    user_id             TEXT NOT NULL,
    version             INTEGER NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index INTEGER NOT NULL,
    forwarded_count     INTEGER NOT NULL,
    is_verified         INTEGER NOT NULL,
    session_data_json   TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
) STRICT, WITHOUT ROWID;
-- Each user's status message and last activity (wall-clock milliseconds); the state itself is
-- not kept, since after a restart nobody is connected until they sync again.
CREATE TABLE presence (
    user_id        TEXT PRIMARY KEY,
    status_msg     TEXT,
    last_active_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX presence_by_activity ON presence (last_active_ms);
