-- Kept in step with migrations/postgres/0006 so that both stores have one schema version (a SQLite store is
-- never clustered: the column stays empty).
ALTER TABLE tenant_leases ADD COLUMN handover_at TEXT;
