-- no-transaction
-- Seals past the grace window are dropped by a periodic sweep that this partial index keeps
-- cheap, instead of by every rotation. Built CONCURRENTLY so that refreshes go on meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS refresh_tokens_sealed_spent_at ON refresh_tokens (spent_at)
    WHERE sealed_successor IS NOT NULL;
