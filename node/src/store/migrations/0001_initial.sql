-- Schema version 1: accounts, client data, end-to-end encryption material, and the room
-- tables the room service fills. Timestamps are milliseconds since the Unix epoch.

-- Counters of the sync streams ('events', 'account_data', 'to_device', 'device_keys', ...).
-- A row's position in its stream comes from here; sync tokens combine the positions.
CREATE TABLE stream_positions (
    stream   TEXT PRIMARY KEY,
    position INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    localpart     TEXT NOT NULL UNIQUE,
    -- Argon2id PHC string; NULL when the account cannot log in with a password.
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    displayname   TEXT,
    avatar_url    TEXT,
    deactivated   INTEGER NOT NULL DEFAULT 0,
    created_ts    INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    device_id    TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts INTEGER,
    last_seen_ip TEXT,
    created_ts   INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id)
) STRICT;

-- Only SHA-256 digests of tokens are stored, so a copy of the database grants no access.
CREATE TABLE access_tokens (
    token_sha256 BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    created_ts   INTEGER NOT NULL,
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX access_tokens_by_device ON access_tokens (user_id, device_id);

-- Client transaction IDs, scoped per device and endpoint; `result` is what the first request
-- produced (an event ID for /send), returned again on a retry.
CREATE TABLE transaction_ids (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    result     TEXT,
    created_ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id, scope, txn_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE filters (
    user_id     TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    filter_id   INTEGER NOT NULL,
    filter_json TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
) STRICT;

-- Global account data has room_id ''.
CREATE TABLE account_data (
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    room_id      TEXT NOT NULL,
    data_type    TEXT NOT NULL,
    content_json TEXT NOT NULL,
    stream_pos   INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, data_type)
) STRICT;
CREATE INDEX account_data_by_stream ON account_data (user_id, stream_pos);

CREATE TABLE device_keys (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    keys_json  TEXT NOT NULL,
    stream_pos INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT;

-- key_id is "<algorithm>:<id>", e.g. "signed_curve25519:AAAAHg".
CREATE TABLE one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, key_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX one_time_keys_by_algorithm ON one_time_keys (user_id, device_id, algorithm);

-- At most one fallback key per algorithm; it is handed out when no one-time key is left.
CREATE TABLE fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    used      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT;

-- Messages waiting for a device on this node; deleted once the device's sync acknowledges them.
CREATE TABLE to_device_messages (
    stream_pos       INTEGER PRIMARY KEY,
    recipient_user   TEXT NOT NULL,
    recipient_device TEXT NOT NULL,
    sender           TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    content_json     TEXT NOT NULL,
    FOREIGN KEY (recipient_user, recipient_device)
        REFERENCES devices (user_id, device_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX to_device_by_recipient ON to_device_messages (recipient_user, recipient_device, stream_pos);

-- Rooms and their event DAGs; filled by the room service.

CREATE TABLE rooms (
    room_id      TEXT PRIMARY KEY,
    room_version TEXT NOT NULL,
    created_ts   INTEGER NOT NULL
) STRICT;

-- event_nid is the local numeric handle of an event; stream_pos orders the events stream that
-- /sync and /messages page through. canonical_json is the signed event exactly as hashed;
-- wire is its compact CBOR form for the mesh.
CREATE TABLE events (
    event_nid        INTEGER PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    room_id          TEXT NOT NULL REFERENCES rooms (room_id),
    event_type       TEXT NOT NULL,
    state_key        TEXT,
    sender           TEXT NOT NULL,
    origin_server_ts INTEGER NOT NULL,
    depth            INTEGER NOT NULL,
    canonical_json   TEXT NOT NULL,
    wire             BLOB NOT NULL,
    stream_pos       INTEGER NOT NULL UNIQUE,
    -- The room state before this event, and after it for state events.
    state_before     INTEGER REFERENCES state_groups (group_id),
    state_after      INTEGER REFERENCES state_groups (group_id),
    rejected         INTEGER NOT NULL DEFAULT 0,
    soft_failed      INTEGER NOT NULL DEFAULT 0,
    redacted_by      TEXT
) STRICT;
CREATE INDEX events_by_room_stream ON events (room_id, stream_pos);

-- The DAG: prev_events and auth_events edges; the referenced event may not be here yet.
CREATE TABLE event_edges (
    event_nid     INTEGER NOT NULL REFERENCES events (event_nid),
    prev_event_id TEXT NOT NULL,
    PRIMARY KEY (event_nid, prev_event_id)
) STRICT;
CREATE INDEX event_edges_by_prev ON event_edges (prev_event_id);

CREATE TABLE event_auth_edges (
    event_nid     INTEGER NOT NULL REFERENCES events (event_nid),
    auth_event_id TEXT NOT NULL,
    PRIMARY KEY (event_nid, auth_event_id)
) STRICT;

-- The room's DAG heads: events no stored event references as a prev_event.
CREATE TABLE forward_extremities (
    room_id  TEXT NOT NULL REFERENCES rooms (room_id),
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
) STRICT;

-- State at any event, cheaply: a group is its prev_group's state plus a delta. A delta row
-- with a NULL event_id removes that key. Chains are kept short by storing a full snapshot
-- (prev_group NULL) every so often.
CREATE TABLE state_groups (
    group_id    INTEGER PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms (room_id),
    prev_group  INTEGER REFERENCES state_groups (group_id),
    chain_depth INTEGER NOT NULL
) STRICT;

CREATE TABLE state_group_deltas (
    group_id   INTEGER NOT NULL REFERENCES state_groups (group_id),
    event_type TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT,
    PRIMARY KEY (group_id, event_type, state_key)
) STRICT;

-- The current state of each room (the state after its resolved extremities), for fast reads.
CREATE TABLE current_state (
    room_id    TEXT NOT NULL REFERENCES rooms (room_id),
    event_type TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    PRIMARY KEY (room_id, event_type, state_key)
) STRICT;

-- Each local user's current membership per room, for /sync and /joined_rooms.
CREATE TABLE room_memberships (
    room_id    TEXT NOT NULL REFERENCES rooms (room_id),
    user_id    TEXT NOT NULL,
    membership TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    stream_pos INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) STRICT;
CREATE INDEX room_memberships_by_user ON room_memberships (user_id, membership);
