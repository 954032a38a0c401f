//! Deterministic synthetic data: payments, their balanced ledger journals, injected faults of
//! every break class and bad-input class, and the ground truth of every group's final status.
//!
//! Each payment books 11–17 entries across balanced journals (capture with fees, tax and
//! reserve; reserve release; payout; interchange; refunds; chargebacks with fees; reversals).
//! Ledger lag runs from seconds to days; lines are delivered out of order (by event time plus
//! up to 30 s of jitter, inside the default 300 s allowed lateness). Faults are chosen per
//! payment so that each one's outcome is known by construction — the truth is not computed by
//! reconciling the output.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use trueup_operators::Amount;

use crate::currency::Currency;
use crate::event_time::{format_rfc3339, parse_rfc3339, Millis};
use crate::results::Status;
use crate::sources::parse::{ENTRY_FIELDS, PAYMENT_FIELDS};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Seed: the same seed gives byte-identical files.
    pub seed: u64,
    /// Number of payments.
    pub payments: usize,
    /// Days the payments are spread over (from 2026-11-01T00:00:00Z).
    pub days: u64,
    /// Per-mille rate of *each* injected break class (missing ledger, missing payment,
    /// amount mismatch, unbalanced journal, conflicting payment, conflicting entry).
    pub fault_per_mille: u32,
    /// Per-mille rate of identical redeliveries.
    pub redelivery_per_mille: u32,
    /// Per-mille rate of invalid lines (cycling through every bad-input class).
    pub invalid_per_mille: u32,
    /// Write CSV instead of JSON Lines.
    pub csv: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 1,
            payments: 1000,
            days: 10,
            fault_per_mille: 10,
            redelivery_per_mille: 10,
            invalid_per_mille: 5,
            csv: false,
        }
    }
}

/// The expected final status of one group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TruthLine {
    /// Rule name.
    pub rule: String,
    /// Group key.
    pub key: String,
    /// Currency code.
    pub currency: String,
    /// Expected final status.
    pub status: Status,
}

/// Totals the generator knows about, written to `truth-meta.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthMeta {
    /// Payment lines written (valid ones, including redeliveries and conflicting versions).
    pub payment_lines: u64,
    /// Entry lines written (likewise).
    pub entry_lines: u64,
    /// Invalid lines written, which must all become dead letters.
    pub invalid_lines: u64,
    /// Identical redeliveries written.
    pub redeliveries: u64,
    /// The largest event time of any valid record: the final watermark.
    pub final_watermark: String,
}

/// Paths of what [`generate`] wrote.
pub struct Generated {
    /// Payments file.
    pub payments: std::path::PathBuf,
    /// Entries file.
    pub entries: std::path::PathBuf,
    /// Ground truth, one JSON line per group.
    pub truth: Vec<TruthLine>,
    /// Totals.
    pub meta: TruthMeta,
}

const CURRENCIES: &[(&str, u32)] = &[
    ("USD", 40),
    ("EUR", 25),
    ("GBP", 15),
    ("JPY", 10),
    ("BHD", 5),
    ("KWD", 5),
];
const GRACE: Millis = 72 * 3_600_000;

/// A journal: id, booking time, and its lines as (account, is debit, minor units).
type Journal = (String, Millis, Vec<(&'static str, bool, i64)>);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    MissingLedger,
    MissingPayment,
    AmountMismatch,
    UnbalancedJournal,
    ConflictingPayment,
    ConflictingEntry,
}

/// One output line before delivery ordering.
struct Line {
    deliver_at: Millis,
    seq: u64,
    payment: bool,
    fields: BTreeMap<&'static str, String>,
}

struct Builder {
    rng: ChaCha8Rng,
    lines: Vec<Line>,
    seq: u64,
    csv: bool,
}

impl Builder {
    fn push(&mut self, payment: bool, at: Millis, fields: BTreeMap<&'static str, String>) {
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

fn money(minor: i64, ccy: Currency) -> String {
    Amount::from_minor(minor, ccy.minor_units()).to_string_scaled(ccy.minor_units())
}

/// Generates data into `dir` (`payments.jsonl|csv`, `entries.jsonl|csv`, `truth.jsonl`,
/// `truth-meta.json`) and returns the truth.
pub fn generate(dir: &Path, options: &GenerateOptions) -> std::io::Result<Generated> {
    std::fs::create_dir_all(dir)?;
    let mut b = Builder {
        rng: ChaCha8Rng::seed_from_u64(options.seed),
        lines: Vec::new(),
        seq: 0,
        csv: options.csv,
    };
    let start = parse_rfc3339("2026-11-01T00:00:00Z").expect("valid constant");
    let span = options.days.max(1) * 86_400_000;
    let mut truth = Vec::new();
    let mut groups: Vec<(String, String, String, Option<Millis>)> = Vec::new(); // rule, key, ccy, due_at if broken
    let mut meta = TruthMeta::default();
    let mut max_event: Millis = 0;
    let rate = options.fault_per_mille;

    for i in 0..options.payments {
        let rng = &mut b.rng;
        let pid = format!("pay_{i:07}");
        let merchant = format!("m_{:03}", rng.random_range(0..200));
        let pick = rng.random_range(0..100u32);
        let mut acc = 0;
        let code = CURRENCIES
            .iter()
            .find(|(_, w)| {
                acc += w;
                pick < acc
            })
            .map_or("USD", |c| c.0);
        let ccy = Currency::from_code(code).expect("table currency");
        let unit = 10i64.pow(ccy.minor_units());
        let amount = rng.random_range(10..2000i64) * unit + rng.random_range(0..unit);
        let at = start + (i as u64 * span / options.payments.max(1) as u64) / 1000 * 1000;
        let fault_roll = rng.random_range(0..1000u32);
        let fault = match fault_roll / rate.max(1) {
            _ if rate == 0 => Fault::None,
            0 => Fault::MissingLedger,
            1 => Fault::MissingPayment,
            2 => Fault::AmountMismatch,
            3 => Fault::UnbalancedJournal,
            4 => Fault::ConflictingPayment,
            5 => Fault::ConflictingEntry,
            _ => Fault::None,
        };
        // payment events: (event id, type, amount, time)
        let mut events = vec![(format!("evt_{i:07}_c"), "capture", amount, at)];
        let extra = if fault == Fault::ConflictingPayment {
            100
        } else {
            rng.random_range(0..100u32)
        };
        if extra < 15 {
            let refund = rng.random_range(1..=amount);
            events.push((
                format!("evt_{i:07}_r"),
                "refund",
                refund,
                at + rng.random_range(1..5 * 86_400u64) * 1000,
            ));
        } else if extra < 20 {
            let cb_at = at + rng.random_range(86_400..20 * 86_400u64) * 1000;
            events.push((format!("evt_{i:07}_cb"), "chargeback", amount, cb_at));
            if extra < 17 {
                events.push((
                    format!("evt_{i:07}_cbr"),
                    "chargeback_reversal",
                    amount,
                    cb_at + rng.random_range(3_600..5 * 86_400u64) * 1000,
                ));
            }
        }
        // journals: (journal id, booked_at, [(account, debit?, minor, on receivable)])
        let lag = |rng: &mut ChaCha8Rng| -> Millis {
            match rng.random_range(0..100u32) {
                0..70 => rng.random_range(1..60u64) * 1000,
                70..95 => rng.random_range(60..12 * 3_600u64) * 1000,
                _ => rng.random_range(86_400..4 * 86_400u64) * 1000,
            }
        };
        let fee = amount * 29 / 1000 + 30 * unit / 100 + 1;
        let tax = fee / 5 + 1;
        let reserve = amount / 10;
        let interchange = amount * 15 / 1000 + 1;
        let delta = rng.random_range(1..100i64);
        let mismatch = if fault == Fault::AmountMismatch {
            delta
        } else {
            0
        };
        let mut journals: Vec<Journal> = Vec::new();
        let cap_at = at + lag(rng);
        journals.push((
            format!("j_{i:07}_cap"),
            cap_at,
            vec![
                ("psp_receivable", true, amount + mismatch),
                (
                    "merchant_payable",
                    false,
                    amount - fee - tax - reserve + mismatch,
                ),
                ("fee_revenue", false, fee),
                ("tax_payable", false, tax),
                ("reserve", false, reserve),
            ],
        ));
        journals.push((
            format!("j_{i:07}_res"),
            cap_at + 86_400_000,
            vec![
                ("reserve", true, reserve),
                ("merchant_payable", false, reserve),
            ],
        ));
        journals.push((
            format!("j_{i:07}_pay"),
            cap_at + 2 * 86_400_000,
            vec![
                ("merchant_payable", true, amount - fee - tax),
                ("bank_cash", false, amount - fee - tax),
            ],
        ));
        let ic_credit = interchange
            + if fault == Fault::UnbalancedJournal {
                delta
            } else {
                0
            };
        journals.push((
            format!("j_{i:07}_ic"),
            cap_at,
            vec![
                ("interchange_expense", true, interchange),
                ("scheme_payable", false, ic_credit),
            ],
        ));
        for (eid, kind, amt, t) in events.iter().skip(1) {
            let booked = t + lag(rng);
            let suffix = &eid[eid.rfind('_').map_or(0, |p| p + 1)..];
            match *kind {
                "refund" | "chargeback" => {
                    journals.push((
                        format!("j_{i:07}_{suffix}"),
                        booked,
                        vec![
                            ("merchant_payable", true, *amt),
                            ("psp_receivable", false, *amt),
                        ],
                    ));
                    if *kind == "chargeback" {
                        journals.push((
                            format!("j_{i:07}_{suffix}fee"),
                            booked,
                            vec![
                                ("merchant_payable", true, 15 * unit),
                                ("fee_revenue", false, 15 * unit),
                            ],
                        ));
                    }
                }
                _ => journals.push((
                    format!("j_{i:07}_{suffix}"),
                    booked,
                    vec![
                        ("psp_receivable", true, *amt),
                        ("merchant_payable", false, *amt),
                    ],
                )),
            }
        }

        // emit payment events
        let emit_payments = fault != Fault::MissingPayment;
        if emit_payments {
            for (eid, kind, amt, t) in &events {
                let mut f = BTreeMap::new();
                f.insert("event_id", eid.clone());
                f.insert("payment_id", pid.clone());
                f.insert("type", kind.to_string());
                f.insert("amount", money(*amt, ccy));
                f.insert("currency", code.to_string());
                f.insert("occurred_at", format_rfc3339(*t));
                f.insert("merchant_id", merchant.clone());
                max_event = max_event.max(*t);
                if fault == Fault::ConflictingPayment {
                    let mut other = f.clone();
                    other.insert("amount", money(*amt + 1, ccy));
                    b.push(true, *t + 5_000, other);
                }
                b.push(true, *t, f);
            }
        }
        // emit entries
        let emit_entries = fault != Fault::MissingLedger;
        let mut receivable_last: Option<Millis> = None;
        if emit_entries {
            for (jid, booked, lines) in &journals {
                max_event = max_event.max(*booked);
                for (n, (account, debit, minor)) in lines.iter().enumerate() {
                    let mut f = BTreeMap::new();
                    f.insert("entry_id", format!("{jid}_{n}"));
                    f.insert("journal_id", jid.clone());
                    f.insert("payment_id", pid.clone());
                    f.insert("account", account.to_string());
                    f.insert(
                        "direction",
                        if *debit { "debit" } else { "credit" }.to_string(),
                    );
                    f.insert("amount", money(*minor, ccy));
                    f.insert("currency", code.to_string());
                    f.insert("booked_at", format_rfc3339(*booked));
                    if *account == "psp_receivable" {
                        receivable_last = receivable_last.max(Some(*booked));
                    }
                    if fault == Fault::ConflictingEntry
                        && jid.ends_with("_pay")
                        && *account == "bank_cash"
                    {
                        let mut other = f.clone();
                        other.insert("amount", money(*minor + 1, ccy));
                        b.push(false, *booked + 5_000, other);
                    }
                    b.push(false, *booked, f);
                }
            }
        }

        // truth for this payment's groups
        let payment_last = events.iter().map(|e| e.3).max();
        let ledger_status = match fault {
            Fault::MissingLedger => Some((Status::MissingLedger, payment_last)),
            Fault::MissingPayment | Fault::ConflictingPayment => {
                Some((Status::MissingPayment, receivable_last))
            }
            Fault::AmountMismatch => {
                Some((Status::AmountMismatch, payment_last.max(receivable_last)))
            }
            _ => None,
        };
        groups.push((
            "payment_ledger".into(),
            pid.clone(),
            code.into(),
            ledger_status.map(|(s, last)| {
                truth.push(s);
                last.expect("a broken group has events") + GRACE
            }),
        ));
        if ledger_status.is_none() {
            truth.push(Status::Matched);
        }
        if emit_entries {
            for (jid, booked, _) in &journals {
                let broken = (fault == Fault::UnbalancedJournal && jid.ends_with("_ic"))
                    || (fault == Fault::ConflictingEntry && jid.ends_with("_pay"));
                groups.push((
                    "journal_balance".into(),
                    jid.clone(),
                    code.into(),
                    broken.then_some(booked + GRACE),
                ));
                truth.push(if broken {
                    Status::UnbalancedJournal
                } else {
                    Status::Matched
                });
            }
        }
        if fault == Fault::ConflictingPayment {
            groups.push(("dedupe".into(), events[0].0.clone(), code.into(), Some(0)));
            truth.push(Status::ConflictingDuplicate);
        }
        if fault == Fault::ConflictingEntry {
            groups.push((
                "dedupe".into(),
                format!("j_{i:07}_pay_1"),
                code.into(),
                Some(0),
            ));
            truth.push(Status::ConflictingDuplicate);
        }
    }

    let truth: Vec<TruthLine> = groups
        .into_iter()
        .zip(truth)
        .map(|((rule, key, currency, due), status)| {
            let status = match due {
                Some(due)
                    if status.is_break()
                        && status != Status::ConflictingDuplicate
                        && due > max_event =>
                {
                    Status::Pending
                }
                _ => status,
            };
            TruthLine {
                rule,
                key,
                currency,
                status,
            }
        })
        .collect();

    add_redeliveries(&mut b, options.redelivery_per_mille, &mut meta);
    b.lines.sort_by_key(|l| (l.deliver_at, l.seq));
    let ext = if options.csv { "csv" } else { "jsonl" };
    let payments = dir.join(format!("payments.{ext}"));
    let entries = dir.join(format!("entries.{ext}"));
    write_lines(
        &mut b,
        &payments,
        &entries,
        options.invalid_per_mille,
        &mut meta,
    )?;
    meta.final_watermark = format_rfc3339(max_event);

    let mut out = BufWriter::new(File::create(dir.join("truth.jsonl"))?);
    for line in &truth {
        serde_json::to_writer(&mut out, line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    std::fs::write(
        dir.join("truth-meta.json"),
        serde_json::to_string_pretty(&meta)?,
    )?;
    Ok(Generated {
        payments,
        entries,
        truth,
        meta,
    })
}

fn add_redeliveries(b: &mut Builder, per_mille: u32, meta: &mut TruthMeta) {
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

fn write_lines(
    b: &mut Builder,
    payments: &Path,
    entries: &Path,
    invalid_per_mille: u32,
    meta: &mut TruthMeta,
) -> std::io::Result<()> {
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
