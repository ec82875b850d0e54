-- Records a sink's destination rejected for good; seq orders those added within the same millisecond. The
-- same schema as SQLite's 0003.
CREATE TABLE IF NOT EXISTS dead_letters (
    seq    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id     TEXT COLLATE "C" NOT NULL UNIQUE,
    sink   TEXT COLLATE "C" NOT NULL,
    at     TIMESTAMPTZ      NOT NULL,
    reason TEXT             NOT NULL,
    json   TEXT             NOT NULL
);

-- Serves `dead_letters(sink)`, newest first.
CREATE INDEX IF NOT EXISTS dead_letters_sink_at ON dead_letters (sink, at, seq);
