-- Seals past the grace window are dropped by a periodic sweep that this partial index keeps
-- cheap, instead of by every rotation. Not CONCURRENTLY: that would deadlock with an instance
-- waiting for the migration lock; writes to refresh_tokens wait for the build instead.
CREATE INDEX IF NOT EXISTS refresh_tokens_sealed_spent_at ON refresh_tokens (spent_at)
    WHERE sealed_successor IS NOT NULL;
