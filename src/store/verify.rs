//! `trueup verify`: recomputes the hash chain over every committed batch (from the run's
//! configuration, id, outputs and schema on), checks every row's count and type, the schema
//! against the one recorded at creation, the output files against the digests their commits
//! recorded, and that the committed inputs are conserved into the committed results.
//!
//! What it proves: no committed row, commit or output byte was changed, added or removed, and
//! no batch was removed or reordered — unless the chain was recomputed by someone who also
//! rewrote every later hash (publish the head elsewhere, e.g. with `store.head_log`, to rule
//! that out); and every input id before the last frontier is accounted for by a current result,
//! and every result names only committed inputs. What it does not prove: that the inputs
//! themselves were what the source systems sent (compare positions with the sources for that).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::db::{Rows, Value};
use super::files::{check_files, Marks};
use super::{
    batch_hash, run_hash, Store, StoreError, COMMIT_COLUMNS, DEAD_COLUMNS, HASH, INPUT_COLUMNS,
    PREV_HASH, RESULT_COLUMNS, RUN_ROWS, SCHEMA,
};
use crate::config::RuleConfig;
use crate::model::results::STREAM_ATTRIBUTE;
use crate::model::time::Time;
use crate::model::Stream;
use crate::rules::kind::RuleKind;
use crate::rules::registry::kind_of;

/// The columns a view is compared on.
const VIEW_COLUMNS: &str = "rule, key, currency, status, difference, opened_at_ms";

/// The query `view` stands for in trueup's schema, over the tables alone (views it reads
/// from replaced by their own definitions).
fn view_definition(view: &str) -> String {
    let start = format!("CREATE VIEW IF NOT EXISTS {view} AS\n");
    let text = SCHEMA.split_once(&start).map_or("", |(_, rest)| rest);
    let body = text.split_once(';').map_or(text, |(body, _)| body);
    match view {
        "current_results" => body.to_string(),
        _ => body.replace(
            "FROM current_results",
            &format!(
                "FROM ({}) AS current_results",
                view_definition("current_results")
            ),
        ),
    }
}

/// The outputs (`[sinks]`) the store was bound to, from its `run` rows.
fn outputs_of(run: &[Vec<Value>]) -> serde_json::Value {
    let config = run.iter().find(|r| r[0].str() == Some("outputs"));
    let text = config.and_then(|r| r[1].str()).unwrap_or_default();
    serde_json::from_str(text).unwrap_or_default()
}

/// A value of a storage class trueup never writes in that column — TEXT where it wrote an
/// INTEGER or the reverse, a NULL where the schema has none, a REAL, a BLOB, text whose bytes
/// are not UTF-8, another PostgreSQL type (read as text beginning with NUL, see
/// [`Value::kind`]) — is a problem: the first such value of `table` is named.
fn check_types(table: &str, columns: &[&str], rows: &[Vec<Value>], report: &mut Report) {
    let kinds: Vec<(bool, bool)> = columns.iter().map(|c| column_kind(table, c)).collect();
    for row in rows {
        for ((value, (integer, nullable)), column) in row.iter().zip(&kinds).zip(columns) {
            let fits = match value {
                Value::Null => *nullable,
                Value::Int(_) => *integer,
                Value::Text(text) => !integer && !text.starts_with('\0'),
            };
            if !fits {
                let (kind, wrote) = (value.kind(), if *integer { "INTEGER" } else { "TEXT" });
                report.problems.push(format!(
                    "{table}: a value of a kind trueup does not write in {column}: {kind} where \
                     it writes {wrote} ({value:?})"
                ));
                return;
            }
        }
    }
}

/// A column's kind in trueup's schema: (an integer, may be NULL).
fn column_kind(table: &str, column: &str) -> (bool, bool) {
    let start = format!("CREATE TABLE IF NOT EXISTS {table} (\n");
    let body = SCHEMA.split_once(&start).map_or("", |(_, rest)| rest);
    let body = body.split_once(");").map_or(body, |(body, _)| body);
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| l.split_whitespace().next() == Some(column));
    let line = line.unwrap_or_default();
    let nullable = !line.contains("NOT NULL") && !line.contains("PRIMARY KEY");
    (line.contains("BIGINT"), nullable)
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Report {
    /// Batches whose hash was recomputed.
    pub batches: u64,
    /// Rows read, over all tables.
    pub rows: u64,
    /// Every problem found, each naming its batch (empty: the store verifies).
    pub problems: Vec<String>,
    /// The last batch's recorded hash (the head of the chain), if any batch is committed:
    /// published elsewhere, it lets a later `verify --expect-head` tell that no batch was
    /// removed and no chain recomputed since.
    pub head: Option<String>,
}

impl Store {
    /// Recomputes every batch's hash and the chain, then checks conservation at the last
    /// committed frontier.
    pub fn verify(&mut self) -> Result<Report, StoreError> {
        let mut report = Report::default();
        self.check_integrity(&mut report)?;
        let run = self.db.query(RUN_ROWS, &[])?;
        check_types("run", &["name", "value"], &run, &mut report);
        self.check_run(&run, &mut report)?;
        let commits = self.db.query(
            &format!(
                "SELECT {} FROM commits ORDER BY batch",
                COMMIT_COLUMNS.join(", ")
            ),
            &[],
        )?;
        check_types("commits", COMMIT_COLUMNS, &commits, &mut report);
        let mut prev = run_hash(&run);
        let mut expected_batch = 1;
        for commit in &commits {
            let batch = commit[0].int().unwrap_or(-1);
            if batch != expected_batch {
                report.problems.push(format!(
                    "batch {expected_batch}: missing (found batch {batch} next)"
                ));
                expected_batch = batch;
            }
            expected_batch += 1;
            if commit[PREV_HASH].str() != Some(prev.as_str()) {
                let to = if batch == 1 {
                    "the run"
                } else {
                    "the previous batch's hash"
                };
                report
                    .problems
                    .push(format!("batch {batch}: prev_hash does not chain to {to}"));
            }
            let tables = self.batch_rows(batch, commit, &mut report)?;
            let mut hashed = commit.clone();
            let stored = hashed.remove(HASH).str().unwrap_or_default().to_string();
            let hash = batch_hash(&hashed, &tables);
            if hash != stored {
                report.problems.push(format!(
                    "batch {batch}: content hash {hash} differs from the recorded {stored}: \
                     a row of this batch was altered"
                ));
            }
            prev = stored;
            report.batches += 1;
        }
        report.head = (!commits.is_empty()).then_some(prev);
        self.check_orphans(&mut report)?;
        if let Some(last) = commits.last() {
            let frontier = last[1].int().unwrap_or(0);
            self.check_conservation(frontier, &mut report)?;
        }
        self.check_views(&mut report);
        check_files(
            &outputs_of(&run),
            &Marks::of(&commits),
            &mut report.problems,
        );
        Ok(report)
    }

    /// On SQLite, the database file's own consistency, indexes included: queries read through
    /// the indexes, so an index rebuilt with other entries (its catalog text unchanged) would
    /// make them answer what the hashed rows do not say. `integrity_check`, not `quick_check`,
    /// which skips the indexes' contents.
    fn check_integrity(&mut self, report: &mut Report) -> Result<(), StoreError> {
        if self.db.backend() != "sqlite" {
            return Ok(());
        }
        let found = self.db.query("PRAGMA integrity_check", &[])?;
        let lines: Vec<&str> = found.iter().filter_map(|r| r[0].str()).collect();
        if lines != ["ok"] {
            let shown = lines
                .iter()
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .join("; ");
            report.problems.push(format!(
                "the database file is not consistent (SQLite integrity_check: {shown})"
            ));
        }
        Ok(())
    }

    /// The `run` table holds exactly what trueup wrote — the configuration, the id and the
    /// schema — and the schema is still the one recorded.
    fn check_run(&mut self, run: &[Vec<Value>], report: &mut Report) -> Result<(), StoreError> {
        let names: Vec<&str> = run.iter().filter_map(|r| r[0].str()).collect();
        if names != ["config", "id", "outputs", "schema"] {
            report.problems.push(format!(
                "run: holds {names:?}, not the configuration, id, outputs and schema trueup wrote"
            ));
        }
        let recorded = run.iter().find(|r| r[0].str() == Some("schema"));
        let recorded = recorded.and_then(|r| r[1].str()).unwrap_or_default();
        let found = self.db.catalog()?;
        if let Some((then, now)) = recorded.lines().zip(found.lines()).find(|(a, b)| a != b) {
            report.problems.push(format!(
                "the schema differs from the one trueup created: {now:?} where it created {then:?}"
            ));
        } else if recorded.lines().count() != found.lines().count() {
            report.problems.push(format!(
                "the schema differs from the one trueup created: {} objects and columns where \
                 it created {}",
                found.lines().count(),
                recorded.lines().count()
            ));
        }
        Ok(())
    }

    /// Batch `batch`'s rows of each table, counted against its `commit` row and typed.
    fn batch_rows(
        &mut self,
        batch: i64,
        commit: &[Value],
        report: &mut Report,
    ) -> Result<Vec<Rows>, StoreError> {
        let mut tables = Vec::new();
        for (i, (table, columns)) in [
            ("inputs", INPUT_COLUMNS),
            ("results", RESULT_COLUMNS),
            ("dead_letters", DEAD_COLUMNS),
        ]
        .into_iter()
        .enumerate()
        {
            let rows = self.db.query(
                &format!(
                    "SELECT {} FROM {table} WHERE batch = $1 ORDER BY seq",
                    columns.join(", ")
                ),
                &[Value::Int(batch)],
            )?;
            if commit[4 + i].int() != Some(rows.len() as i64) {
                report.problems.push(format!(
                    "batch {batch}: {table} holds {} rows, the commit says {}",
                    rows.len(),
                    commit[4 + i].int().unwrap_or(-1)
                ));
            }
            check_types(table, columns, &rows, report);
            report.rows += rows.len() as u64;
            tables.push(Rows {
                table,
                columns,
                rows,
            });
        }
        Ok(tables)
    }

    /// Rows that belong to no committed batch.
    fn check_orphans(&mut self, report: &mut Report) -> Result<(), StoreError> {
        for table in ["inputs", "results", "dead_letters"] {
            let orphans = self.db.query(
                &format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} \
                     WHERE batch IS NULL OR batch NOT IN (SELECT batch FROM commits)"
                ),
                &[],
            )?;
            let n = orphans[0][0].int().unwrap_or(0);
            if n > 0 {
                report
                    .problems
                    .push(format!("{table}: {n} rows belong to no committed batch"));
            }
        }
        Ok(())
    }

    /// Every view shows what its definition in trueup's schema does: a redefined
    /// `open_breaks` could hide breaks from the documented SQL and `/metrics`.
    fn check_views(&mut self, report: &mut Report) {
        for view in ["current_results", "open_breaks"] {
            let (shown, defined) = (format!("SELECT * FROM {view}"), view_definition(view));
            let mut differing = 0;
            for (a, b) in [(&shown, &defined), (&defined, &shown)] {
                let sql = format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT {VIEW_COLUMNS} FROM ({a}) AS a \
                     EXCEPT SELECT {VIEW_COLUMNS} FROM ({b}) AS b) AS differing"
                );
                match self.db.query(&sql, &[]) {
                    Ok(rows) => differing += rows[0][0].int().unwrap_or(1),
                    Err(e) => {
                        let problem = format!("the view {view} cannot be compared ({e})");
                        report.problems.push(problem);
                        break;
                    }
                }
            }
            if differing > 0 {
                report.problems.push(format!(
                    "the view {view} differs from its definition in {differing} rows: it was \
                     redefined"
                ));
            }
        }
    }

    /// Every input id before `frontier` appears in a current result (of a rule that takes its
    /// stream), and every id a current result lists is a committed input.
    fn check_conservation(&mut self, frontier: i64, report: &mut Report) -> Result<(), StoreError> {
        let rules: Vec<RuleConfig> = self
            .db
            .query("SELECT value FROM run WHERE name = 'config'", &[])?
            .first()
            .and_then(|r| r[0].str().map(str::to_string))
            .and_then(|c| serde_json::from_str::<serde_json::Value>(&c).ok())
            .and_then(|c| serde_json::from_value(c["rules"].clone()).ok())
            .unwrap_or_default();
        let inputs = self.db.query(
            "SELECT DISTINCT stream, record_id FROM inputs WHERE time_ms < $1",
            &[Value::Int(frontier)],
        )?;
        let inputs: BTreeSet<(String, String)> = inputs
            .into_iter()
            .map(|r| {
                (
                    r[0].str().unwrap_or_default().to_string(),
                    r[1].str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let everything = super::query::Filter {
            limit: Some(u64::MAX),
            ..super::query::Filter::default()
        };
        let results = self.current_as_of((frontier as Time).saturating_sub(1), &everything)?;
        let kinds: Vec<Arc<dyn RuleKind>> = rules.iter().map(kind_of).collect();
        // a `dedupe` result lists payments on the left, entries on the right — or a declared
        // stream's records, naming the stream
        let side_stream = |row: &super::query::CurrentRow, left: bool| match row.rule.as_str() {
            "dedupe" if left => "payments".to_string(),
            "dedupe" => (row.attributes.get(STREAM_ATTRIBUTE))
                .and_then(|streams| streams.first())
                .map_or("entries".into(), String::clone),
            rule => (kinds.iter().find(|k| k.name() == rule))
                .map_or("entries".into(), |k| k.side_stream(left).name()),
        };
        let mut listed = BTreeSet::new();
        for row in &results {
            for (left, ids) in [(true, &row.left_ids), (false, &row.right_ids)] {
                let stream = side_stream(row, left);
                listed.extend(ids.iter().map(|id| (stream.clone(), id.clone())));
            }
        }
        let batch = self.chain.batch;
        for (stream, id) in listed.difference(&inputs).take(10) {
            report.problems.push(format!(
                "batch {batch}: a result lists {stream} id {id}, which no committed input has"
            ));
        }
        let takes =
            |stream: &str| Stream::parse(stream).is_ok_and(|s| kinds.iter().any(|k| k.covers(s)));
        for (stream, id) in inputs
            .difference(&listed)
            .filter(|(s, _)| takes(s))
            .take(10)
        {
            report.problems.push(format!(
                "batch {batch}: {stream} input {id} is in no current result"
            ));
        }
        Ok(())
    }
}
