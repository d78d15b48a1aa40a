-- A spent token names its successor, so the grace window can hand that successor back only
-- while it is itself unspent, and counts its replays (capped).
ALTER TABLE refresh_tokens ADD COLUMN successor_hash BLOB;
ALTER TABLE refresh_tokens ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
