//! One generated payment: its events (capture, refunds, chargebacks), the journals booked for
//! them, the lines both become — with the payment's injected fault, if any — and the expected
//! final status of every group it forms.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use trueup_operators::Amount;

use crate::generate::spec::TruthLine;
use crate::generate::write::Builder;
use crate::model::currency::Currency;
use crate::model::results::Status;
use crate::model::time::{format_rfc3339, Millis};

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

/// A payment event: id, type, amount in minor units, time.
type Event = (String, &'static str, i64, Millis);

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

/// One payment as planned: everything its lines and truth are made from.
pub struct Plan {
    index: usize,
    pid: String,
    merchant: String,
    code: &'static str,
    ccy: Currency,
    fault: Fault,
    events: Vec<Event>,
    journals: Vec<Journal>,
}

/// One group's expected final status, before the final watermark is known.
pub struct Group {
    rule: &'static str,
    key: String,
    currency: &'static str,
    status: Status,
    /// When it becomes a break, if it is broken.
    due: Option<Millis>,
}

impl Group {
    /// The truth line at the final watermark `max_event`: a break not yet due is pending.
    pub fn truth(self, max_event: Millis) -> TruthLine {
        let status = match self.due {
            Some(due)
                if self.status.is_break()
                    && self.status != Status::ConflictingDuplicate
                    && due > max_event =>
            {
                Status::Pending
            }
            _ => self.status,
        };
        TruthLine {
            rule: self.rule.into(),
            key: self.key,
            currency: self.currency.into(),
            status,
        }
    }
}

fn money(minor: i64, ccy: Currency) -> String {
    Amount::from_minor(minor, ccy.minor_units()).to_string_scaled(ccy.minor_units())
}

/// Plans payment `i`, captured at `at`, with a fault of each class at `rate` per mille.
pub fn plan(rng: &mut ChaCha8Rng, i: usize, at: Millis, rate: u32) -> Plan {
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
    let events = events(rng, i, amount, at, fault);
    let journals = journals(rng, i, amount, unit, at, fault, &events);
    Plan {
        index: i,
        pid,
        merchant,
        code,
        ccy,
        fault,
        events,
        journals,
    }
}

/// The payment's events: the capture, and perhaps a refund or a chargeback (and its reversal).
fn events(rng: &mut ChaCha8Rng, i: usize, amount: i64, at: Millis, fault: Fault) -> Vec<Event> {
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
    events
}

/// How long after an event the ledger books it: seconds mostly, hours often, days sometimes.
fn lag(rng: &mut ChaCha8Rng) -> Millis {
    match rng.random_range(0..100u32) {
        0..70 => rng.random_range(1..60u64) * 1000,
        70..95 => rng.random_range(60..12 * 3_600u64) * 1000,
        _ => rng.random_range(86_400..4 * 86_400u64) * 1000,
    }
}

/// The journals booked for the payment's events (balanced unless the fault says otherwise).
fn journals(
    rng: &mut ChaCha8Rng,
    i: usize,
    amount: i64,
    unit: i64,
    at: Millis,
    fault: Fault,
    events: &[Event],
) -> Vec<Journal> {
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
    let cap_at = at + lag(rng);
    let ic_credit = interchange
        + if fault == Fault::UnbalancedJournal {
            delta
        } else {
            0
        };
    let mut journals: Vec<Journal> = vec![
        (
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
        ),
        (
            format!("j_{i:07}_res"),
            cap_at + 86_400_000,
            vec![
                ("reserve", true, reserve),
                ("merchant_payable", false, reserve),
            ],
        ),
        (
            format!("j_{i:07}_pay"),
            cap_at + 2 * 86_400_000,
            vec![
                ("merchant_payable", true, amount - fee - tax),
                ("bank_cash", false, amount - fee - tax),
            ],
        ),
        (
            format!("j_{i:07}_ic"),
            cap_at,
            vec![
                ("interchange_expense", true, interchange),
                ("scheme_payable", false, ic_credit),
            ],
        ),
    ];
    for (eid, kind, amt, t) in events.iter().skip(1) {
        let booked = t + lag(rng);
        let suffix = &eid[eid.rfind('_').map_or(0, |p| p + 1)..];
        journals.extend(event_journals(i, kind, *amt, unit, suffix, booked));
    }
    journals
}

/// The journals one refund, chargeback or reversal books.
fn event_journals(
    i: usize,
    kind: &str,
    amt: i64,
    unit: i64,
    suffix: &str,
    booked: Millis,
) -> Vec<Journal> {
    match kind {
        "refund" | "chargeback" => {
            let mut out = vec![(
                format!("j_{i:07}_{suffix}"),
                booked,
                vec![
                    ("merchant_payable", true, amt),
                    ("psp_receivable", false, amt),
                ],
            )];
            if kind == "chargeback" {
                out.push((
                    format!("j_{i:07}_{suffix}fee"),
                    booked,
                    vec![
                        ("merchant_payable", true, 15 * unit),
                        ("fee_revenue", false, 15 * unit),
                    ],
                ));
            }
            out
        }
        _ => vec![(
            format!("j_{i:07}_{suffix}"),
            booked,
            vec![
                ("psp_receivable", true, amt),
                ("merchant_payable", false, amt),
            ],
        )],
    }
}

impl Plan {
    /// Writes the payment's lines into `b` (its fault may leave out a side or add a
    /// conflicting version); returns the latest booking on the receivable account.
    pub fn emit(&self, b: &mut Builder, max_event: &mut Millis) -> Option<Millis> {
        if self.fault != Fault::MissingPayment {
            self.emit_payments(b, max_event);
        }
        if self.fault == Fault::MissingLedger {
            return None;
        }
        self.emit_entries(b, max_event)
    }

    fn emit_payments(&self, b: &mut Builder, max_event: &mut Millis) {
        let ccy = self.ccy;
        for (eid, kind, amt, t) in &self.events {
            let mut f = BTreeMap::new();
            f.insert("event_id", eid.clone());
            f.insert("payment_id", self.pid.clone());
            f.insert("type", kind.to_string());
            f.insert("amount", money(*amt, ccy));
            f.insert("currency", self.code.to_string());
            f.insert("occurred_at", format_rfc3339(*t));
            f.insert("merchant_id", self.merchant.clone());
            *max_event = (*max_event).max(*t);
            if self.fault == Fault::ConflictingPayment {
                let mut other = f.clone();
                other.insert("amount", money(*amt + 1, ccy));
                b.push(true, *t + 5_000, other);
            }
            b.push(true, *t, f);
        }
    }

    fn emit_entries(&self, b: &mut Builder, max_event: &mut Millis) -> Option<Millis> {
        let ccy = self.ccy;
        let mut receivable_last: Option<Millis> = None;
        for (jid, booked, lines) in &self.journals {
            *max_event = (*max_event).max(*booked);
            for (n, (account, debit, minor)) in lines.iter().enumerate() {
                let mut f = BTreeMap::new();
                f.insert("entry_id", format!("{jid}_{n}"));
                f.insert("journal_id", jid.clone());
                f.insert("payment_id", self.pid.clone());
                f.insert("account", account.to_string());
                let direction = if *debit { "debit" } else { "credit" };
                f.insert("direction", direction.to_string());
                f.insert("amount", money(*minor, ccy));
                f.insert("currency", self.code.to_string());
                f.insert("booked_at", format_rfc3339(*booked));
                if *account == "psp_receivable" {
                    receivable_last = receivable_last.max(Some(*booked));
                }
                if self.fault == Fault::ConflictingEntry
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
        receivable_last
    }

    /// The payment's groups with their expected status: its ledger group, its journals (when
    /// booked), and a `dedupe` group for a conflicting version.
    pub fn groups(&self, receivable_last: Option<Millis>, out: &mut Vec<Group>) {
        let group = |rule, key: String, status, due| Group {
            rule,
            key,
            currency: self.code,
            status,
            due,
        };
        let payment_last = self.events.iter().map(|e| e.3).max();
        let ledger = match self.fault {
            Fault::MissingLedger => Some((Status::MissingLedger, payment_last)),
            Fault::MissingPayment | Fault::ConflictingPayment => {
                Some((Status::MissingPayment, receivable_last))
            }
            Fault::AmountMismatch => {
                Some((Status::AmountMismatch, payment_last.max(receivable_last)))
            }
            _ => None,
        };
        out.push(match ledger {
            Some((status, last)) => {
                let due = last.expect("a broken group has events") + GRACE;
                group("payment_ledger", self.pid.clone(), status, Some(due))
            }
            None => group("payment_ledger", self.pid.clone(), Status::Matched, None),
        });
        if self.fault != Fault::MissingLedger {
            for (jid, booked, _) in &self.journals {
                let broken = (self.fault == Fault::UnbalancedJournal && jid.ends_with("_ic"))
                    || (self.fault == Fault::ConflictingEntry && jid.ends_with("_pay"));
                let status = match broken {
                    true => Status::UnbalancedJournal,
                    false => Status::Matched,
                };
                let due = broken.then_some(booked + GRACE);
                out.push(group("journal_balance", jid.clone(), status, due));
            }
        }
        let duplicated = match self.fault {
            Fault::ConflictingPayment => Some(self.events[0].0.clone()),
            Fault::ConflictingEntry => Some(format!("j_{:07}_pay_1", self.index)),
            _ => None,
        };
        if let Some(key) = duplicated {
            let status = Status::ConflictingDuplicate;
            out.push(group("dedupe", key, status, Some(0)));
        }
    }
}
