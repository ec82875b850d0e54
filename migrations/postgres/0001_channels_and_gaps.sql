-- Channels this service owns and the gaps it has recorded. The same schema as migrations/sqlite/0001.
--
-- Times are TIMESTAMPTZ; the service truncates them to the millisecond before writing, which is the
-- precision every store keeps. Topic lists are JSONB arrays of strings, kept in order.
-- Text keys use the "C" collation: they compare and sort byte for byte, as in SQLite, whatever the
-- database's locale.

CREATE TABLE IF NOT EXISTS channels (
    channel_id       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant           TEXT COLLATE "C" NOT NULL,
    region           TEXT             NOT NULL,
    client_id        TEXT             NOT NULL,
    connect_uri      TEXT             NOT NULL,
    expires_at       TIMESTAMPTZ      NOT NULL,
    token_expires_at TIMESTAMPTZ      NOT NULL,
    topics           JSONB            NOT NULL,
    updated_at       TIMESTAMPTZ      NOT NULL
);

-- Serves `channels(tenant)`, which reads one tenant oldest first.
CREATE INDEX IF NOT EXISTS channels_tenant_updated ON channels (tenant, updated_at);

CREATE TABLE IF NOT EXISTS gaps (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant     TEXT COLLATE "C" NOT NULL,
    region     TEXT             NOT NULL,
    channel_id TEXT             NOT NULL,
    topics     JSONB            NOT NULL,
    from_at    TIMESTAMPTZ      NOT NULL,
    to_at      TIMESTAMPTZ      NOT NULL,
    reason     TEXT             NOT NULL
);

-- Serves `gaps` filtered by tenant and ordered by start.
CREATE INDEX IF NOT EXISTS gaps_tenant_from ON gaps (tenant, from_at);
