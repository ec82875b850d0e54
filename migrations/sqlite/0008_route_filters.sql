-- Kept in step with migrations/postgres/0007. A route's content filter: a CEL expression over each event
-- (README: "Routes"), NULL for a route without one.
ALTER TABLE routes ADD COLUMN filter TEXT;
