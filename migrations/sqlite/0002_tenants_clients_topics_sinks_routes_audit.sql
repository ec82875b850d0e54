-- Tenants, their OAuth clients and topics, sinks, routes and the audit log.
--
-- Same conventions as 0001: times are INTEGER milliseconds since the Unix epoch (UTC), lists are JSON arrays
-- of strings, booleans are INTEGER 0 or 1, and every table is STRICT.

CREATE TABLE IF NOT EXISTS tenants (
    id         TEXT    NOT NULL PRIMARY KEY,
    region     TEXT    NOT NULL,
    api_base   TEXT    NOT NULL,
    login_base TEXT    NOT NULL,
    paused     INTEGER NOT NULL CHECK (paused IN (0, 1)),
    ca_file    TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- The secret column holds only sealed text (`v1:<key id>:<nonce>:<ciphertext>`, see src/secrets.rs), never
-- a plaintext secret.
CREATE TABLE IF NOT EXISTS clients (
    tenant     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) STRICT;

-- Topic names are unique per tenant regardless of case: name_key is the name in lower case (computed by the
-- service, so that every backend folds case the same way).
CREATE TABLE IF NOT EXISTS topics (
    tenant   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name_key TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    priority INTEGER NOT NULL,
    PRIMARY KEY (tenant, name_key)
) STRICT, WITHOUT ROWID;

-- Serves `topics(tenant)`, which lists one tenant's topics by name.
CREATE INDEX IF NOT EXISTS topics_tenant_name ON topics (tenant, name);

-- settings is a JSON document.
CREATE TABLE IF NOT EXISTS sinks (
    name       TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    settings   TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS routes (
    id           TEXT    NOT NULL PRIMARY KEY,
    tenants      TEXT    NOT NULL,
    sinks        TEXT    NOT NULL,
    topics       TEXT    NOT NULL,
    changes_only INTEGER NOT NULL CHECK (changes_only IN (0, 1)),
    updated_at   INTEGER NOT NULL
) STRICT;

-- seq orders entries appended within the same millisecond; details is a JSON document.
CREATE TABLE IF NOT EXISTS audit (
    seq     INTEGER NOT NULL PRIMARY KEY,
    id      TEXT    NOT NULL UNIQUE,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    details TEXT    NOT NULL
) STRICT;

-- Serves `audit`, newest first.
CREATE INDEX IF NOT EXISTS audit_at ON audit (at, seq);
