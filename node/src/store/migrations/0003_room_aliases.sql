-- Schema version 3: room aliases. They are local to this node: the mesh carries room events,
-- not directory entries, so an alias resolves only on the node where it was made.
CREATE TABLE room_aliases (
    alias      TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms (room_id),
    creator    TEXT NOT NULL,
    created_ts INTEGER NOT NULL
) STRICT;
CREATE INDEX room_aliases_by_room ON room_aliases (room_id, alias);
