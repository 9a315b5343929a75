-- Schema version 7: the cross-signing keys of local users. Each row is
-- the key object the user uploaded, with the signatures added to it since (by the user's
-- devices, or by another user's user-signing key on a master key).
CREATE TABLE cross_signing_keys (
    user_id  TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    -- 'master', 'self_signing' or 'user_signing'
    usage    TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, usage)
) STRICT;
