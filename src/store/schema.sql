-- trueup audit store. Append-only: trueup inserts, never updates or deletes.
-- Times are Unix milliseconds (*_ms) beside their RFC 3339 text; amounts are exact decimal text
-- at the currency's minor units, and the same in integer minor units (*_minor) for sums.

-- What the run is: its configuration, its id, and the schema as trueup created it (a store
-- belongs to one run; running again resumes it). The first batch's hash chains to these rows.
CREATE TABLE IF NOT EXISTS run (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per commit: everything before logical time `frontier_ms` is final; `positions` is
-- where each worker resumes each source; the output files' lengths and SHA-256 digests of
-- their content up to those lengths (empty for outputs that are not files); the SHA-256 of the
-- summary file as last written (empty until a run finishes; a run that finishes commits a batch
-- without rows recording it); `hash` covers every other column and the batch's rows, chained to
-- the batch before (the first batch to the run).
CREATE TABLE IF NOT EXISTS commits (
    batch BIGINT PRIMARY KEY,
    frontier_ms BIGINT NOT NULL,
    frontier TEXT NOT NULL,
    positions TEXT NOT NULL,
    inputs BIGINT NOT NULL,
    results BIGINT NOT NULL,
    dead_letters BIGINT NOT NULL,
    results_bytes BIGINT NOT NULL,
    dead_letters_bytes BIGINT NOT NULL,
    results_sha256 TEXT NOT NULL,
    dead_letters_sha256 TEXT NOT NULL,
    summary_sha256 TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    committed_at TEXT NOT NULL,
    commit_ms BIGINT NOT NULL
);

-- Every accepted input record, with its source position and the logical time it entered at.
CREATE TABLE IF NOT EXISTS inputs (
    seq BIGINT PRIMARY KEY,
    batch BIGINT NOT NULL,
    worker BIGINT NOT NULL,
    stream TEXT NOT NULL,
    position TEXT NOT NULL,
    record_id TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    late BIGINT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inputs_record_id ON inputs (record_id);

-- The result changelog: exactly the lines of results.jsonl, one column per field.
CREATE TABLE IF NOT EXISTS results (
    seq BIGINT PRIMARY KEY,
    batch BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    time TEXT NOT NULL,
    diff BIGINT NOT NULL,
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    expected TEXT,
    actual TEXT,
    difference TEXT,
    expected_minor BIGINT,
    actual_minor BIGINT,
    difference_minor BIGINT,
    opened_at_ms BIGINT NOT NULL,
    opened_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    left_ids TEXT NOT NULL,
    right_ids TEXT NOT NULL,
    merchant_id TEXT,
    attributes TEXT
);
CREATE INDEX IF NOT EXISTS results_key ON results (key, time_ms);
CREATE INDEX IF NOT EXISTS results_time ON results (time_ms);

-- Rejected input lines, committed with the inputs read around them; the ones read before the
-- commit's frontier are the lines of dead_letters.jsonl.
CREATE TABLE IF NOT EXISTS dead_letters (
    seq BIGINT PRIMARY KEY,
    batch BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    position TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL
);

-- Every group's current result: the rows whose changes sum to a positive count.
CREATE VIEW IF NOT EXISTS current_results AS
SELECT rule, key, currency, status, expected, actual, difference, expected_minor,
       actual_minor, difference_minor, opened_at_ms, opened_at, due_at, left_ids, right_ids,
       merchant_id, attributes, CAST(MAX(time_ms) AS BIGINT) AS since_ms
FROM results
GROUP BY rule, key, currency, status, expected, actual, difference, expected_minor,
         actual_minor, difference_minor, opened_at_ms, opened_at, due_at, left_ids, right_ids,
         merchant_id, attributes
HAVING SUM(diff) > 0;

-- The exceptions finance ops act on: current results that are neither matched nor pending.
CREATE VIEW IF NOT EXISTS open_breaks AS
SELECT * FROM current_results WHERE status NOT IN ('matched', 'pending');
