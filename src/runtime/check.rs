//! `trueup check`: a dry run for finance ops. Reads the first records of every source through
//! its field map and says, for each, how its columns map (once per source), what each record
//! became — or why it is a dead letter — and which rules would see it. Writes no output and
//! opens no store.

use std::io::Write;

use crate::config::fields::{AmountColumns, Layout, Named, Text, TimeFormat, Unit, Zone};
use crate::config::Config;
use crate::model::name::{Names, NewNames};
use crate::model::rows::{EntryRow, PaymentRow, RecordRow};
use crate::model::time::format_rfc3339;
use crate::model::{Record, Stream};
use crate::rules::kind::{GroupKey, Member, RuleKind};
use crate::rules::registry::kind_of;
use crate::runtime::control::RunError;
use crate::runtime::reading::open_sources;
use crate::sources::{Polled, Progress};

/// What a check read: records accepted and dead letters, over every source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Records that would be accepted.
    pub accepted: usize,
    /// Records that would be dead letters.
    pub dead: usize,
}

/// Reads up to `sample` records of each of `config`'s sources and writes what became of each
/// to `out`.
pub fn check(config: &Config, sample: usize, out: &mut dyn Write) -> anyhow::Result<Checked> {
    let kinds: Vec<_> = config.rules.iter().map(kind_of).collect();
    let names = Names::default();
    let mut checked = Checked::default();
    let readings = open_sources(config, 0, 1)?;
    for (i, (mut reading, source)) in readings.into_iter().zip(&config.sources).enumerate() {
        let layout = source.layout(&config.streams);
        writeln!(
            out,
            "source {} of {}: {} from {}",
            i + 1,
            config.sources.len(),
            layout.stream.name(),
            reading.path
        )?;
        for (role, how) in describe(&layout) {
            writeln!(out, "  {role:<12} ← {how}")?;
        }
        let mut polled = Vec::new();
        while polled.len() < sample {
            let more = reading
                .source
                .poll(sample - polled.len(), &mut polled)
                .map_err(|e| RunError::Source {
                    path: reading.path.clone(),
                    source: e,
                })?;
            if more == Progress::Exhausted {
                break;
            }
        }
        polled.truncate(sample);
        for item in &polled {
            let line = match item {
                Polled::Record(record, position) => {
                    checked.accepted += 1;
                    format!(
                        "{position}: {} → {}",
                        shown(record),
                        seen_by(record, &kinds, &names)
                    )
                }
                Polled::Dead(dead) => {
                    checked.dead += 1;
                    format!("{}: dead letter: {}", dead.position, dead.reason)
                }
            };
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(
        out,
        "{} accepted, {} dead letters; nothing written",
        checked.accepted, checked.dead
    )?;
    Ok(checked)
}

/// A record as its roles read it.
fn shown(record: &Record) -> String {
    match record {
        Record::Payment(p) => {
            let merchant = p.merchant_id.as_deref().map(|m| format!(" · merchant {m}"));
            format!(
                "payment event {} · payment {} · {} {} {} · {}{}",
                p.event_id,
                p.payment_id,
                by_name(p.kind),
                p.amount,
                p.currency,
                format_rfc3339(p.occurred_at),
                merchant.unwrap_or_default()
            )
        }
        Record::Entry(e) => format!(
            "entry {} · journal {} · payment {} · account {} · {} {} {} · {}",
            e.entry_id,
            e.journal_id,
            e.payment_id.as_deref().unwrap_or("-"),
            e.account,
            by_name(e.direction),
            e.amount,
            e.currency,
            format_rfc3339(e.booked_at)
        ),
        Record::Declared(d) => {
            let keys: String = (d.keys.iter().chain(&d.carried))
                .map(|(key, value)| format!(" · {key} {value}"))
                .collect();
            let (stream, amount, time) = (d.stream.name(), d.amount, format_rfc3339(d.at));
            let merchant = d.merchant_id.as_deref().map(|m| format!(" · merchant {m}"));
            let merchant = merchant.unwrap_or_default();
            format!(
                "{stream} {}{keys} · {amount} {} · {time}{merchant}",
                d.id, d.currency
            )
        }
    }
}

/// The rules that would take `record` in, each with its side and group.
fn seen_by(record: &Record, kinds: &[std::sync::Arc<dyn RuleKind>], names: &Names) -> String {
    let member = |kind: &dyn RuleKind| -> Option<(GroupKey, Member)> {
        let mut new: NewNames = None;
        match record {
            Record::Payment(p) => {
                kind.payment_member(&PaymentRow::of(p, (names, 0), &mut new).ok()?)
            }
            Record::Entry(e) => kind.entry_member(&EntryRow::of(e, (names, 0), &mut new).ok()?),
            Record::Declared(d) => {
                kind.record_member(&RecordRow::of(d, (names, 0), &mut new).ok()?)
            }
        }
    };
    let seen: Vec<String> = kinds
        .iter()
        .filter_map(|kind| {
            let ((key, currency), (left, ..)) = member(kind.as_ref())?;
            let key = names.text(&key).unwrap_or_default();
            let side = if left { "left" } else { "right" };
            let group = match key.is_empty() {
                true => format!("{side} side, {currency}"),
                false => format!("{side} side of {key} {currency}"),
            };
            Some(format!("{} ({group})", kind.name()))
        })
        .collect();
    match seen.is_empty() {
        true => "no rule".into(),
        false => seen.join(", "),
    }
}

/// A value by its name in configs and results (`capture`, `debit`).
fn by_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Each role of `layout` and where it comes from, in words.
pub fn describe(layout: &Layout) -> Vec<(&'static str, String)> {
    let text = |t: &Text| match t {
        Text::Column(c) => format!("`{c}`"),
        Text::Fixed(v) => format!("{v:?} for every record"),
    };
    let mut roles = vec![("id", text(&layout.id))];
    match layout.stream {
        Stream::Payments => roles.extend([
            ("payment_id", text(&layout.payment_id)),
            (
                "merchant_id",
                format!("{} (optional)", text(&layout.merchant_id)),
            ),
            ("kind", named(&layout.kind)),
        ]),
        Stream::Entries => roles.extend([
            ("journal_id", text(&layout.journal_id)),
            (
                "payment_id",
                format!("{} (optional)", text(&layout.payment_id)),
            ),
            ("account", text(&layout.account)),
            ("direction", named(&layout.direction)),
        ]),
        Stream::Declared(_) => {
            let merchant = format!("{} (optional)", text(&layout.merchant_id));
            roles.push(("merchant_id", merchant));
            let keys = layout.keys.iter();
            roles.extend(keys.map(|(key, c)| ("key", format!("{key}: `{c}` (optional)"))));
            let carried = layout
                .carry
                .iter()
                .map(|(name, c)| ("carry", format!("{name}: `{c}` (optional), into results")));
            roles.extend(carried);
            roles.push(("sign", sign(&layout.sign)));
        }
    }
    let case = if layout.declared { " (any case)" } else { "" };
    roles.extend([
        ("amount", amount(layout)),
        ("currency", format!("{}{case}", text(&layout.currency))),
        ("time", time(layout)),
        ("attributes", "every other column".into()),
    ]);
    roles
}

fn named<T: serde::Serialize + Copy>(named: &Named<T>) -> String {
    match named {
        Named::Sign => "the amount's sign (+ or −)".into(),
        Named::Column { column, values } if values.is_empty() => format!("`{column}`"),
        Named::Column { column, values } => {
            let map: Vec<String> = values
                .iter()
                .map(|(k, v)| format!("{k} → {}", by_name(*v)))
                .collect();
            format!("`{column}` ({})", map.join(", "))
        }
    }
}

fn sign(sign: &Named<i64>) -> String {
    match sign {
        Named::Sign => "the amount's sign (+ when unsigned)".into(),
        Named::Column { column, values } => {
            let signs = values.iter().map(|(k, v)| match *v < 0 {
                true => format!("{k} → -"),
                false => format!("{k} → +"),
            });
            format!("`{column}` ({})", signs.collect::<Vec<_>>().join(", "))
        }
    }
}

fn amount(layout: &Layout) -> String {
    let unit = match layout.amount.unit {
        Unit::Major => "decimal",
        Unit::Minor => "minor units",
    };
    match &layout.amount.columns {
        AmountColumns::One(c) if layout.amount.signed => format!("`{c}` ({unit}, signed)"),
        AmountColumns::One(c) => format!("`{c}` ({unit}, > 0)"),
        AmountColumns::Split { debit, credit } => {
            format!("`{debit}` as debit, `{credit}` as credit ({unit})")
        }
    }
}

fn time(layout: &Layout) -> String {
    let t = &layout.time;
    let format = match t.format {
        TimeFormat::Rfc3339 => "RFC 3339",
        TimeFormat::Date => "date",
        TimeFormat::UnixSeconds => "Unix seconds",
        TimeFormat::UnixMillis => "Unix milliseconds",
        TimeFormat::Local => "local time",
    };
    let zone = match (&t.zone, t.format) {
        (_, TimeFormat::Rfc3339 | TimeFormat::UnixSeconds | TimeFormat::UnixMillis) => {
            String::new()
        }
        (Zone::Fixed(zone), _) => format!(" in {}", zone.iana_name().unwrap_or("a fixed offset")),
        (Zone::Column(c), _) => format!(" in the zone named by `{c}`"),
    };
    format!("`{}` ({format}{zone})", t.column)
}
