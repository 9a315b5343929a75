-- Schema version 2: what the room service needs beyond the version 1 room tables.
-- room_memberships holds every user's current membership (local and remote), since /members
-- and the mesh need remote members too.

-- A room's sync heads: held events (accepted or soft-failed) that no such event cites. They
-- differ from forward_extremities only by soft-failed events.
CREATE TABLE sync_heads (
    room_id  TEXT NOT NULL REFERENCES rooms (room_id),
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
) STRICT;

-- The event an m.room.redaction names, so a target that arrives after its redaction finds it.
ALTER TABLE events ADD COLUMN redacts TEXT;
CREATE INDEX events_by_redacts ON events (redacts) WHERE redacts IS NOT NULL;

-- The mesh samples a room's history by depth.
CREATE INDEX events_by_room_depth ON events (room_id, depth, stream_pos) WHERE rejected = 0;

-- The device and transaction ID a local event was sent with: its sender's clients see the
-- transaction ID in unsigned.transaction_id to match their local echo.
CREATE TABLE event_transactions (
    event_nid INTEGER PRIMARY KEY REFERENCES events (event_nid),
    device_id TEXT NOT NULL,
    txn_id    TEXT NOT NULL
) STRICT;

-- Each user's latest receipt per room, type and thread ('' for the main timeline).
CREATE TABLE receipts (
    room_id      TEXT NOT NULL REFERENCES rooms (room_id),
    receipt_type TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    stream_pos   INTEGER NOT NULL,
    PRIMARY KEY (room_id, receipt_type, thread_id, user_id)
) STRICT;
CREATE INDEX receipts_by_stream ON receipts (room_id, stream_pos);

CREATE INDEX room_memberships_by_stream ON room_memberships (user_id, stream_pos);
