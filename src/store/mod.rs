//! The audit store: the system of record auditors query, and the checkpoint a restarted run
//! resumes from (SPEC §5, §6). A SQLite file by default, PostgreSQL by URL (see [`db`]).
//!
//! Each commit appends, in one transaction, the accepted inputs read since the last commit
//! (with position and logical time), the result changes and dead letters of the logical times
//! just completed, and a `commits` row: the new frontier, where every worker resumes every
//! source, the output files' lengths and digests, and a SHA-256 hash over the batch's rows and
//! every other column, chained to the previous commit's hash (the first commit's to the run's
//! configuration, id, outputs and schema). The schema and its views are in `schema.sql`.

pub mod db;
pub mod files;
pub mod pipelined;
pub mod pool;
pub mod query;
pub mod serve;
pub mod verify;

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::model::results::Change;
use crate::model::results::{Attributes, ResultRow};
use crate::model::time::Time;
use crate::model::time::{format_rfc3339, Millis};
use crate::model::{DeadLetter, Record};
use db::{encode_row, Db, DbError, Rows, Value};

const SCHEMA: &str = include_str!("schema.sql");

/// The hash before the first commit, until the store is bound to its run.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The `run` table's rows, in the order [`run_hash`] takes them.
const RUN_ROWS: &str = "SELECT name, value FROM run ORDER BY name";

/// SHA-256 over the `run` table's rows (configuration, id, outputs, schema; [`RUN_ROWS`]): the
/// first batch's `prev_hash`, so the chain covers what the run was.
pub fn run_hash(rows: &[Vec<Value>]) -> String {
    let mut hasher = Sha256::new();
    let mut line = String::from("run\n");
    for row in rows {
        encode_row(row, &mut line);
    }
    hasher.update(line.as_bytes());
    format!("{:x}", hasher.finalize())
}

/// One accepted input as committed.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StoredInput {
    /// The worker that read it (it replays it on restart).
    pub worker: usize,
    /// Where it was read: `file:line`.
    pub position: String,
    /// The logical time it entered the dataflow at.
    pub time: Time,
    /// Whether it arrived behind the watermark.
    pub late: bool,
    /// The record.
    pub record: Record,
}

/// What one commit appends.
pub struct Batch<'a> {
    /// Every logical time before this is complete and committed.
    pub frontier: Time,
    /// Where each worker resumes each source (JSON).
    pub positions: &'a str,
    /// Inputs accepted since the previous commit.
    pub inputs: &'a [StoredInput],
    /// Result changes at times before `frontier` not yet committed.
    pub changes: &'a [Change],
    /// Dead letters read since the previous commit, with the logical times they were read at.
    pub dead_letters: &'a [(DeadLetter, Time)],
    /// Where the outputs (results, dead letters) stand after this batch.
    pub outputs: [Extent; 2],
}

/// What a commit records of one output: its length (bytes for a file, messages for a topic)
/// and, for a file, the SHA-256 digest (hex) of its content up to that length.
#[derive(Clone, Debug, Default)]
pub struct Extent {
    /// The length.
    pub length: u64,
    /// The digest; empty for outputs that are not files.
    pub sha256: String,
}

/// The last commit, from which a run resumes.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The batch number.
    pub batch: i64,
    /// Every time before it is committed.
    pub frontier: Time,
    /// Where each worker resumes each source (JSON).
    pub positions: String,
    /// Output file lengths at the commit.
    pub results_bytes: u64,
    /// Output file lengths at the commit.
    pub dead_letters_bytes: u64,
    /// The output files' SHA-256 digests (hex) at the commit (results, dead letters; empty
    /// for outputs that are not files).
    pub digests: [String; 2],
    /// Dead letters delivered so far (read at times before the frontier).
    pub dead_letters: u64,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The store holds another run.
    #[error("the store holds a run with another configuration ({0}); use a new store")]
    OtherRun(String),
    /// A stored value is not what trueup wrote.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The store's tables are not the ones this trueup reads and writes: another version made
    /// them.
    #[error(
        "the store was made by another version of trueup: {0}; read it with the trueup that \
         wrote it, and give this one a new store"
    )]
    OtherSchema(String),
}

/// An open audit store.
pub struct Store {
    db: Db,
    chain: Chain,
    /// Where each commit's head is appended once durable, if anywhere.
    head_log: Option<PathBuf>,
}

/// Where the store's history stands: the last batch, its hash, and each table's next `seq`;
/// where the last batch left the sources and outputs, and the summary's digest every batch
/// records (that of the summary file last written, empty before a run has finished).
struct Chain {
    batch: i64,
    prev_hash: String,
    next_seq: [i64; 3],
    last: Last,
    summary_sha256: String,
}

/// What the last batch recorded of the sources and outputs: a batch that only records the
/// summary's digest records them again.
#[derive(Clone, Debug, Default)]
struct Last {
    frontier: Time,
    positions: String,
    outputs: [Extent; 2],
}

const INPUT_COLUMNS: &[&str] = &[
    "seq",
    "batch",
    "worker",
    "stream",
    "position",
    "record_id",
    "time_ms",
    "late",
    "record",
];
const RESULT_COLUMNS: &[&str] = &[
    "seq",
    "batch",
    "time_ms",
    "time",
    "diff",
    "rule",
    "key",
    "currency",
    "status",
    "expected",
    "actual",
    "difference",
    "expected_minor",
    "actual_minor",
    "difference_minor",
    "opened_at_ms",
    "opened_at",
    "due_at",
    "left_ids",
    "right_ids",
    "merchant_id",
    "attributes",
];
const DEAD_COLUMNS: &[&str] = &[
    "seq", "batch", "time_ms", "source", "position", "reason", "raw",
];
const COMMIT_COLUMNS: &[&str] = &[
    "batch",
    "frontier_ms",
    "frontier",
    "positions",
    "inputs",
    "results",
    "dead_letters",
    "results_bytes",
    "dead_letters_bytes",
    "results_sha256",
    "dead_letters_sha256",
    "summary_sha256",
    "prev_hash",
    "hash",
    "committed_at",
    "commit_ms",
];
/// Where the hash stands among [`COMMIT_COLUMNS`]; it covers every other one.
const HASH: usize = 13;
/// Where `prev_hash` stands among [`COMMIT_COLUMNS`].
const PREV_HASH: usize = 12;

/// The tables this trueup reads and writes, with their columns.
const TABLES: [(&str, &[&str]); 4] = [
    ("commits", COMMIT_COLUMNS),
    ("inputs", INPUT_COLUMNS),
    ("results", RESULT_COLUMNS),
    ("dead_letters", DEAD_COLUMNS),
];

/// Refuses a store whose tables lack a column this trueup reads or writes, or hold one it does
/// not know, naming each: a store made by another version (tables not yet made are no
/// difference: a new store's are made at its opening).
fn refuse_other_schema(db: &mut Db) -> Result<(), StoreError> {
    let mut differences = Vec::new();
    for (table, expected) in TABLES {
        let found = db.columns(table)?;
        if found.is_empty() {
            continue;
        }
        let missing = (expected.iter()).filter(|c| !found.iter().any(|f| f == *c));
        let unknown = (found.iter()).filter(|f| !expected.contains(&f.as_str()));
        let names = |list: Vec<String>| list.join("`, `");
        let missing = names(missing.map(|c| c.to_string()).collect());
        let unknown = names(unknown.cloned().collect());
        if !missing.is_empty() {
            differences.push(format!("its `{table}` table lacks `{missing}`"));
        }
        if !unknown.is_empty() {
            differences.push(format!("its `{table}` table has `{unknown}`, unknown here"));
        }
    }
    match differences.is_empty() {
        true => Ok(()),
        false => Err(StoreError::OtherSchema(differences.join("; "))),
    }
}

impl Store {
    /// Opens (creating the schema if needed) the store at `url` for writing.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        let mut db = Db::open(url, false)?;
        refuse_other_schema(&mut db)?;
        let schema = match db {
            // SQLite makes only a column declared `INTEGER PRIMARY KEY` the table's own row
            // key; any other primary key is a second B-tree every insert also writes
            Db::Sqlite(_) => SCHEMA.replace("BIGINT PRIMARY KEY", "INTEGER PRIMARY KEY"),
            Db::Postgres(_) => {
                SCHEMA.replace("CREATE VIEW IF NOT EXISTS", "CREATE OR REPLACE VIEW")
            }
        };
        db.batch(&schema)?;
        Store::resume(db)
    }

    /// Opens the store at `url` for reading only: the backend refuses any write.
    pub fn open_read_only(url: &str) -> Result<Store, StoreError> {
        let mut db = Db::open(url, true)?;
        refuse_other_schema(&mut db)?;
        Store::resume(db)
    }

    /// Opens the store at `url` for reading only if it was ever created (`None` otherwise):
    /// how the other processes of a cluster find what to resume from.
    pub fn peek(url: &str) -> Result<Option<Store>, StoreError> {
        if !Db::exists(url) {
            return Ok(None);
        }
        let mut db = Db::open(url, true)?;
        // a store whose first process is still creating it (its tables one by one, then the
        // run's rows, schema last) has nothing committed yet
        if !db.has_table("run")? {
            return Ok(None);
        }
        let bound = db.query("SELECT value FROM run WHERE name = 'schema'", &[])?;
        if bound.is_empty() {
            return Ok(None);
        }
        refuse_other_schema(&mut db)?;
        Store::resume(db).map(Some)
    }

    fn resume(db: Db) -> Result<Store, StoreError> {
        let mut store = Store {
            db,
            head_log: None,
            chain: Chain {
                batch: 0,
                prev_hash: GENESIS.to_string(),
                next_seq: [1; 3],
                last: Last::default(),
                summary_sha256: String::new(),
            },
        };
        let sql = "SELECT batch, hash, frontier_ms, positions, results_bytes, results_sha256, \
                   dead_letters_bytes, dead_letters_sha256, summary_sha256 FROM commits \
                   ORDER BY batch DESC LIMIT 1";
        if let Some(last) = store.db.query(sql, &[])?.first() {
            let (int, text) = (
                |i: usize| last[i].int().unwrap_or(0),
                |i: usize| last[i].str().unwrap_or_default().to_string(),
            );
            let extent = |i: usize| Extent {
                length: int(i) as u64,
                sha256: text(i + 1),
            };
            let chain = &mut store.chain;
            (chain.batch, chain.prev_hash) = (int(0), text(1));
            chain.last = Last {
                frontier: int(2) as Time,
                positions: text(3),
                outputs: [extent(4), extent(6)],
            };
            chain.summary_sha256 = text(8);
        }
        for (i, table) in ["inputs", "results", "dead_letters"].iter().enumerate() {
            let sql = format!("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM {table}");
            store.chain.next_seq[i] = store.db.query(&sql, &[])?[0][0].int().unwrap_or(0) + 1;
        }
        Ok(store)
    }

    /// Binds the store to the run described by `fingerprint` (the configuration as JSON):
    /// records it in a new store, with the run's id, its `outputs` (the sinks as JSON, whose
    /// files `verify` checks) and the schema as created, and refuses a store that holds another
    /// run. The first batch chains to these rows ([`run_hash`]).
    pub fn bind(&mut self, fingerprint: &str, outputs: &str) -> Result<(), StoreError> {
        let found = self
            .db
            .query("SELECT value FROM run WHERE name = 'config'", &[])?;
        match found.first().and_then(|r| r[0].str().map(str::to_string)) {
            Some(stored) if stored == fingerprint => {}
            Some(_) => return Err(StoreError::OtherRun("config differs".into())),
            None => {
                let id = new_run_id(fingerprint);
                let schema = self.db.catalog()?;
                self.db.append(&[], || Rows {
                    table: "run",
                    columns: &["name", "value"],
                    rows: vec![
                        vec![Value::text("config"), Value::text(fingerprint)],
                        vec![Value::text("id"), Value::text(&id)],
                        vec![Value::text("outputs"), Value::text(outputs)],
                        vec![Value::text("schema"), Value::text(schema)],
                    ],
                })?;
            }
        }
        if self.chain.batch == 0 {
            self.chain.prev_hash = run_hash(&self.db.query(RUN_ROWS, &[])?);
        }
        Ok(())
    }

    /// What stops this store's running query from another thread.
    pub fn canceller(&self) -> db::Canceller {
        self.db.canceller()
    }

    /// From now on, appends each commit's batch number, hash and time to `path` (a JSON line)
    /// once the commit is durable.
    pub fn log_heads_to(&mut self, path: Option<PathBuf>) {
        self.head_log = path;
    }

    /// The run's id: made when the store was bound, unique to it (outputs that cannot be cut
    /// back, Kafka topics, mark their messages with it).
    pub fn run_id(&mut self) -> Result<String, StoreError> {
        let found = self
            .db
            .query("SELECT value FROM run WHERE name = 'id'", &[])?;
        found
            .first()
            .and_then(|r| r[0].str().map(str::to_string))
            .ok_or_else(|| StoreError::Corrupt("run: no id".into()))
    }

    /// The last commit, if any.
    pub fn checkpoint(&mut self) -> Result<Option<Checkpoint>, StoreError> {
        // the last commit as the store read it when it opened
        let (batch, last) = (self.chain.batch, &self.chain.last);
        if batch == 0 {
            return Ok(None);
        }
        let dead = self.db.query(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM dead_letters WHERE time_ms < $1",
            &[Value::Int(last.frontier as i64)],
        )?;
        let [results, dead_letters] = &last.outputs;
        Ok(Some(Checkpoint {
            batch,
            frontier: last.frontier,
            positions: last.positions.clone(),
            results_bytes: results.length,
            dead_letters_bytes: dead_letters.length,
            digests: [results.sha256.clone(), dead_letters.sha256.clone()],
            dead_letters: dead[0][0].int().unwrap_or(0) as u64,
        }))
    }

    /// Every committed input, in commit order: what a restarted run replays.
    pub fn inputs(&mut self) -> Result<Vec<StoredInput>, StoreError> {
        let rows = self.db.query(
            "SELECT worker, position, time_ms, late, record FROM inputs ORDER BY seq",
            &[],
        )?;
        rows.into_iter()
            .map(|r| {
                let record = r[4]
                    .str()
                    .and_then(|t| serde_json::from_str(t).ok())
                    .ok_or_else(|| StoreError::Corrupt("an input record is not JSON".into()))?;
                Ok(StoredInput {
                    worker: r[0].int().unwrap_or(0) as usize,
                    position: r[1].str().unwrap_or_default().to_string(),
                    time: r[2].int().unwrap_or(0) as Time,
                    late: r[3].int() == Some(1),
                    record,
                })
            })
            .collect()
    }

    /// Committed dead letters read at or after `frontier`: not yet delivered to the outputs.
    pub fn undelivered_dead_letters(
        &mut self,
        frontier: Time,
    ) -> Result<Vec<(DeadLetter, Time)>, StoreError> {
        self.dead_letters_between(frontier, Time::MAX)
    }

    /// The committed dead letters read at times in `[from, to)`, in commit order.
    pub fn dead_letters_between(
        &mut self,
        from: Time,
        to: Time,
    ) -> Result<Vec<(DeadLetter, Time)>, StoreError> {
        let rows = self.db.query(
            "SELECT source, position, reason, raw, time_ms FROM dead_letters \
             WHERE time_ms >= $1 AND time_ms < $2 ORDER BY seq",
            &[
                Value::Int(from as i64),
                Value::Int(to.min(i64::MAX as Time) as i64),
            ],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let text = |v: &Value| v.str().unwrap_or_default().to_string();
                let dead = DeadLetter {
                    source: text(&r[0]),
                    position: text(&r[1]),
                    reason: text(&r[2]),
                    raw: text(&r[3]),
                };
                (dead, r[4].int().unwrap_or(0) as Time)
            })
            .collect())
    }

    /// The commit before the last: its frontier and output lengths (zeros when there is none).
    pub fn commit_before_last(&mut self) -> Result<(Time, u64, u64), StoreError> {
        let rows = self.db.query(
            "SELECT frontier_ms, results_bytes, dead_letters_bytes FROM commits \
             ORDER BY batch DESC LIMIT 1 OFFSET 1",
            &[],
        )?;
        let int = |v: &Value| v.int().unwrap_or(0) as u64;
        Ok(rows
            .first()
            .map_or((0, 0, 0), |r| (int(&r[0]), int(&r[1]), int(&r[2]))))
    }

    /// The committed result changes after the first `count`, in commit order.
    pub fn changes_after(&mut self, count: u64) -> Result<Vec<Change>, StoreError> {
        let rows = self.db.query(
            "SELECT time_ms, diff, rule, key, currency, status, expected, actual, difference, \
             opened_at_ms, due_at, left_ids, right_ids, merchant_id, attributes FROM results \
             WHERE seq > $1 ORDER BY seq",
            &[Value::Int(count as i64)],
        )?;
        rows.iter().map(|r| stored_change(r)).collect()
    }
}

impl Chain {
    /// The rows of the next batch and its chained hash; the chain counts it as committed (its
    /// batch number, hash and sequence numbers taken) — [`Prepared::append`] writes it.
    fn prepare(&mut self, batch: &Batch<'_>) -> Prepared {
        let started = std::time::Instant::now();
        let number = self.batch + 1;
        let mut tables = [
            Rows {
                table: "inputs",
                columns: INPUT_COLUMNS,
                rows: Vec::with_capacity(batch.inputs.len()),
            },
            Rows {
                table: "results",
                columns: RESULT_COLUMNS,
                rows: Vec::with_capacity(batch.changes.len()),
            },
            Rows {
                table: "dead_letters",
                columns: DEAD_COLUMNS,
                rows: Vec::with_capacity(batch.dead_letters.len()),
            },
        ];
        let mut seq = self.next_seq;
        for input in batch.inputs {
            tables[0].rows.push(input_row(seq[0], number, input));
            seq[0] += 1;
        }
        for (row, time, diff) in batch.changes {
            tables[1]
                .rows
                .push(result_row(seq[1], number, row, *time, *diff));
            seq[1] += 1;
        }
        for (dead, time) in batch.dead_letters {
            tables[2].rows.push(vec![
                Value::Int(seq[2]),
                Value::Int(number),
                Value::Int(*time as i64),
                Value::text(&dead.source),
                Value::text(&dead.position),
                Value::text(&dead.reason),
                Value::text(&dead.raw),
            ]);
            seq[2] += 1;
        }
        let mut commit = vec![
            Value::Int(number),
            Value::Int(batch.frontier as i64),
            Value::text(format_rfc3339(batch.frontier)),
            Value::text(batch.positions),
            Value::Int(batch.inputs.len() as i64),
            Value::Int(batch.changes.len() as i64),
            Value::Int(batch.dead_letters.len() as i64),
            Value::Int(batch.outputs[0].length as i64),
            Value::Int(batch.outputs[1].length as i64),
            Value::text(&batch.outputs[0].sha256),
            Value::text(&batch.outputs[1].sha256),
            Value::text(&self.summary_sha256),
            Value::text(&self.prev_hash),
            Value::text(now_rfc3339()),
            Value::Int(started.elapsed().as_millis() as i64),
        ];
        let hash = batch_hash(&commit, &tables);
        commit.insert(HASH, Value::text(&hash));
        self.batch = number;
        self.prev_hash = hash;
        self.next_seq = seq;
        self.last = Last {
            frontier: batch.frontier,
            positions: batch.positions.to_string(),
            outputs: batch.outputs.clone(),
        };
        Prepared { tables, commit }
    }
}

/// A batch ready to append: its rows and its `commits` row.
pub struct Prepared {
    tables: [Rows; 3],
    commit: Vec<Value>,
}

impl Prepared {
    /// Appends the batch in one transaction, the commit row last.
    fn append(self, db: &mut Db) -> Result<(), DbError> {
        let Prepared { tables, commit } = self;
        db.append(&tables, || Rows {
            table: "commits",
            columns: COMMIT_COLUMNS,
            rows: vec![commit],
        })
    }

    /// The head this batch makes, as [`Store::log_heads_to`] writes it: a JSON line.
    fn head(&self) -> String {
        head_line(&self.commit)
    }
}

/// The head a `commits` row (its [`COMMIT_COLUMNS`]) records, as the head log holds it: a
/// JSON line.
pub(crate) fn head_line(commit: &[Value]) -> String {
    let text = |i: usize| commit[i].str().unwrap_or_default().to_string();
    let head = serde_json::json!({
        "batch": commit[0].int(),
        "hash": text(HASH),
        "frontier": text(2),
        "committed_at": text(HASH + 1),
    });
    format!("{head}\n")
}

/// The `commits` rows after batch `after`, in batch order, as [`head_line`] takes them.
pub(crate) fn commits_after(db: &mut Db, after: i64) -> Result<Vec<Vec<Value>>, DbError> {
    let sql = format!(
        "SELECT {} FROM commits WHERE batch > $1 ORDER BY batch",
        COMMIT_COLUMNS.join(", ")
    );
    db.query(&sql, &[Value::Int(after)])
}

fn input_row(seq: i64, batch: i64, input: &StoredInput) -> Vec<Value> {
    let (stream, id) = input.record.identity();
    vec![
        Value::Int(seq),
        Value::Int(batch),
        Value::Int(input.worker as i64),
        Value::text(stream.name()),
        Value::text(&input.position),
        Value::text(id),
        Value::Int(input.time as i64),
        Value::Int(i64::from(input.late)),
        Value::text(serde_json::to_string(&input.record).unwrap_or_default()),
    ]
}

fn result_row(seq: i64, batch: i64, row: &ResultRow, time: Millis, diff: isize) -> Vec<Value> {
    let line = crate::model::results::ChangelogLine::new(row, time, diff as i64);
    let minor = |text: &Option<String>| {
        text.as_ref()
            .and_then(|t| t.replace('.', "").parse::<i64>().ok())
            .map_or(Value::Null, Value::Int)
    };
    let ids = |ids: &[String]| Value::text(serde_json::to_string(ids).unwrap_or_default());
    vec![
        Value::Int(seq),
        Value::Int(batch),
        Value::Int(time as i64),
        Value::text(line.time.clone()),
        Value::Int(diff as i64),
        Value::text(line.rule),
        Value::text(line.key),
        Value::text(line.currency),
        Value::text(line.status.as_str()),
        Value::opt_text(line.expected.clone()),
        Value::opt_text(line.actual.clone()),
        Value::opt_text(line.difference.clone()),
        minor(&line.expected),
        minor(&line.actual),
        minor(&line.difference),
        Value::Int(row.opened_at as i64),
        Value::text(line.opened_at.clone()),
        Value::text(line.due_at.clone()),
        ids(line.left_ids),
        ids(line.right_ids),
        Value::opt_text(line.merchant_id),
        attributes_value(line.attributes),
    ]
}

/// SHA-256 over the commit's columns but the hash (in [`COMMIT_COLUMNS`] order) and every row
/// of the batch, table by table, each row as its encoded values joined by tabs and ended by a
/// newline.
pub fn batch_hash(commit: &[Value], tables: &[Rows]) -> String {
    let mut hasher = Sha256::new();
    let mut line = String::new();
    let mut feed = |values: &[Value], hasher: &mut Sha256| {
        line.clear();
        encode_row(values, &mut line);
        hasher.update(line.as_bytes());
    };
    feed(commit, &mut hasher);
    for table in tables {
        hasher.update(table.table.as_bytes());
        hasher.update(b"\n");
        for row in &table.rows {
            feed(row, &mut hasher);
        }
    }
    format!("{:x}", hasher.finalize())
}

/// A result change read back from its `results` row.
fn stored_change(r: &[Value]) -> Result<Change, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("results: {what}"));
    let text = |i: usize| r[i].str().unwrap_or_default().to_string();
    let amount = |i: usize| r[i].str().and_then(trueup_operators::Amount::parse);
    let ids = |i: usize| serde_json::from_str::<Vec<String>>(&text(i)).map_err(|_| corrupt("ids"));
    let row = ResultRow {
        rule: text(2),
        key: text(3),
        currency: crate::model::currency::Currency::from_code(&text(4))
            .ok_or_else(|| corrupt("currency"))?,
        status: crate::model::results::Status::parse(&text(5)).ok_or_else(|| corrupt("status"))?,
        expected: amount(6),
        actual: amount(7),
        difference: amount(8),
        opened_at: r[9].int().unwrap_or(0) as Time,
        due_at: crate::model::time::parse_rfc3339(&text(10)).map_err(|_| corrupt("due_at"))?,
        left_ids: ids(11)?,
        right_ids: ids(12)?,
        merchant_id: r[13].str().map(str::to_string),
        attributes: stored_attributes(&r[14]).ok_or_else(|| corrupt("attributes"))?,
    };
    Ok((
        row,
        r[0].int().unwrap_or(0) as Time,
        r[1].int().unwrap_or(0) as isize,
    ))
}

/// A result's carried attributes as stored: the object the changelog line writes, or NULL
/// when there are none.
pub fn attributes_value(attributes: Attributes<'_>) -> Value {
    match attributes.is_empty() {
        true => Value::Null,
        false => Value::text(serde_json::to_string(&attributes).unwrap_or_default()),
    }
}

/// A result's carried attributes read back from their column (`None`: not the object
/// [`attributes_value`] writes).
pub fn stored_attributes(value: &Value) -> Option<Vec<(String, String)>> {
    match value.str() {
        None => Some(Vec::new()),
        Some(text) => Attributes::parse(text),
    }
}

/// A fresh run id: SHA-256 over the fingerprint, the clock and the process id, 32 hex digits.
fn new_run_id(fingerprint: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(fingerprint.as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.update(now.as_nanos().to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    let head: [u8; 16] = digest[..16].try_into().expect("16 of 32 bytes");
    format!("{:032x}", u128::from_be_bytes(head))
}

fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis);
    format_rfc3339(now)
}
