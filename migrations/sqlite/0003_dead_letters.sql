-- Records a sink's destination rejected for good; seq orders those added within the same millisecond.
CREATE TABLE IF NOT EXISTS dead_letters (
    seq    INTEGER NOT NULL PRIMARY KEY,
    id     TEXT    NOT NULL UNIQUE,
    sink   TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    reason TEXT    NOT NULL,
    json   TEXT    NOT NULL
) STRICT;

-- Serves `dead_letters(sink)`, newest first.
CREATE INDEX IF NOT EXISTS dead_letters_sink_at ON dead_letters (sink, at, seq);
