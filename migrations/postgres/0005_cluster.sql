-- Cluster mode (`[cluster]`): the instances sharing this store and one lease per tenant, with a fencing epoch
-- that goes up by one at every change of owner. Times are the database's own (now()), never an instance's.
CREATE TABLE IF NOT EXISTS cluster_instances (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    started_at    TIMESTAMPTZ      NOT NULL,
    heartbeat_at  TIMESTAMPTZ      NOT NULL,
    advertise_url TEXT,
    version       TEXT             NOT NULL
);

CREATE TABLE IF NOT EXISTS tenant_leases (
    tenant     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    owner      TEXT COLLATE "C",
    epoch      BIGINT           NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ      NOT NULL,
    renewed_at TIMESTAMPTZ,
    since      TIMESTAMPTZ
);
