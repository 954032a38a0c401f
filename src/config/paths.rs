//! Nothing destroyed (SPEC §5): the paths a run writes — its output files and its store — must
//! not resolve to one of its inputs, its store or another of its outputs, and no output topic
//! may be an input topic or the other output topic.
//!
//! Paths are compared after resolving `.` and `..` and every symbolic link (of the file and of
//! each folder above it, as far as they exist), and files that exist are also compared by
//! identity (device and inode), so that a hard link counts as the same file.

use std::path::{Component, Path, PathBuf};

use crate::config::{Config, ConfigError};

/// One path a run touches, under the key that names it.
struct Touched {
    key: String,
    path: PathBuf,
    /// Whether the run writes it (outputs, the store) or only reads it (inputs).
    writes: bool,
}

impl Config {
    /// Refuses, naming both keys, a configuration that would write over one of its inputs, its
    /// store or another of its outputs (see the [module documentation](self)).
    pub fn check_paths(&self) -> Result<(), ConfigError> {
        let touched = self.touched();
        let resolved: Vec<PathBuf> = touched.iter().map(|t| resolve(&t.path)).collect();
        for (i, a) in touched.iter().enumerate() {
            for (j, b) in touched.iter().enumerate().skip(i + 1) {
                if !(a.writes || b.writes) || !same_file(&resolved[i], &resolved[j]) {
                    continue;
                }
                let (writer, other) = if a.writes { (a, b) } else { (b, a) };
                return Err(ConfigError::Invalid {
                    key: writer.key.clone(),
                    message: format!(
                        "{} is the same file as `{}` ({}): trueup would write over it",
                        writer.path.display(),
                        other.key,
                        other.path.display()
                    ),
                });
            }
        }
        self.check_topics()
    }

    /// Every file the run reads or writes, by key.
    fn touched(&self) -> Vec<Touched> {
        let mut touched = Vec::new();
        for (i, source) in self.sources.iter().enumerate() {
            if let Some(path) = &source.path {
                touched.push(Touched {
                    key: format!("sources[{i}].path"),
                    path: path.clone(),
                    writes: false,
                });
            }
        }
        let sinks = &self.sinks;
        for (key, path) in [
            ("sinks.results", &sinks.results),
            ("sinks.dead_letters", &sinks.dead_letters),
            ("sinks.summary", &sinks.summary),
        ] {
            if let Some(path) = path {
                touched.push(Touched {
                    key: key.into(),
                    path: path.clone(),
                    writes: true,
                });
            }
        }
        let store = self.store.as_ref().and_then(|s| sqlite_path(&s.url));
        if let Some(path) = store {
            for suffix in SQLITE_FILE_SUFFIXES {
                touched.push(Touched {
                    key: "store.url".into(),
                    path: PathBuf::from(format!("{path}{suffix}")),
                    writes: true,
                });
            }
        }
        if let Some(path) = self.store.as_ref().and_then(|s| s.head_log.as_ref()) {
            touched.push(Touched {
                key: "store.head_log".into(),
                path: path.clone(),
                writes: true,
            });
        }
        touched
    }

    /// Refuses an output topic that is an input topic or the other output topic.
    fn check_topics(&self) -> Result<(), ConfigError> {
        let sinks = &self.sinks;
        let outputs = [
            ("sinks.results_topic", &sinks.results_topic),
            ("sinks.dead_letters_topic", &sinks.dead_letters_topic),
        ];
        let inputs = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.topic.as_ref().map(|t| (format!("sources[{i}].topic"), t)));
        let mut others: Vec<(String, &String)> = inputs.collect();
        for (key, topic) in outputs {
            let Some(topic) = topic else { continue };
            if let Some((other, _)) = others.iter().find(|(_, t)| *t == topic) {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    message: format!("topic {topic:?} is also `{other}`"),
                });
            }
            others.push((key.into(), topic));
        }
        Ok(())
    }
}

/// What SQLite appends to a database's path for the files it writes: the database itself and,
/// beside it, its write-ahead log, its index and its rollback journal.
pub const SQLITE_FILE_SUFFIXES: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// The SQLite file a store URL names (`sqlite:PATH` or a plain path); `None` for other URLs.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite:").unwrap_or(url);
    (!path.is_empty() && !url.contains("://")).then_some(path)
}

/// `path` made absolute and resolved component by component: a component that exists is
/// canonicalized (its symbolic links followed), one that does not is taken as it is, `..` goes
/// up from wherever that led and `.` stays.
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut resolved = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => {
                resolved.push(other);
                if let Ok(real) = resolved.canonicalize() {
                    resolved = real;
                }
            }
        }
    }
    resolved
}

/// Whether two resolved paths are one file: equal, or existing with one device and inode.
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolving_follows_dots_and_links_as_far_as_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("in")).unwrap();
        std::fs::write(real.join("in/p.jsonl"), "x").unwrap();
        std::os::unix::fs::symlink(real.join("in"), real.join("link")).unwrap();
        let spellings = [
            "in/p.jsonl",
            "in/../in/p.jsonl",
            "link/p.jsonl",
            "./in/./p.jsonl",
        ];
        for spelling in spellings {
            assert_eq!(
                resolve(&real.join(spelling)),
                real.join("in/p.jsonl"),
                "{spelling}"
            );
        }
        // not there yet: resolved through the folders that are
        assert_eq!(
            resolve(&real.join("new/../link/out.jsonl")),
            real.join("in/out.jsonl")
        );
        std::fs::hard_link(real.join("in/p.jsonl"), real.join("hard.jsonl")).unwrap();
        assert!(same_file(
            &resolve(&real.join("hard.jsonl")),
            &resolve(&real.join("in/p.jsonl"))
        ));
    }
}
