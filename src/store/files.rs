//! `verify`'s check of the output files: each commit recorded the files' lengths and SHA-256
//! digests of their content up to them; the files must still hold exactly that content, and
//! nothing after it. The summary file must be the one whose digest the last commit recorded.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::db::Value;
use super::COMMIT_COLUMNS;

/// One commit's record of one output file: its batch, the file's length, its digest.
type Mark = (i64, u64, String);

/// What the commits recorded of the two output files, in batch order, and the last commit's
/// digest of the summary file (if the run has written one).
pub struct Marks {
    results: Vec<Mark>,
    dead_letters: Vec<Mark>,
    summary: Option<(i64, String)>,
}

impl Marks {
    /// The marks of `commits` (rows in `COMMIT_COLUMNS` order); commits without a digest
    /// (outputs that are not files) leave none.
    pub fn of(commits: &[Vec<Value>]) -> Marks {
        let column = |name: &str| COMMIT_COLUMNS.iter().position(|c| *c == name);
        let marks = |length: &str, digest: &str| -> Vec<Mark> {
            let (Some(length), Some(digest)) = (column(length), column(digest)) else {
                return Vec::new();
            };
            commits
                .iter()
                .filter_map(|c| {
                    let sha256 = c[digest].str().filter(|d| !d.is_empty())?;
                    Some((c[0].int()?, c[length].int()? as u64, sha256.to_string()))
                })
                .collect()
        };
        let summary = column("summary_sha256").and_then(|at| {
            let last = commits.last()?;
            let sha256 = last[at].str().filter(|d| !d.is_empty())?;
            Some((last[0].int()?, sha256.to_string()))
        });
        Marks {
            results: marks("results_bytes", "results_sha256"),
            dead_letters: marks("dead_letters_bytes", "dead_letters_sha256"),
            summary,
        }
    }
}

/// Checks the results and dead-letters files `sinks` names against `marks`; a file that
/// cannot be read, is shorter than committed, or whose committed content differs from what a
/// batch recorded is a problem (the first such batch is named).
pub fn check_files(sinks: &serde_json::Value, marks: &Marks, problems: &mut Vec<String>) {
    for (key, marks) in [
        ("results", &marks.results),
        ("dead_letters", &marks.dead_letters),
    ] {
        let Some(path) = sinks[key].as_str() else {
            continue;
        };
        if marks.is_empty() {
            continue;
        }
        if let Err(problem) = check_file(Path::new(path), marks) {
            problems.push(format!("sinks.{key} ({path}): {problem}"));
        }
    }
    let (Some((batch, recorded)), Some(path)) = (&marks.summary, sinks["summary"].as_str()) else {
        return;
    };
    let found = std::fs::read(path).map(|text| format!("{:x}", Sha256::digest(text)));
    match found {
        Err(e) => problems.push(format!("sinks.summary ({path}): cannot be read ({e})")),
        Ok(found) if &found != recorded => problems.push(format!(
            "sinks.summary ({path}): differs from what batch {batch} recorded (SHA-256 {found}, \
             recorded {recorded}): the file was altered"
        )),
        Ok(_) => {}
    }
}

/// Reads `path` once, checking its digest at each mark in turn; bytes after the last mark
/// are a problem too — written after the last commit (by a run that has not committed them yet
/// and will cut them when it resumes, or added by someone else).
fn check_file(path: &Path, marks: &[Mark]) -> Result<(), String> {
    let mut file = File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    check_prefixes(&mut file, marks)?;
    let Some((batch, length, _)) = marks.last() else {
        return Ok(()); // no commit recorded the file
    };
    let found = file
        .metadata()
        .map_err(|e| format!("cannot be read ({e})"))?
        .len();
    if found > *length {
        return Err(format!(
            "holds {} bytes after the {length} the last commit (batch {batch}) recorded: \
             written after it — by a run still going or killed (a resumed run cuts them), or \
             added since",
            found - length
        ));
    }
    Ok(())
}

/// Reads `file` from its start, checking its digest at each mark in turn.
fn check_prefixes(file: &mut File, marks: &[Mark]) -> Result<(), String> {
    let mut digest = Sha256::new();
    let mut at = 0u64;
    for (batch, length, recorded) in marks {
        let want = length.saturating_sub(at);
        let read = std::io::copy(&mut (&mut *file).take(want), &mut digest)
            .map_err(|e| format!("cannot be read ({e})"))?;
        at += read;
        if at < *length {
            return Err(format!(
                "holds {at} bytes, fewer than the {length} batch {batch} committed"
            ));
        }
        let found = format!("{:x}", digest.clone().finalize());
        if &found != recorded {
            return Err(format!(
                "its first {length} bytes differ from what batch {batch} committed \
                 (SHA-256 {found}, recorded {recorded}): the file was altered"
            ));
        }
    }
    Ok(())
}
