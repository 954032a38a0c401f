//! File sources: JSON Lines and CSV, read with a bounded line length and sharded over workers.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::parse::{self, CsvRow};
use super::{
    dead_letter, text, too_long, Horizon, Polled, Position, Progress, Source, MAX_LINE_BYTES,
};
use crate::config::fields::Layout;
use crate::config::Format;
use crate::model::Stream;

/// Reads lines of at most [`MAX_LINE_BYTES`], skipping (and reporting) longer ones whole.
/// When following, a last line without its newline is held back until the rest arrives.
struct Lines<R> {
    reader: BufReader<R>,
    line: u64,
    /// Bytes consumed from the start of the file, and where the current line started.
    consumed: u64,
    line_start: u64,
    follow: bool,
    /// The line being read: its first bytes (all of them up to the limit) and full length.
    buf: Vec<u8>,
    length: usize,
    started: bool,
}

enum Line {
    Text(Vec<u8>),
    /// Refused before parsing (over [`MAX_LINE_BYTES`], or a CSV quote never closed): why,
    /// and its first bytes.
    Refused {
        reason: String,
        head: Vec<u8>,
    },
}

impl<R: Read> Lines<R> {
    fn new(reader: R) -> Lines<R> {
        Lines {
            reader: BufReader::with_capacity(1 << 16, reader),
            line: 0,
            consumed: 0,
            line_start: 0,
            follow: false,
            buf: Vec::new(),
            length: 0,
            started: false,
        }
    }

    fn next(&mut self) -> std::io::Result<Option<(u64, Line)>> {
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                // end of the file for now: a partial last line waits when following
                if self.follow || !self.started {
                    return Ok(None);
                }
                break;
            }
            self.started = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if self.length + take <= MAX_LINE_BYTES + 1 {
                self.buf.extend_from_slice(&chunk[..take]);
            } else if self.buf.len() < super::MAX_RAW_BYTES {
                let room = super::MAX_RAW_BYTES - self.buf.len();
                self.buf.extend_from_slice(&chunk[..take.min(room)]);
            }
            self.length += take;
            self.reader.consume(take + usize::from(done));
            self.consumed += (take + usize::from(done)) as u64;
            if done {
                break;
            }
        }
        self.line += 1;
        self.line_start = self.consumed;
        let mut buf = std::mem::take(&mut self.buf);
        let mut length = std::mem::take(&mut self.length);
        self.started = false;
        if buf.last() == Some(&b'\r') {
            buf.pop();
            length -= 1;
        }
        if self.line == 1 && buf.starts_with(UTF8_BOM) {
            // a byte-order mark some editors and exports put before the first line
            buf.drain(..UTF8_BOM.len());
            length -= UTF8_BOM.len();
        }
        Ok(Some((
            self.line,
            match too_long("line", length) {
                Some(reason) => Line::Refused { reason, head: buf },
                None => Line::Text(buf),
            },
        )))
    }
}

/// The UTF-8 byte-order mark, skipped at the start of a file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A file of one stream, read by one worker of `peers`, which takes records `index`,
/// `index + peers`, … (counting non-header lines from 0). Positions are `file-name:line`.
pub struct FileSource {
    /// How each record is read, and of which stream.
    layout: std::sync::Arc<Layout>,
    name: std::sync::Arc<str>,
    format: Format,
    lines: Lines<File>,
    header: Option<Vec<String>>,
    index: u64,
    peers: u64,
    seen: u64,
    /// Blank and whitespace-only lines of this worker's share, skipped.
    blank: u64,
    /// Lines read ahead for a CSV record that turned out not to be one, to be read again.
    pending: std::collections::VecDeque<(u64, Line)>,
    horizon: Horizon,
}

impl FileSource {
    /// Opens `path` for the stream of `layout` (how it reads each record: a field map, or
    /// the stream's own columns), as worker `index` of `peers`.
    pub fn open(
        layout: std::sync::Arc<Layout>,
        path: &Path,
        format: Format,
        index: usize,
        peers: usize,
    ) -> std::io::Result<FileSource> {
        Ok(FileSource {
            layout,
            name: path
                .file_name()
                .map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
                .into(),
            format,
            lines: Lines::new(File::open(path)?),
            header: None,
            index: index as u64,
            peers: peers as u64,
            seen: 0,
            blank: 0,
            pending: std::collections::VecDeque::new(),
            horizon: Horizon::default(),
        })
    }

    /// When `follow` is set, the end of the file is not the end of the input: the source waits
    /// for the file to grow (a line is taken once its newline has been written).
    pub fn following(mut self, follow: bool) -> FileSource {
        self.lines.follow = follow;
        self
    }

    /// Records dated beyond `horizon` become dead letters (by default, beyond the widest
    /// allowance a configuration may give).
    pub fn within(mut self, horizon: Horizon) -> FileSource {
        self.horizon = horizon;
        self
    }

    fn parse(&self, line: &str) -> Result<crate::model::Record, String> {
        self.parse_fields(line)
            .and_then(|record| self.horizon.admit(record))
    }

    fn parse_fields(&self, line: &str) -> Result<crate::model::Record, String> {
        match (self.format, &self.header) {
            (Format::Jsonl, _) => parse::json_record(&self.layout, line),
            (Format::Csv, Some(header)) => {
                let cells = csv_cells(line)?;
                if cells.len() != header.len() {
                    return Err(format!(
                        "row has {} columns; the header has {}",
                        cells.len(),
                        header.len()
                    ));
                }
                parse::record(
                    &self.layout,
                    &CsvRow {
                        header,
                        cells: &cells,
                    },
                )
            }
            (Format::Csv, None) => unreachable!("the header is read before any row"),
        }
    }
}

impl FileSource {
    /// Takes the CSV header from the first line; an unreadable one becomes a dead letter
    /// (reported by worker 0 only) and an empty header, so every row is then rejected for its
    /// column count rather than silently dropped. A header naming a column twice is refused:
    /// which of the two cells a field means would be a guess.
    fn read_header(
        &mut self,
        line_no: u64,
        line: &Line,
        out: &mut Vec<Polled>,
    ) -> std::io::Result<()> {
        let bytes = match line {
            Line::Text(bytes) => bytes,
            Line::Refused { head, .. } => head,
        };
        let header = match line {
            Line::Text(_) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|t| csv_cells(t).ok()),
            Line::Refused { .. } => None,
        };
        if header.is_none() && self.index == 0 {
            let position = format!("{}:{line_no}", self.name);
            out.push(Polled::Dead(dead_letter(
                self.layout.stream,
                position,
                "unreadable CSV header row".into(),
                bytes,
            )));
        }
        if let Some(twice) = header.as_deref().and_then(repeated_column) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: the CSV header names the column {twice:?} twice; rename one of them",
                    self.name
                ),
            ));
        }
        self.header = Some(header.unwrap_or_default());
        Ok(())
    }
}

impl FileSource {
    /// A CSV record whose quotes are not balanced at the end of its line has a quoted newline:
    /// it goes on over the following lines until they balance (every worker reads them all,
    /// so the records stay the same on every worker). It is taken whole only if its quote
    /// closes within the 1 MiB record limit and before the end of the file, and the record
    /// then has the header's column count; otherwise the quote was a stray one: the first
    /// line alone is a dead letter, and the lines after it are read again as records of their
    /// own — one stray quote never swallows the rows that follow it.
    fn csv_record(&mut self, line: Line) -> std::io::Result<Line> {
        let Line::Text(first) = line else {
            return Ok(line);
        };
        if !open_quote(&first) {
            return Ok(Line::Text(first));
        }
        let (mut bytes, mut taken) = (first.clone(), Vec::new());
        let failed = loop {
            let Some((line_no, next)) = self.next_line()? else {
                break "a quoted field is not closed before the end of the file".to_string();
            };
            let Line::Text(more) = &next else {
                taken.push((line_no, next));
                break "a quoted field is not closed within the 1 MiB record limit".to_string();
            };
            bytes.push(b'\n');
            bytes.extend_from_slice(more);
            // inside a quoted field, a line without a quote cannot close it
            let may_close = more.contains(&b'"');
            taken.push((line_no, next));
            if too_long("record", bytes.len()).is_some() {
                break "a quoted field is not closed within the 1 MiB record limit".to_string();
            }
            if may_close && !open_quote(&bytes) {
                let columns = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| csv_cells(t).ok());
                let expected = self.header.as_ref().map_or(0, Vec::len);
                match columns.map(|c| c.len()) {
                    Some(n) if n == expected => return Ok(Line::Text(bytes)),
                    n => {
                        break format!(
                            "a quoted field runs over {} lines into a record of {} columns; \
                             the header has {expected}",
                            taken.len() + 1,
                            n.map_or("unreadable".into(), |n| n.to_string())
                        )
                    }
                }
            }
        };
        // the lines taken in are records of their own, read next
        for item in taken.into_iter().rev() {
            self.pending.push_front(item);
        }
        Ok(Line::Refused {
            reason: format!("not a valid CSV row: {failed}: this line alone is refused"),
            head: first,
        })
    }

    /// The next line: one taken back after a stray quote, else the file's next.
    fn next_line(&mut self) -> std::io::Result<Option<(u64, Line)>> {
        match self.pending.pop_front() {
            Some(item) => Ok(Some(item)),
            None => self.lines.next(),
        }
    }
}

/// The first column name `header` holds twice, if any.
fn repeated_column(header: &[String]) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    header
        .iter()
        .find(|name| !seen.insert(name.as_str()))
        .map(String::as_str)
}

/// Whether a quoted CSV field is still open at the end of `bytes`, as the `csv` crate's own
/// state machine reads it: given the line and a newline, it has not finished the record. A
/// line without a quote (nearly every line) needs no state machine.
fn open_quote(bytes: &[u8]) -> bool {
    if !bytes.contains(&b'"') {
        return false;
    }
    let input = [bytes, b"\n"].concat();
    let mut output = vec![0; input.len()];
    let mut ends = vec![0; input.len() + 1];
    // records end at a newline, as lines do here (a lone `\r` is data)
    let mut reader = csv_core::ReaderBuilder::new()
        .terminator(csv_core::Terminator::Any(b'\n'))
        .build();
    let (result, ..) = reader.read_record(&input, &mut output, &mut ends);
    result == csv_core::ReadRecordResult::InputEmpty
}

fn csv_cells(line: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    match reader.records().next() {
        None => Ok(vec![String::new()]),
        Some(Ok(record)) => Ok(record.iter().map(str::to_owned).collect()),
        Some(Err(e)) => Err(format!("not a valid CSV row: {e}")),
    }
}

impl Source for FileSource {
    fn stream(&self) -> Stream {
        self.layout.stream
    }

    fn position(&self) -> serde_json::Value {
        serde_json::json!({
            "offset": self.lines.line_start,
            "line": self.lines.line,
            "seen": self.seen,
            "blank": self.blank,
        })
    }

    fn resume(&mut self, position: &serde_json::Value) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let field = |name: &str| {
            position[name].as_u64().ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: stored position lacks {name}", self.name),
                )
            })
        };
        let (offset, line, seen) = (field("offset")?, field("line")?, field("seen")?);
        if self.format == Format::Csv && offset > 0 {
            // the header comes first: read it again, then jump
            let mut ignored = Vec::new();
            if let Some((line_no, header)) = self.lines.next()? {
                self.read_header(line_no, &header, &mut ignored)?;
            }
        }
        let length = self.lines.reader.get_ref().metadata()?.len();
        if length < offset {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is {length} bytes, shorter than the committed position {offset}",
                    self.name
                ),
            ));
        }
        self.lines.reader.seek(SeekFrom::Start(offset))?;
        self.lines.consumed = offset;
        self.lines.line_start = offset;
        self.lines.line = line;
        self.seen = seen;
        // positions committed before blank lines were counted lack the count
        self.blank = position["blank"].as_u64().unwrap_or(0);
        Ok(())
    }

    fn blank_lines(&self) -> u64 {
        self.blank
    }

    fn finish(&mut self, out: &mut Vec<Polled>) -> std::io::Result<()> {
        if !(self.lines.follow && self.lines.started) {
            return Ok(());
        }
        // the line begun is now the last one: one more poll reads it as a batch run would
        self.lines.follow = false;
        self.poll(1, out).map(|_| ())
    }

    fn poll(&mut self, max: usize, out: &mut Vec<Polled>) -> std::io::Result<Progress> {
        self.horizon.refresh();
        let mut read = 0;
        // lines taken back are read in the same poll: a position never lies beyond them
        while read < max || !self.pending.is_empty() {
            let Some((line_no, line)) = self.next_line()? else {
                return Ok(if self.lines.follow {
                    Progress::More
                } else {
                    Progress::Exhausted
                });
            };
            read += 1;
            if self.format == Format::Csv && self.header.is_none() {
                self.read_header(line_no, &line, out)?;
                continue;
            }
            let line = match self.format {
                Format::Csv => self.csv_record(line)?,
                Format::Jsonl => line,
            };
            let mine = self.seen % self.peers == self.index;
            self.seen += 1;
            if !mine {
                continue;
            }
            let position = format!("{}:{line_no}", self.name);
            let item = match line {
                Line::Refused { reason, head } => {
                    Polled::Dead(dead_letter(self.layout.stream, position, reason, &head))
                }
                Line::Text(bytes) => match text("line", &bytes) {
                    Err(reason) => {
                        Polled::Dead(dead_letter(self.layout.stream, position, reason, &bytes))
                    }
                    Ok(text) if text.trim().is_empty() => {
                        self.blank += 1;
                        continue;
                    }
                    Ok(text) => match self.parse(text) {
                        Ok(record) => Polled::Record(
                            record,
                            Position {
                                source: self.name.clone(),
                                index: line_no,
                            },
                        ),
                        Err(reason) => {
                            Polled::Dead(dead_letter(self.layout.stream, position, reason, &bytes))
                        }
                    },
                },
            };
            out.push(item);
        }
        Ok(Progress::More)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payments stream's own layout.
    fn payments() -> std::sync::Arc<Layout> {
        std::sync::Arc::new(Layout::builtin(Stream::Payments))
    }

    fn describe(items: &[Polled]) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                Polled::Record(_, position) => format!("record {position}"),
                Polled::Dead(dead) => format!("dead {}", dead.position),
            })
            .collect()
    }

    /// Polls `source` to the end, `max` lines at a time.
    fn drain(source: &mut FileSource, max: usize) -> Vec<Polled> {
        let mut out = Vec::new();
        while source.poll(max, &mut out).expect("read") == Progress::More {}
        out
    }

    /// Every item of the CSV payments file `path`, read by `peers` workers, `max` at a time.
    fn drain_all(path: &Path, peers: usize, max: usize) -> Vec<Polled> {
        let mut all = Vec::new();
        for index in 0..peers {
            let mut source = FileSource::open(payments(), path, Format::Csv, index, peers).unwrap();
            all.extend(drain(&mut source, max));
        }
        all
    }

    #[test]
    fn a_quoted_newline_in_a_csv_record_is_read_whole_and_an_unclosed_quote_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.csv");
        let text = "event_id,payment_id,type,amount,currency,occurred_at,merchant_id\n\
            e1,p1,capture,1.00,USD,2026-11-01T00:00:00Z,\"merchant\nof \"\"two\"\" lines\"\n\
            e2,p2,capture,2.00,USD,2026-11-01T00:00:01Z,m2\n\
            e3,p3,capture,3.00,USD,2026-11-01T00:00:02Z,\"never closed\n";
        std::fs::write(&path, text).expect("write");
        for peers in [1, 2] {
            let all = drain_all(&path, peers, 10);
            let mut seen = describe(&all);
            seen.sort();
            assert_eq!(
                seen,
                ["dead p.csv:5", "record p.csv:2", "record p.csv:4"],
                "{peers} peers"
            );
            let merchant = all.iter().find_map(|item| match item {
                Polled::Record(crate::model::Record::Payment(p), _) if p.event_id == "e1" => {
                    p.merchant_id.clone()
                }
                _ => None,
            });
            assert_eq!(merchant.as_deref(), Some("merchant\nof \"two\" lines"));
        }
    }

    #[test]
    fn a_stray_quote_costs_its_own_line_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.csv");
        let mut text = String::from("event_id,payment_id,type,amount,currency,occurred_at\n");
        for i in 0..20_000 {
            let quote = if i == 7 { "\"" } else { "" };
            text += &format!("e{i},{quote}p{i},capture,1.00,USD,2026-11-01T00:00:00Z\n");
        }
        // and a quote that closes a line later, into a record of the wrong width: the second
        // line is then a record of its own (its quote, inside a field, is a character)
        text += "x1,\"p,capture\nx2\",p2,capture,1.00,USD,2026-11-01T00:00:00Z\n";
        std::fs::write(&path, text).expect("write");
        for peers in [1, 2] {
            let all = drain_all(&path, peers, 333);
            let dead: Vec<&crate::model::DeadLetter> = (all.iter())
                .filter_map(|i| match i {
                    Polled::Dead(d) => Some(d),
                    Polled::Record(..) => None,
                })
                .collect();
            let accepted = all.len() - dead.len();
            assert_eq!(accepted, 19_999 + 1, "{peers} peers");
            let mut positions: Vec<&str> = dead.iter().map(|d| d.position.as_str()).collect();
            positions.sort();
            assert_eq!(positions, ["p.csv:20002", "p.csv:9"]);
            let stray = dead.iter().find(|d| d.position == "p.csv:9").unwrap();
            assert_eq!(
                stray.raw, "e7,\"p7,capture,1.00,USD,2026-11-01T00:00:00Z",
                "whole"
            );
            assert!(
                stray.reason.contains("this line alone is refused"),
                "{}",
                stray.reason
            );
        }
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let line = "{\"event_id\":\"e1\",\"payment_id\":\"p1\",\"type\":\"capture\",\"amount\":\"1.00\",\"currency\":\"USD\",\"occurred_at\":\"2026-11-01T00:00:00Z\"}";
        let header = "event_id,payment_id,type,amount,currency,occurred_at";
        let row = "e1,p1,capture,1.00,USD,2026-11-01T00:00:00Z";
        for (name, format, text) in [
            (
                "p.jsonl",
                Format::Jsonl,
                format!("\u{feff}{line}\n{line}\n"),
            ),
            ("p.csv", Format::Csv, format!("\u{feff}{header}\n{row}\n")),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            let mut source = FileSource::open(payments(), &path, format, 0, 1).expect("open");
            let items = drain(&mut source, 10);
            assert!(
                items.iter().all(|i| matches!(i, Polled::Record(..))),
                "{name}: {:?}",
                describe(&items)
            );
        }
    }

    #[test]
    fn a_source_resumed_at_its_position_yields_exactly_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, format, text) in [
            (
                "p.jsonl",
                Format::Jsonl,
                "{\"event_id\":\"e1\",\"payment_id\":\"p1\",\"type\":\"capture\",\"amount\":\"1.00\",\"currency\":\"USD\",\"occurred_at\":\"2026-11-01T00:00:00Z\"}\nnot json\n\n{\"event_id\":\"e2\",\"payment_id\":\"p2\",\"type\":\"capture\",\"amount\":\"2.00\",\"currency\":\"USD\",\"occurred_at\":\"2026-11-01T00:00:01Z\"}\n",
            ),
            (
                "p.csv",
                Format::Csv,
                "event_id,payment_id,type,amount,currency,occurred_at\ne1,p1,capture,1.00,USD,2026-11-01T00:00:00Z\ne2,p2,capture,x,USD,2026-11-01T00:00:01Z\ne3,p3,capture,3.00,USD,2026-11-01T00:00:02Z\n",
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text.repeat(3)).expect("write");
            for peers in [1, 2] {
                let open = || FileSource::open(payments(), &path, format, peers - 1, peers);
                let whole = describe(&drain(&mut open().expect("open"), 1));
                for cut in 0..6 {
                    let mut first = open().expect("open");
                    let mut head = Vec::new();
                    for _ in 0..cut {
                        first.poll(1, &mut head).expect("read");
                    }
                    let mut resumed = open().expect("open");
                    resumed.resume(&first.position()).expect("resume");
                    let mut got = describe(&head);
                    got.extend(describe(&drain(&mut resumed, 2)));
                    assert_eq!(got, whole, "{name}, {peers} peers, cut after {cut} polls");
                }
            }
        }
    }
}
