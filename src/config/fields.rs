//! A source's field map: how the columns of a finance team's own export (a PSP's balance
//! transactions, a settlement report, a ledger export) become the roles of its stream's
//! record — the id, the keys, the amount and its sign, the currency, the event time — and the
//! [`Layout`] a source reads each record by, resolved from it once at load.
//!
//! Every role defaults to the stream's own column (SPEC §2), so a source without a map reads
//! exactly as before; columns no role names are the record's attributes (kept, and part of
//! its identity). docs/rules.md is the guide.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::currency::Currency;
use crate::model::{Direction, PaymentKind, Stream};

/// A role read from one column, or (for the roles that allow it) a fixed value for every
/// record of the source.
pub type TextRole = Role<Fixed>;

/// The same value for every record: `{ fixed = "EUR" }` (currency and account only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixed {
    /// The value.
    pub fixed: String,
}

/// A role read from a column (`"Amount"`), or described by a table of options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Role<T> {
    /// The input column, read with the role's default options.
    Column(String),
    /// The role's options.
    Spec(T),
}

/// A string is a column; a table is read as the options, so that an error in it names the
/// option (an untagged enum would only say that nothing matched).
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Role<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = Role<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a column name, or a table of options")
            }
            fn visit_str<E: serde::de::Error>(self, column: &str) -> Result<Role<T>, E> {
                Ok(Role::Column(column.to_owned()))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Role<T>, M::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Role::Spec)
            }
        }
        deserializer.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

/// How the amount is written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountSpec {
    /// The column holding the amount; or else `debit` and `credit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// With `credit`: the column of debited amounts (a payment's −, an entry's debit); a
    /// record has an amount in exactly one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debit: Option<String>,
    /// With `debit`: the column of credited amounts (a payment's +, an entry's credit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<String>,
    /// `major` (a decimal, `12.50`; the default) or `minor` (integer minor units, `1250`).
    #[serde(default)]
    pub unit: Unit,
    /// Whether the amount carries its sign (`-12.50`): negative is a refund (payments) or a
    /// credit (entries) unless `kind`/`direction` say otherwise, in which case the two must
    /// agree. Default false (amounts are unsigned, > 0).
    #[serde(default)]
    pub signed: bool,
}

/// The unit an amount is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A decimal in the currency's major unit: `12.50`.
    #[default]
    Major,
    /// An integer count of the currency's minor unit: `1250` (USD 12.50, JPY 1250).
    Minor,
}

/// A role whose values name something (a payment's kind, an entry's direction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesSpec {
    /// The input column.
    pub column: String,
    /// The column's values and what each means, e.g. `{ charge = "capture" }`; empty: the
    /// values are trueup's own names. A value the map does not name is a dead letter.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

/// How the event time is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    /// The input column.
    pub column: String,
    /// `rfc3339` (the default), `date`, `unix_seconds`, `unix_millis` or `local`.
    #[serde(default)]
    pub format: TimeFormat,
    /// For `date` and `local`: the IANA time zone (`Europe/Amsterdam`), `UTC`, or a fixed
    /// offset (`+01:00`) the times are in. A date alone is read at midnight (UTC by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// For `date` and `local`: the column naming each record's zone, as `zone` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_column: Option<String>,
}

/// How an event time is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// `2026-11-01T10:00:00Z`, `…+02:00`, fractional seconds.
    #[default]
    Rfc3339,
    /// `2026-11-01`: midnight in the zone.
    Date,
    /// Unix seconds, an integer (`1793527200`).
    UnixSeconds,
    /// Unix milliseconds, an integer.
    UnixMillis,
    /// `2026-11-01 10:00:00` (or with `T`, fractional seconds) in the zone.
    Local,
}

/// A source's field map (`[sources.fields]`): for each role, its column (or options). A role
/// left out reads the stream's own column of that name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// The record's id (dedupe identity): `event_id` / `entry_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<TextRole>,
    /// The payment id: the key of `payment_ledger` (optional on entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<TextRole>,
    /// Payments and declared streams: the merchant, carried into results (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<TextRole>,
    /// Entries: the journal id, the key of `journal_balance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_id: Option<TextRole>,
    /// Entries: the ledger account (a column, or fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<TextRole>,
    /// Payments: capture, refund, chargeback or chargeback_reversal. Default: the `type`
    /// column, or the amount's sign when the amount is signed or split into debit and credit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Role<ValuesSpec>>,
    /// Entries: debit or credit. Default: the `direction` column, or the amount's sign when
    /// the amount is signed or split into debit and credit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Role<ValuesSpec>>,
    /// The amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Role<AmountSpec>>,
    /// The ISO 4217 currency, in any case (a column, or fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<TextRole>,
    /// The event time: `occurred_at` / `booked_at` (`time` for a declared stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Role<TimeSpec>>,
    /// Declared streams: the sign of the amount from a column's values, `+` or `-`
    /// (`{ column = "type", values = { charge = "+", refund = "-" } }`). Default: the
    /// amount's own sign when it is signed or split, else +.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<Role<ValuesSpec>>,
    /// Declared streams: the column of each of the stream's keys (`{ reference = "Ref" }`);
    /// a key left out reads the column of its own name. An empty value: the record lacks it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, String>,
    /// Declared streams: the column of each attribute the stream carries into results
    /// (`{ reference = "Merchant Reference" }`); one left out reads the column of its own
    /// name. An empty value: the record lacks it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub carry: BTreeMap<String, String>,
}

/// Where a text role's value comes from, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Text {
    /// This column.
    Column(String),
    /// This value for every record.
    Fixed(String),
}

/// Where the amount comes from, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmountColumns {
    /// One column.
    One(String),
    /// A debit column and a credit column.
    Split {
        /// Debited amounts.
        debit: String,
        /// Credited amounts.
        credit: String,
    },
}

/// How an amount is read, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmountLayout {
    /// Its column or columns.
    pub columns: AmountColumns,
    /// Its unit.
    pub unit: Unit,
    /// Whether a sign is read (always, for split columns: the column gives it).
    pub signed: bool,
}

/// How a named value (kind, direction) is read, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Named<T> {
    /// From a column, by trueup's own names (`values` empty) or by the map.
    Column {
        /// The column.
        column: String,
        /// Input value → meaning; empty: trueup's own names.
        values: BTreeMap<String, T>,
    },
    /// From the amount's sign.
    Sign,
}

/// The zone of local times and dates.
#[derive(Clone, Debug, PartialEq)]
pub enum Zone {
    /// One zone for every record.
    Fixed(jiff::tz::TimeZone),
    /// Each record's own, from this column.
    Column(String),
}

/// How the event time is read, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeLayout {
    /// The column.
    pub column: String,
    /// Its format.
    pub format: TimeFormat,
    /// The zone, for `date` and `local`.
    pub zone: Zone,
}

/// How a source reads each record of its stream: the map resolved against the stream's own
/// columns, checked once at load.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The stream.
    pub stream: Stream,
    /// Whether a map was declared (currencies are then read in any case).
    pub declared: bool,
    /// The id.
    pub id: Text,
    /// The payment id (required on payments, optional on entries).
    pub payment_id: Text,
    /// Payments: the merchant.
    pub merchant_id: Text,
    /// Entries: the journal id.
    pub journal_id: Text,
    /// Entries: the account.
    pub account: Text,
    /// Payments: the kind.
    pub kind: Named<PaymentKind>,
    /// Entries: the direction.
    pub direction: Named<Direction>,
    /// The amount.
    pub amount: AmountLayout,
    /// The currency.
    pub currency: Text,
    /// The event time.
    pub time: TimeLayout,
    /// Declared streams: the sign (+1, −1).
    pub sign: Named<i64>,
    /// Declared streams: each key's name and column, in the stream's order.
    pub keys: Vec<(String, String)>,
    /// Declared streams: each carried attribute's name and column, in the stream's order.
    pub carry: Vec<(String, String)>,
    /// Every column a role reads: the others are attributes.
    pub known: Vec<String>,
}

/// A refusal of a field map: the key within `fields` and what is wrong.
pub type Refusal = (String, String);

impl Layout {
    /// The stream's own layout (SPEC §2): what a source without a map reads.
    pub fn builtin(stream: Stream) -> Layout {
        FieldMap::default()
            .resolve(stream, &[], &[])
            .expect("the built-in layouts resolve")
    }
}

/// A sign by its written form.
fn parse_sign(text: &str) -> Option<i64> {
    match text {
        "+" => Some(1),
        "-" => Some(-1),
        _ => None,
    }
}

impl FieldMap {
    /// The layout this map gives a source of `stream` (a declared stream's `keys` and
    /// carried attributes given), or the key (within `fields`) that cannot be used and why.
    pub fn resolve(
        &self,
        stream: Stream,
        keys: &[String],
        carry: &[String],
    ) -> Result<Layout, Refusal> {
        self.refuse_foreign_roles(stream)?;
        let amount = self.amount_layout()?;
        let own = |payment: &'static str, entry: &'static str, declared: &'static str| match stream
        {
            Stream::Payments => payment,
            Stream::Entries => entry,
            Stream::Declared(_) => declared,
        };
        let time = self.time_layout(own("occurred_at", "booked_at", "time"))?;
        let id =
            (self.id.clone()).unwrap_or(Role::Column(own("event_id", "entry_id", "id").into()));
        let sign = match (&self.sign, amount.signed) {
            (None, false) => Named::Sign,
            (Some(_), true) => {
                let message = "give a signed (or split) amount, or a sign, not both";
                return Err(("sign".into(), message.into()));
            }
            (sign, _) => named("sign", sign, "sign", &amount, parse_sign)?,
        };
        let keys = columns_of(stream, ("keys", "key"), &self.keys, keys)?;
        let carry = columns_of(stream, ("carry", "carried attribute"), &self.carry, carry)?;
        let mut layout = Layout {
            stream,
            declared: *self != FieldMap::default(),
            id: column_only("id", id)?,
            payment_id: column_only("payment_id", text_or(&self.payment_id, "payment_id"))?,
            merchant_id: column_only("merchant_id", text_or(&self.merchant_id, "merchant_id"))?,
            journal_id: column_only("journal_id", text_or(&self.journal_id, "journal_id"))?,
            account: resolve_text(text_or(&self.account, "account")),
            kind: named("kind", &self.kind, "type", &amount, PaymentKind::parse)?,
            direction: named("direction", &self.direction, "direction", &amount, |v| {
                Direction::parse(v)
            })?,
            currency: resolve_text(text_or(&self.currency, "currency")),
            amount,
            time,
            sign,
            keys,
            carry,
            known: Vec::new(),
        };
        if let Text::Fixed(code) = &layout.currency {
            if Currency::from_code(&code.to_ascii_uppercase()).is_none() {
                return Err((
                    "currency.fixed".into(),
                    format!("{code:?} is not an ISO 4217 code"),
                ));
            }
        }
        layout.known = layout.columns();
        Ok(layout)
    }

    /// Refuses roles the stream's records do not have.
    fn refuse_foreign_roles(&self, stream: Stream) -> Result<(), Refusal> {
        let declared = [
            ("sign", self.sign.is_some()),
            ("keys", !self.keys.is_empty()),
            ("carry", !self.carry.is_empty()),
        ];
        let foreign: Vec<(&str, bool)> = match stream {
            Stream::Payments => [
                ("journal_id", self.journal_id.is_some()),
                ("account", self.account.is_some()),
                ("direction", self.direction.is_some()),
            ]
            .into_iter()
            .chain(declared)
            .collect(),
            Stream::Entries => [
                ("merchant_id", self.merchant_id.is_some()),
                ("kind", self.kind.is_some()),
            ]
            .into_iter()
            .chain(declared)
            .collect(),
            Stream::Declared(_) => vec![
                ("payment_id", self.payment_id.is_some()),
                ("journal_id", self.journal_id.is_some()),
                ("account", self.account.is_some()),
                ("kind", self.kind.is_some()),
                ("direction", self.direction.is_some()),
            ],
        };
        match foreign.iter().find(|(_, set)| *set) {
            None => Ok(()),
            Some((role, _)) => Err((
                (*role).into(),
                format!("the {} stream has no `{role}` role", stream.name()),
            )),
        }
    }

    fn amount_layout(&self) -> Result<AmountLayout, Refusal> {
        let spec = match &self.amount {
            None => AmountSpec::default(),
            Some(Role::Column(column)) => AmountSpec {
                column: Some(column.clone()),
                ..AmountSpec::default()
            },
            Some(Role::Spec(spec)) => spec.clone(),
        };
        let columns = match (spec.column, spec.debit, spec.credit) {
            (column, None, None) => AmountColumns::One(column.unwrap_or_else(|| "amount".into())),
            (None, Some(debit), Some(credit)) if debit != credit => {
                AmountColumns::Split { debit, credit }
            }
            _ => {
                return Err((
                    "amount".into(),
                    "give `column`, or `debit` and `credit` (two different columns)".into(),
                ))
            }
        };
        let signed = spec.signed || matches!(columns, AmountColumns::Split { .. });
        Ok(AmountLayout {
            columns,
            unit: spec.unit,
            signed,
        })
    }

    fn time_layout(&self, own: &str) -> Result<TimeLayout, Refusal> {
        let spec = match &self.time {
            None => return Ok(TimeLayout::rfc3339(own)),
            Some(Role::Column(column)) => return Ok(TimeLayout::rfc3339(column)),
            Some(Role::Spec(spec)) => spec,
        };
        let zoned = matches!(spec.format, TimeFormat::Date | TimeFormat::Local);
        let zone = match (&spec.zone, &spec.zone_column) {
            (Some(_), Some(_)) => {
                return Err((
                    "time.zone".into(),
                    "give `zone` or `zone_column`, not both".into(),
                ))
            }
            (Some(_), None) | (None, Some(_)) if !zoned => {
                return Err((
                    "time.zone".into(),
                    "only `date` and `local` times take a zone (the others carry their own)".into(),
                ))
            }
            (Some(name), None) => Zone::Fixed(zone(name).map_err(|e| ("time.zone".into(), e))?),
            (None, Some(column)) => Zone::Column(column.clone()),
            (None, None) if spec.format == TimeFormat::Local => {
                return Err((
                    "time.zone".into(),
                    "a local time needs `zone` or `zone_column`".into(),
                ))
            }
            (None, None) => Zone::Fixed(jiff::tz::TimeZone::UTC),
        };
        Ok(TimeLayout {
            column: spec.column.clone(),
            format: spec.format,
            zone,
        })
    }
}

impl TimeLayout {
    fn rfc3339(column: &str) -> TimeLayout {
        TimeLayout {
            column: column.into(),
            format: TimeFormat::Rfc3339,
            zone: Zone::Fixed(jiff::tz::TimeZone::UTC),
        }
    }
}

impl Layout {
    /// The columns the roles of this layout's stream read, each once.
    fn columns(&self) -> Vec<String> {
        let texts: Vec<&Text> = match self.stream {
            Stream::Payments => vec![
                &self.id,
                &self.payment_id,
                &self.merchant_id,
                &self.currency,
            ],
            Stream::Entries => {
                let own = [&self.id, &self.journal_id, &self.payment_id];
                [own.as_slice(), &[&self.account, &self.currency]].concat()
            }
            Stream::Declared(_) => vec![&self.id, &self.merchant_id, &self.currency],
        };
        let mut columns: Vec<String> = Vec::new();
        let mut add = |column: &str| {
            if !columns.iter().any(|c| c == column) {
                columns.push(column.to_owned());
            }
        };
        texts.into_iter().for_each(|t| {
            if let Text::Column(c) = t {
                add(c)
            }
        });
        match &self.amount.columns {
            AmountColumns::One(c) => add(c),
            AmountColumns::Split { debit, credit } => {
                add(debit);
                add(credit);
            }
        }
        add(&self.time.column);
        if let Zone::Column(c) = &self.time.zone {
            add(c);
        }
        let named = match self.stream {
            Stream::Payments => named_column(&self.kind),
            Stream::Entries => named_column(&self.direction),
            Stream::Declared(_) => named_column(&self.sign),
        };
        named.into_iter().for_each(&mut add);
        (self.keys.iter().chain(&self.carry)).for_each(|(_, column)| add(column));
        columns
    }
}

/// Each of a stream's `declared` names (keys or carried attributes) with its column in
/// `mapped` (its own name when not mapped); refuses a mapped name the stream does not declare.
fn columns_of(
    stream: Stream,
    (role, what): (&str, &str),
    mapped: &BTreeMap<String, String>,
    declared: &[String],
) -> Result<Vec<(String, String)>, Refusal> {
    if let Some(name) = mapped.keys().find(|k| !declared.contains(k)) {
        let message = format!("the {} stream declares no {what} `{name}`", stream.name());
        return Err((format!("{role}.{name}"), message));
    }
    Ok((declared.iter())
        .map(|name| (name.clone(), mapped.get(name).unwrap_or(name).clone()))
        .collect())
}

fn named_column<T>(named: &Named<T>) -> Option<&str> {
    match named {
        Named::Column { column, .. } => Some(column),
        Named::Sign => None,
    }
}

fn text_or(role: &Option<TextRole>, own: &str) -> TextRole {
    role.clone().unwrap_or(Role::Column(own.into()))
}

fn resolve_text(role: TextRole) -> Text {
    match role {
        Role::Column(column) => Text::Column(column),
        Role::Spec(Fixed { fixed }) => Text::Fixed(fixed),
    }
}

/// A role that must come from a column (an id or a key: a fixed value would make every
/// record one).
fn column_only(key: &str, role: TextRole) -> Result<Text, Refusal> {
    match role {
        Role::Column(column) => Ok(Text::Column(column)),
        Role::Spec(_) => Err((
            key.into(),
            "must name a column (only `currency` and `account` may be fixed)".into(),
        )),
    }
}

/// A named role resolved: its column and value map (each value checked by `parse`), or the
/// amount's sign when it is left out and the amount is signed.
fn named<T>(
    key: &str,
    role: &Option<Role<ValuesSpec>>,
    own: &str,
    amount: &AmountLayout,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Named<T>, Refusal> {
    let spec = match role {
        None if amount.signed => return Ok(Named::Sign),
        None => {
            return Ok(Named::Column {
                column: own.into(),
                values: BTreeMap::new(),
            })
        }
        Some(Role::Column(column)) => {
            return Ok(Named::Column {
                column: column.clone(),
                values: BTreeMap::new(),
            })
        }
        Some(Role::Spec(spec)) => spec,
    };
    let mut values = BTreeMap::new();
    for (value, meaning) in &spec.values {
        let Some(parsed) = parse(meaning) else {
            return Err((
                format!("{key}.values.{value}"),
                format!("{meaning:?} is not a {key}"),
            ));
        };
        values.insert(value.clone(), parsed);
    }
    Ok(Named::Column {
        column: spec.column.clone(),
        values,
    })
}

/// The time zone `name` names: an IANA name, `UTC`, or a fixed offset `±HH:MM`.
pub fn zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    if let Some(offset) = fixed_offset(name) {
        return Ok(jiff::tz::TimeZone::fixed(offset));
    }
    jiff::tz::TimeZone::get(name).map_err(|_| {
        format!("{name:?} is not a time zone (an IANA name like Europe/Amsterdam, UTC, or ±HH:MM)")
    })
}

fn fixed_offset(text: &str) -> Option<jiff::tz::Offset> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = text[1..].split_once(':')?;
    let two_digits = |s: &str| match s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
        true => s.parse::<i32>().ok(),
        false => None,
    };
    let (hours, minutes) = (two_digits(hours)?, two_digits(minutes)?);
    (hours < 24 && minutes < 60)
        .then(|| jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_layouts_read_the_streams_own_columns() {
        let payments = Layout::builtin(Stream::Payments);
        assert!(!payments.declared);
        assert_eq!(
            payments.known,
            [
                "event_id",
                "payment_id",
                "merchant_id",
                "currency",
                "amount",
                "occurred_at",
                "type"
            ]
        );
        let entries = Layout::builtin(Stream::Entries);
        assert_eq!(
            entries.known,
            [
                "entry_id",
                "journal_id",
                "payment_id",
                "account",
                "currency",
                "amount",
                "booked_at",
                "direction"
            ]
        );
    }

    #[test]
    fn refusals_name_the_role() {
        let refused = |toml: &str, stream| {
            let map: FieldMap = toml::from_str(toml).expect(toml);
            map.resolve(stream, &[], &[]).expect_err(toml)
        };
        let cases = [
            ("kind = \"t\"", Stream::Entries, "kind"),
            ("account = \"a\"", Stream::Payments, "account"),
            ("id = { fixed = \"x\" }", Stream::Payments, "id"),
            ("amount = { debit = \"d\" }", Stream::Payments, "amount"),
            (
                "kind = { column = \"t\", values = { x = \"gift\" } }",
                Stream::Payments,
                "kind.values.x",
            ),
            (
                "time = { column = \"t\", format = \"local\" }",
                Stream::Payments,
                "time.zone",
            ),
            (
                "time = { column = \"t\", format = \"local\", zone = \"Mars/Olympus\" }",
                Stream::Payments,
                "time.zone",
            ),
            (
                "time = { column = \"t\", format = \"unix_seconds\", zone = \"UTC\" }",
                Stream::Payments,
                "time.zone",
            ),
            (
                "currency = { fixed = \"XYZ\" }",
                Stream::Payments,
                "currency.fixed",
            ),
        ];
        for (toml, stream, key) in cases {
            assert_eq!(refused(toml, stream).0, key, "{toml}");
        }
    }

    #[test]
    fn zones_are_iana_names_utc_or_offsets() {
        assert!(zone("Europe/Amsterdam").is_ok());
        assert!(zone("UTC").is_ok());
        let offset = jiff::tz::Offset::from_seconds(5 * 3600 + 30 * 60).unwrap();
        assert_eq!(zone("+05:30").unwrap(), jiff::tz::TimeZone::fixed(offset));
        assert!(zone("+5:30").is_err());
    }
}
