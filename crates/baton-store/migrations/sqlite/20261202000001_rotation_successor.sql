-- A spent token names its successor, so the grace window can hand that successor back only
-- while it is itself unspent, and counts its replays (capped). Seals past the grace window are
-- dropped by a periodic sweep that this partial index keeps cheap, instead of by every rotation.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash BLOB;
ALTER TABLE refresh_tokens ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
CREATE INDEX refresh_tokens_sealed_spent_at ON refresh_tokens (spent_at)
    WHERE sealed_successor IS NOT NULL;
