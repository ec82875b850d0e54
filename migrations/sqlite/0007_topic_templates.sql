-- Topic templates: a tenant's templates and their sync interval as JSON (`{"syncIntervalSecs","templates"}`),
-- NULL when it has none. The same schema as migrations/postgres/0007.
ALTER TABLE tenants ADD COLUMN templates TEXT;
