//! The generated lines on their way to the files: jittered delivery order, identical
//! redeliveries, invalid lines of every bad-input class, and the writing itself.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::generate::spec::TruthMeta;
use crate::sources::parse::{ENTRY_FIELDS, PAYMENT_FIELDS};

/// One output line before delivery ordering.
struct Line {
    deliver_at: u64,
    seq: u64,
    payment: bool,
    fields: BTreeMap<&'static str, String>,
}

/// The lines generated so far, and the random source they are made with.
pub struct Builder {
    /// The generator's one random source: the same seed makes the same files.
    pub rng: ChaCha8Rng,
    lines: Vec<Line>,
    seq: u64,
    csv: bool,
}

impl Builder {
    /// An empty builder drawing from `rng`, writing CSV if `csv`, else JSON Lines.
    pub fn new(rng: ChaCha8Rng, csv: bool) -> Builder {
        Builder {
            rng,
            lines: Vec::new(),
            seq: 0,
            csv,
        }
    }

    /// Adds a line of the payments (`payment`) or entries file for an event at `at`, to be
    /// delivered up to 30 s later.
    pub fn push(&mut self, payment: bool, at: u64, fields: BTreeMap<&'static str, String>) {
        let jitter = self.rng.random_range(0..30_000u64) / 1000 * 1000;
        self.seq += 1;
        self.lines.push(Line {
            deliver_at: at + jitter,
            seq: self.seq,
            payment,
            fields,
        });
    }
}

impl Builder {
    /// Adds identical copies of `per_mille` of the lines, each delivered up to 10 minutes later.
    pub fn add_redeliveries(&mut self, per_mille: u32, meta: &mut TruthMeta) {
        let b = self;
        let mut copies = Vec::new();
        for line in &b.lines {
            if b.rng.random_range(0..1000) < per_mille {
                copies.push(Line {
                    deliver_at: line.deliver_at + b.rng.random_range(1..600u64) * 1000,
                    seq: 0,
                    payment: line.payment,
                    fields: line.fields.clone(),
                });
            }
        }
        meta.redeliveries = copies.len() as u64;
        for mut copy in copies {
            b.seq += 1;
            copy.seq = b.seq;
            b.lines.push(copy);
        }
    }

    /// Puts the lines in delivery order: by delivery time, then as written.
    pub fn order_for_delivery(&mut self) {
        self.lines.sort_by_key(|l| (l.deliver_at, l.seq));
    }
}

fn render(fields: &BTreeMap<&'static str, String>, columns: &[&str], csv: bool) -> String {
    if csv {
        columns
            .iter()
            .map(|c| fields.get(c).cloned().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        let mut object = serde_json::Map::new();
        for (k, v) in fields {
            object.insert(k.to_string(), serde_json::Value::String(v.clone()));
        }
        serde_json::Value::Object(object).to_string()
    }
}

/// A bad line of class `n` (cycling through the SPEC §7 classes), derived from a good one.
fn invalid_line(n: u64, good: &str, csv: bool) -> Vec<u8> {
    if csv {
        return match n % 3 {
            0 => b"only,three,columns".to_vec(),
            1 => good.replacen(",", ",,", 1).into_bytes(),
            _ => [good.as_bytes(), b"\xff\xfe"].concat(),
        };
    }
    match n % 13 {
        0 => b"this is not json".to_vec(),
        1 => b"[1,2,3]".to_vec(),
        2 => good
            .replacen("\"amount\":", "\"amount_x\":", 1)
            .into_bytes(),
        3 => good
            .replacen("\"currency\":\"", "\"currency\":7,\"c\":\"", 1)
            .into_bytes(),
        4 => good
            .replacen("_id\":\"", "_id\":\"\",\"x\":\"", 1)
            .into_bytes(),
        5 => good
            .replacen("\"type\":\"", "\"type\":\"gift", 1)
            .replacen("\"direction\":\"", "\"direction\":\"up", 1)
            .into_bytes(),
        6 => good
            .replacen("\"amount\":\"", "\"amount\":\"1x", 1)
            .into_bytes(),
        7 => good
            .replacen("\"amount\":\"", "\"amount\":\"-", 1)
            .into_bytes(),
        8 => good
            .replacen("\"amount\":\"", "\"amount\":\"0.0001", 1)
            .replacen("0.0001", "0.0001\",\"y\":\"", 1)
            .into_bytes(),
        9 => good
            .replacen("\"amount\":\"", "\"amount\":\"9999999999999999", 1)
            .into_bytes(),
        10 => good
            .replacen("\"currency\":\"", "\"currency\":\"Q", 1)
            .into_bytes(),
        11 => good.replacen("T", "X", 1).into_bytes(),
        _ => [good.as_bytes(), b"\xff"].concat(),
    }
}

impl Builder {
    /// Writes every line, in order, into the two files, with invalid lines (`invalid_per_mille`
    /// of them, each before a good one) mixed in; counts what it wrote into `meta`.
    pub fn write_lines(
        &mut self,
        payments: &Path,
        entries: &Path,
        invalid_per_mille: u32,
        meta: &mut TruthMeta,
    ) -> std::io::Result<()> {
        let b = self;
        let mut pay = BufWriter::new(File::create(payments)?);
        let mut ent = BufWriter::new(File::create(entries)?);
        if b.csv {
            writeln!(pay, "{}", PAYMENT_FIELDS.join(","))?;
            writeln!(ent, "{}", ENTRY_FIELDS.join(","))?;
        }
        let lines = std::mem::take(&mut b.lines);
        for line in &lines {
            let (out, columns, count) = if line.payment {
                (&mut pay, PAYMENT_FIELDS, &mut meta.payment_lines)
            } else {
                (&mut ent, ENTRY_FIELDS, &mut meta.entry_lines)
            };
            let text = render(&line.fields, columns, b.csv);
            if b.rng.random_range(0..1000) < invalid_per_mille {
                out.write_all(&invalid_line(meta.invalid_lines, &text, b.csv))?;
                out.write_all(b"\n")?;
                meta.invalid_lines += 1;
            }
            out.write_all(text.as_bytes())?;
            out.write_all(b"\n")?;
            *count += 1;
        }
        pay.flush()?;
        ent.flush()
    }
}
