-- Cluster mode's tables, kept in step with migrations/postgres/0005 so that both stores have one schema
-- version. A SQLite store is one process's: `switchboard check` refuses `[cluster]` with it, so these stay empty.
CREATE TABLE IF NOT EXISTS cluster_instances (
    id            TEXT NOT NULL PRIMARY KEY,
    started_at    TEXT NOT NULL,
    heartbeat_at  TEXT NOT NULL,
    advertise_url TEXT,
    version       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS tenant_leases (
    tenant     TEXT    NOT NULL PRIMARY KEY,
    owner      TEXT,
    epoch      INTEGER NOT NULL DEFAULT 0,
    expires_at TEXT    NOT NULL,
    renewed_at TEXT,
    since      TEXT
);
