-- Schema version 8: when each current-state entry last changed, as a position of the events
-- stream. State resolution after a partition can make an older event current again; that
-- event's own stream position is long past, so incremental /sync finds such changes by this.
ALTER TABLE current_state ADD COLUMN changed_pos INTEGER NOT NULL DEFAULT 0;
UPDATE current_state SET changed_pos = coalesce(
    (SELECT stream_pos FROM events WHERE events.event_id = current_state.event_id), 0);
CREATE INDEX current_state_changes ON current_state (room_id, changed_pos);
