//! The records trueup reconciles — payment events, ledger entries, dead letters — and, in its
//! submodules, what they are made of and what is made of them:
//!
//! - [`currency`]: ISO 4217 currencies and their minor units.
//! - [`time`]: event time, the dataflow's logical time, and the tick.
//! - [`name`]: ids, accounts and merchants as 16-byte values, and the dictionary of long ones.
//! - [`rows`]: payments and entries as the dataflow carries them.
//! - [`results`]: result rows, their changes, and their changelog lines.
//! - [`summary`]: counts, amounts, match rates and aging of a run's results.
//!
//! These are the narrow, validated forms that travel through the dataflow: exact amounts,
//! ISO currencies, event times in Unix milliseconds. Unknown input fields are kept, in
//! canonical (key-sorted) JSON, in `attributes`; they take part in deciding whether two
//! deliveries of one id are identical.

pub mod currency;
pub mod name;
pub mod results;
pub mod rows;
pub mod summary;
pub mod time;

use serde::{Deserialize, Serialize};
use trueup_operators::Amount;

use crate::model::currency::Currency;
use crate::model::name::Name;
use crate::model::time::Millis;

/// An input stream: one of the two built-in ones, or one a config declares (`[[streams]]`).
/// Written, in configs and outputs, as its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Stream {
    /// Payment events (captures, refunds, chargebacks).
    Payments,
    /// Ledger entries.
    Entries,
    /// A declared stream, by its name (held inline: at most 15 bytes).
    Declared(Name),
}

impl Stream {
    /// The stream's name as used in configs and dead letters.
    pub fn name(self) -> String {
        match self {
            Stream::Payments => "payments".into(),
            Stream::Entries => "entries".into(),
            Stream::Declared(name) => name.inline_text().unwrap_or_default(),
        }
    }

    /// The stream named `text`: `payments`, `entries`, or a declared stream's name (1–15
    /// lowercase ASCII letters, digits or `_`, starting with a letter).
    pub fn parse(text: &str) -> Result<Stream, String> {
        match text {
            "payments" => Ok(Stream::Payments),
            "entries" => Ok(Stream::Entries),
            _ if is_declared_name(text) => Ok(Stream::Declared(Name::unregistered(text))),
            _ => Err(format!(
                "{text:?} is not a stream name: 1–15 lowercase letters, digits or `_`, \
                 starting with a letter"
            )),
        }
    }
}

/// Whether `text` may name a declared stream or key: 1–15 lowercase ASCII letters, digits or
/// `_`, starting with a letter (so that it is held inline, and reads back as written).
pub fn is_declared_name(text: &str) -> bool {
    (1..=15).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl From<Stream> for String {
    fn from(stream: Stream) -> String {
        stream.name()
    }
}

impl TryFrom<String> for Stream {
    type Error = String;

    fn try_from(text: String) -> Result<Stream, String> {
        Stream::parse(&text)
    }
}

/// What a payment event does to the amount owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// Money captured from the customer: +.
    Capture,
    /// Money returned to the customer: −.
    Refund,
    /// Money clawed back by the card scheme: −.
    Chargeback,
    /// A chargeback reversed in the merchant's favour: +.
    ChargebackReversal,
}

impl PaymentKind {
    /// Parses the `type` field.
    pub fn parse(text: &str) -> Option<PaymentKind> {
        Some(match text {
            "capture" => PaymentKind::Capture,
            "refund" => PaymentKind::Refund,
            "chargeback" => PaymentKind::Chargeback,
            "chargeback_reversal" => PaymentKind::ChargebackReversal,
            _ => return None,
        })
    }

    /// +1 or −1: the sign this kind gives its amount.
    pub fn sign(self) -> i64 {
        match self {
            PaymentKind::Capture | PaymentKind::ChargebackReversal => 1,
            PaymentKind::Refund | PaymentKind::Chargeback => -1,
        }
    }
}

/// Debit or credit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// + on the account.
    Debit,
    /// − on the account.
    Credit,
}

impl Direction {
    /// Parses the `direction` field.
    pub fn parse(text: &str) -> Option<Direction> {
        match text {
            "debit" => Some(Direction::Debit),
            "credit" => Some(Direction::Credit),
            _ => None,
        }
    }
}

/// A validated payment event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Payment {
    /// Unique per event.
    pub event_id: String,
    /// The reconciliation key.
    pub payment_id: String,
    /// Capture, refund, chargeback or reversal.
    pub kind: PaymentKind,
    /// Unsigned amount, > 0, within the currency's minor units.
    pub amount: Amount,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Event time.
    pub occurred_at: Millis,
    /// Nanoseconds of the event time below the millisecond (kept for identity only; always
    /// serialized, as timely's binary exchange between processes cannot skip a field).
    #[serde(default)]
    pub time_nanos: u32,
    /// The merchant, carried into results.
    pub merchant_id: Option<String>,
    /// Unknown input fields as canonical JSON (`""` when there were none).
    pub attributes: String,
}

impl Payment {
    /// The amount with the kind's sign.
    pub fn signed_amount(&self) -> Amount {
        self.amount.times(self.kind.sign())
    }
}

/// A validated ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// Unique per entry.
    pub entry_id: String,
    /// The double-entry posting this entry belongs to.
    pub journal_id: String,
    /// The payment this entry books, if any.
    pub payment_id: Option<String>,
    /// The ledger account.
    pub account: String,
    /// Debit or credit.
    pub direction: Direction,
    /// Unsigned amount, > 0, within the currency's minor units.
    pub amount: Amount,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Event time.
    pub booked_at: Millis,
    /// Nanoseconds of the event time below the millisecond (kept for identity only; always
    /// serialized, as timely's binary exchange between processes cannot skip a field).
    #[serde(default)]
    pub time_nanos: u32,
    /// Unknown input fields as canonical JSON (`""` when there were none).
    pub attributes: String,
}

impl Entry {
    /// The amount signed by direction: debit +, credit −.
    pub fn signed_amount(&self) -> Amount {
        match self.direction {
            Direction::Debit => self.amount,
            Direction::Credit => -self.amount,
        }
    }
}

/// A validated record of a declared stream.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Declared {
    /// The stream.
    pub stream: Stream,
    /// Unique per record of the stream.
    pub id: String,
    /// The stream's keys the record has: key name, value (empty values left out).
    pub keys: Vec<(String, String)>,
    /// The stream's attributes carried into results that the record has: name, value (empty
    /// values left out).
    #[serde(default)]
    pub carried: Vec<(String, String)>,
    /// The merchant, carried into results.
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// The amount with its sign, within the currency's minor units.
    pub amount: Amount,
    /// ISO 4217 currency.
    pub currency: Currency,
    /// Event time.
    pub at: Millis,
    /// Nanoseconds of the event time below the millisecond (identity only).
    #[serde(default)]
    pub time_nanos: u32,
    /// Unknown input fields as canonical JSON (`""` when there were none).
    pub attributes: String,
}

/// One accepted input record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Record {
    /// From the payments stream.
    Payment(Payment),
    /// From the entries stream.
    Entry(Entry),
    /// From a declared stream.
    Declared(Declared),
}

impl Record {
    /// The record's event time.
    pub fn event_time(&self) -> Millis {
        match self {
            Record::Payment(p) => p.occurred_at,
            Record::Entry(e) => e.booked_at,
            Record::Declared(d) => d.at,
        }
    }

    /// The record's stream and id.
    pub fn identity(&self) -> (Stream, &str) {
        match self {
            Record::Payment(p) => (Stream::Payments, &p.event_id),
            Record::Entry(e) => (Stream::Entries, &e.entry_id),
            Record::Declared(d) => (d.stream, &d.id),
        }
    }
}

/// A rejected input line: where it was, why, and what it said.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The stream it was read for (`payments`, `entries`).
    pub source: String,
    /// `file:line` (or `topic/partition/offset`).
    pub position: String,
    /// What was wrong, precisely.
    pub reason: String,
    /// The input as read (lossy UTF-8, kept whole up to the 1 MiB line limit).
    pub raw: String,
}
