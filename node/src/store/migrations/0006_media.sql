-- Schema version 6: the local media repository, and rooms a user has forgotten.
--
-- Uploaded files live under `data_dir/media/`; this table is what is known about each. A row
-- is written only after its file is on disk, so every row has its file.
CREATE TABLE media (
    media_id     TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    file_name    TEXT,
    size         INTEGER NOT NULL,
    uploader     TEXT NOT NULL,
    created_ts   INTEGER NOT NULL,
    sha256       TEXT NOT NULL
) STRICT, WITHOUT ROWID;
-- A room the user forgot after leaving it, with the membership event they forgot it at: the
-- room stays forgotten until that membership changes (a new invite or join).
CREATE TABLE forgotten_rooms (
    user_id  TEXT NOT NULL,
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
) STRICT, WITHOUT ROWID;
