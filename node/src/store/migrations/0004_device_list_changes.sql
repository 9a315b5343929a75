-- Schema version 4: when each user's device list last changed (keys uploaded, a device
-- deleted), in the device_keys stream, so /sync tells clients whose devices to query again.
CREATE TABLE device_list_changes (
    user_id    TEXT PRIMARY KEY,
    stream_pos INTEGER NOT NULL
) STRICT;
CREATE INDEX device_list_changes_by_stream ON device_list_changes (stream_pos);
INSERT INTO device_list_changes (user_id, stream_pos)
    SELECT user_id, max(stream_pos) FROM device_keys GROUP BY user_id;
