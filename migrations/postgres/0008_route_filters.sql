-- A route's content filter: a CEL expression over each event (README: "Routes"), NULL for a route without
-- one. The engine compiles it when the route is set; the text is what the route was given.
ALTER TABLE routes ADD COLUMN IF NOT EXISTS filter TEXT;
