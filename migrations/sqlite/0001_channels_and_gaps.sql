-- Channels this service owns and the gaps it has recorded.
--
-- Timestamps are INTEGER milliseconds since the Unix epoch (UTC): they sort and compare as numbers, and
-- round-trip exactly at the precision the store promises (milliseconds).
-- Topic lists are JSON arrays of strings, kept in order.
-- STRICT makes SQLite reject a value of the wrong type instead of storing it and failing on read.

CREATE TABLE IF NOT EXISTS channels (
    channel_id       TEXT    NOT NULL PRIMARY KEY,
    tenant           TEXT    NOT NULL,
    region           TEXT    NOT NULL,
    client_id        TEXT    NOT NULL,
    connect_uri      TEXT    NOT NULL,
    expires_at       INTEGER NOT NULL,
    token_expires_at INTEGER NOT NULL,
    topics           TEXT    NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

-- Serves `channels(tenant)`, which reads one tenant oldest first.
CREATE INDEX IF NOT EXISTS channels_tenant_updated ON channels (tenant, updated_at);

CREATE TABLE IF NOT EXISTS gaps (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    channel_id TEXT    NOT NULL,
    topics     TEXT    NOT NULL,
    from_at    INTEGER NOT NULL,
    to_at      INTEGER NOT NULL,
    reason     TEXT    NOT NULL
) STRICT;

-- Serves `gaps` filtered by tenant and ordered by start.
CREATE INDEX IF NOT EXISTS gaps_tenant_from ON gaps (tenant, from_at);
