//! The file output: the result changelog and dead letters as JSON Lines, appended as logical
//! time completes, and the summary as JSON at the end.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::SinksConfig;
use crate::model::results::Change;
use crate::model::results::ChangelogLine;
use crate::model::summary::Summary;
use crate::model::DeadLetter;
use crate::sinks::output::{Committed, Output};

/// An output file that, once asked to, hashes what is written to it.
struct Hashed {
    file: File,
    digest: Option<Sha256>,
}

impl Write for Hashed {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(bytes)?;
        if let Some(digest) = self.digest.as_mut() {
            digest.update(&bytes[..written]);
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// One output file, written through a buffer; errors name the file.
struct Sink {
    path: PathBuf,
    out: BufWriter<Hashed>,
    /// Bytes in the file after the last write.
    length: u64,
}

impl Sink {
    /// Opens `path` for writing, creating it (and its folder) if needed; the content is kept
    /// until [`Sink::cut`] says how much of it stands.
    fn open(path: &Path) -> std::io::Result<Sink> {
        let file = open_for_writing(path)?;
        let hashed = Hashed { file, digest: None };
        Ok(Sink {
            path: path.to_owned(),
            out: BufWriter::with_capacity(1 << 20, hashed),
            length: 0,
        })
    }

    /// Keeps the first `length` bytes (what was committed) and appends after them.
    fn cut(&mut self, length: u64) -> std::io::Result<()> {
        let file = &mut self.out.get_mut().file;
        let found = file.metadata().map_err(|e| named(&self.path, e))?.len();
        if found < length {
            let message = format!("holds {found} bytes, fewer than the {length} committed");
            return Err(named(&self.path, std::io::Error::other(message)));
        }
        if found > length {
            let path = self.path.display().to_string();
            let bytes = found - length;
            tracing::info!(%path, bytes, "cutting what was written after the last commit");
        }
        file.set_len(length).map_err(|e| named(&self.path, e))?;
        file.seek(SeekFrom::Start(length))
            .map_err(|e| named(&self.path, e))?;
        self.length = length;
        Ok(())
    }

    /// Resumes after the first `length` bytes, keeping a digest of the content from now on:
    /// the committed content must still be what the last commit `recorded` (its SHA-256, hex;
    /// nothing is checked if it recorded none) — else nothing is cut and the run refuses to
    /// start, naming the file.
    fn resume(&mut self, length: u64, recorded: &str) -> std::io::Result<()> {
        let mut digest = Sha256::new();
        let mut reading = File::open(&self.path).map_err(|e| named(&self.path, e))?;
        let mut kept = (&mut reading).take(length);
        std::io::copy(&mut kept, &mut digest).map_err(|e| named(&self.path, e))?;
        let found = format!("{:x}", digest.clone().finalize());
        if !recorded.is_empty() && found != recorded {
            let message = format!(
                "its first {length} bytes differ from what the last commit recorded (SHA-256 \
                 {found}, recorded {recorded}): the committed output was changed since; restore \
                 it (trueup verify names the first commit it differs from) or run into a new \
                 store and output folder"
            );
            return Err(named(&self.path, std::io::Error::other(message)));
        }
        self.cut(length)?;
        self.out.get_mut().digest = Some(digest);
        Ok(())
    }

    /// The digest of the content so far (hex), empty unless [`Sink::hash`] was called.
    fn digest(&self) -> String {
        let digest = self.out.get_ref().digest.as_ref();
        digest.map_or_else(String::new, |d| format!("{:x}", d.clone().finalize()))
    }

    /// Writes with `body`, then flushes; errors name the file.
    fn write(
        &mut self,
        body: impl FnOnce(&mut BufWriter<Hashed>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        body(&mut self.out)
            .and_then(|()| self.out.flush())
            .and_then(|()| self.out.get_mut().file.stream_position())
            .map(|at| self.length = at)
            .map_err(|e| named(&self.path, e))
    }

    fn lines<T: serde::Serialize>(
        &mut self,
        items: impl IntoIterator<Item = T>,
    ) -> std::io::Result<()> {
        self.write(|out| {
            for item in items {
                serde_json::to_writer(&mut *out, &item)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        })
    }
}

/// Opens `path` for writing, creating it (and its folder) if needed, keeping what it holds.
fn open_for_writing(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| named(path, e))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| named(path, e))
}

fn named(path: &Path, error: std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Writes the changelog and dead letters as they are delivered, and the summary at the end.
/// Each delivery is flushed, so a reader tailing the files sees every completed time.
pub struct FileOutput {
    results: Sink,
    dead_letters: Sink,
    summary: Option<PathBuf>,
}

impl FileOutput {
    /// Opens the files named by `sinks`; [`Output::start`] cuts them to what was committed
    /// (to nothing, for a new run).
    pub fn create(sinks: &SinksConfig) -> std::io::Result<FileOutput> {
        check_summary(sinks)?;
        let open = |path: &Option<PathBuf>| match path {
            Some(path) => Sink::open(path),
            None => Err(std::io::Error::other("no file configured for this output")),
        };
        Ok(FileOutput {
            results: open(&sinks.results)?,
            dead_letters: open(&sinks.dead_letters)?,
            summary: sinks.summary.clone(),
        })
    }
}

impl Output for FileOutput {
    fn deliver(&mut self, dead_letters: &[DeadLetter], changes: &[Change]) -> std::io::Result<()> {
        if !dead_letters.is_empty() {
            self.dead_letters.lines(dead_letters)?;
        }
        if !changes.is_empty() {
            self.results.write(|out| {
                let mut line = Vec::with_capacity(512);
                for (row, time, diff) in changes {
                    line.clear();
                    ChangelogLine::new(row, *time, *diff as i64).write_json(&mut line);
                    line.push(b'\n');
                    out.write_all(&line)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn start(&mut self, committed: &Committed) -> std::io::Result<()> {
        if committed.run.is_none() {
            self.results.cut(committed.results)?;
            return self.dead_letters.cut(committed.dead_letters);
        }
        // with a store, each commit records what the files hold
        let [results, dead_letters] = &committed.digests;
        self.results.resume(committed.results, results)?;
        self.dead_letters
            .resume(committed.dead_letters, dead_letters)
    }

    fn lengths(&self) -> (u64, u64) {
        (self.results.length, self.dead_letters.length)
    }

    fn digests(&self) -> (String, String) {
        (self.results.digest(), self.dead_letters.digest())
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<String> {
        write_summary(self.summary.as_deref(), summary)
    }
}

/// Opens the configured summary file (creating it and its folder, keeping what it holds): it is
/// written at the end, and an unwritable path should fail when the outputs open, not after all
/// the work.
pub fn check_summary(sinks: &SinksConfig) -> std::io::Result<()> {
    let Some(path) = &sinks.summary else {
        return Ok(());
    };
    open_for_writing(path).map(drop)
}

/// Writes `summary` as pretty JSON to `path`, replacing the file (nothing without a path);
/// returns the SHA-256 (hex) of what it wrote, empty without a path.
pub fn write_summary(path: Option<&Path>, summary: &Summary) -> std::io::Result<String> {
    let Some(path) = path else {
        return Ok(String::new());
    };
    let mut text = serde_json::to_vec_pretty(summary)?;
    text.push(b'\n');
    let mut sink = Sink::open(path)?;
    sink.cut(0)?;
    sink.write(|out| out.write_all(&text))?;
    Ok(format!("{:x}", Sha256::digest(&text)))
}
