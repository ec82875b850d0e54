-- Tenants, their OAuth clients and topics, sinks, routes and the audit log. The same schema as
-- migrations/sqlite/0002, with the conventions of 0001 here (TIMESTAMPTZ, JSONB, "C" collation for keys).

CREATE TABLE IF NOT EXISTS tenants (
    id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    region     TEXT             NOT NULL,
    api_base   TEXT             NOT NULL,
    login_base TEXT             NOT NULL,
    paused     BOOLEAN          NOT NULL,
    ca_file    TEXT,
    created_at TIMESTAMPTZ      NOT NULL,
    updated_at TIMESTAMPTZ      NOT NULL
);

-- The secret column holds only sealed text (`v1:<key id>:<nonce>:<ciphertext>`, see src/secrets.rs), never
-- a plaintext secret.
CREATE TABLE IF NOT EXISTS clients (
    tenant     TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         TEXT COLLATE "C" NOT NULL,
    secret     TEXT             NOT NULL,
    updated_at TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- Topic names are unique per tenant regardless of case: name_key is the name in lower case (computed by the
-- service, so that every backend folds case the same way).
CREATE TABLE IF NOT EXISTS topics (
    tenant   TEXT COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name_key TEXT COLLATE "C" NOT NULL,
    name     TEXT COLLATE "C" NOT NULL,
    priority INTEGER          NOT NULL,
    PRIMARY KEY (tenant, name_key)
);

-- Serves `topics(tenant)`, which lists one tenant's topics by name.
CREATE INDEX IF NOT EXISTS topics_tenant_name ON topics (tenant, name);

CREATE TABLE IF NOT EXISTS sinks (
    name       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    kind       TEXT             NOT NULL,
    settings   JSONB            NOT NULL,
    updated_at TIMESTAMPTZ      NOT NULL
);

CREATE TABLE IF NOT EXISTS routes (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenants      JSONB            NOT NULL,
    sinks        JSONB            NOT NULL,
    topics       JSONB            NOT NULL,
    changes_only BOOLEAN          NOT NULL,
    updated_at   TIMESTAMPTZ      NOT NULL
);

-- seq orders entries appended within the same millisecond.
CREATE TABLE IF NOT EXISTS audit (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id      TEXT COLLATE "C" NOT NULL UNIQUE,
    at      TIMESTAMPTZ      NOT NULL,
    actor   TEXT             NOT NULL,
    action  TEXT             NOT NULL,
    target  TEXT COLLATE "C" NOT NULL,
    details JSONB            NOT NULL
);

-- Serves `audit`, newest first.
CREATE INDEX IF NOT EXISTS audit_at ON audit (at, seq);
