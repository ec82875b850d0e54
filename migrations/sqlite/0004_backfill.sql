-- Backfill: a tenant's settings (`[tenants.backfill]` as JSON, NULL when off) and what a backfill made of a
-- gap (JSON `{"status","records","reason"}`, NULL when none ran). The same schema as migrations/postgres/0004.
ALTER TABLE tenants ADD COLUMN backfill TEXT;
ALTER TABLE gaps ADD COLUMN backfill TEXT;
