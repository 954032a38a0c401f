//! A declared `balance` rule (`kind = "balance"`): per group key and currency, the sum of a
//! left side against that of a right side, each side the records of one stream that pass its
//! filter, grouped by one of their keys. `payment_ledger` and `journal_balance` are its presets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ToleranceConfig;
use crate::model::name::Name;
use crate::model::{is_declared_name, Direction, Stream};

/// Parameters of a declared `balance` rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceRule {
    /// The rule's name in results (required: unique, not `dedupe`).
    pub name: String,
    /// The expected side.
    pub left: SideConfig,
    /// The actual side.
    pub right: SideConfig,
    /// How far the sides may differ and still match. Default exact.
    #[serde(default)]
    pub tolerance: ToleranceConfig,
    /// Hours after a group's latest record before an unbalanced group is a break. Default 72.
    #[serde(default = "default_grace")]
    pub grace_hours: u64,
}

fn default_grace() -> u64 {
    72
}

fn yes() -> bool {
    true
}

/// One side of a `balance` or `match` rule: a stream, for a balance the key its records are
/// grouped by, and for entries a filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideConfig {
    /// The stream whose records the side takes.
    pub stream: Stream,
    /// `balance` only (required there): the key its records are grouped by; a record without
    /// one is on no side. A `match` rule's key is the rule's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyField>,
    /// Entries only: only entries on these accounts. Default: every account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// Entries only: only entries of this direction. Default: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Declared streams only: only records whose keys have one of the values listed for
    /// them (`only = { type = ["payout"] }`); a record without the key is not taken. Default:
    /// every record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub only: BTreeMap<String, Vec<String>>,
    /// Whether amounts count with their sign (a refund, a credit: −). Default true; false
    /// sums them as written (as `journal_balance` sums debits and credits apart).
    #[serde(default = "yes")]
    pub signed: bool,
    /// `match` only: the key this side's records are summed by before pairing — the records
    /// sharing it pair as one, their amounts summed, at the latest of their times (one
    /// bank line against the settlement lines of one payout: one-to-many; many-to-one on the
    /// left). A record without it is on no side. Default none: each record pairs alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<KeyField>,
}

/// A key a side groups by, written as its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum KeyField {
    /// The payment id (always on payments; optional on entries).
    PaymentId,
    /// Entries only: the journal id.
    JournalId,
    /// Declared streams only: the key of this name (`[[streams]]` `keys`).
    Named(Name),
}

impl KeyField {
    /// The key's name as a declared record holds it (a declared stream may name a key
    /// `payment_id` or `journal_id`, and then rules pair it with the built-in streams' key).
    pub fn declared_name(self) -> Name {
        match self {
            KeyField::Named(name) => name,
            other => Name::unregistered(&other.name()),
        }
    }

    /// The key as configs write it.
    pub fn name(self) -> String {
        match self {
            KeyField::PaymentId => "payment_id".into(),
            KeyField::JournalId => "journal_id".into(),
            KeyField::Named(name) => name.inline_text().unwrap_or_default(),
        }
    }
}

impl From<KeyField> for String {
    fn from(key: KeyField) -> String {
        key.name()
    }
}

impl TryFrom<String> for KeyField {
    type Error = String;

    fn try_from(text: String) -> Result<KeyField, String> {
        match text.as_str() {
            "payment_id" => Ok(KeyField::PaymentId),
            "journal_id" => Ok(KeyField::JournalId),
            name if is_declared_name(name) => Ok(KeyField::Named(Name::unregistered(name))),
            _ => Err(format!(
                "unknown key {text:?}: payment_id, journal_id or a declared stream's key"
            )),
        }
    }
}

/// Why `side` (named `name` in its rule, grouped or paired by `key`) cannot be read from its
/// stream, whose declared keys are `keys` (`None`: the stream is not declared).
pub fn side_refusal(
    name: &str,
    side: &SideConfig,
    key: Option<KeyField>,
    keys: Option<&[String]>,
) -> Option<(String, String)> {
    let Some(keys) = keys else {
        let message = format!("no [[streams]] entry declares {:?}", side.stream.name());
        return Some((format!("{name}.stream"), message));
    };
    let declared = matches!(side.stream, Stream::Declared(_));
    let fits = |field: KeyField| match field {
        _ if declared => keys.contains(&field.name()),
        KeyField::Named(_) => false,
        KeyField::PaymentId | KeyField::JournalId => true,
    };
    let lacks = [
        ("key", key.filter(|k| !fits(*k))),
        ("group_by", side.group_by.filter(|k| !fits(*k))),
    ];
    if let Some((which, Some(field))) = lacks.into_iter().find(|(_, f)| f.is_some()) {
        let has = match keys.is_empty() {
            true if declared => "it declares none".to_string(),
            true => "its keys: payment_id, and journal_id for entries".to_string(),
            false => format!("its keys: {}", keys.join(", ")),
        };
        let (stream, field) = (side.stream.name(), field.name());
        let message = format!("the {stream} stream has no key `{field}` ({has})");
        return Some((format!("{name}.{which}"), message));
    }
    if declared && (!side.accounts.is_empty() || side.direction.is_some()) {
        let which = if side.accounts.is_empty() {
            "direction"
        } else {
            "accounts"
        };
        let message = "a declared stream's records have no accounts or directions".into();
        return Some((format!("{name}.{which}"), message));
    }
    if !declared && !side.only.is_empty() {
        let message = "`only` filters a declared stream's records by their keys; entries \
                       filter by `accounts` and `direction`"
            .into();
        return Some((format!("{name}.only"), message));
    }
    let unknown = (side.only.iter()).find(|(key, values)| !keys.contains(key) || values.is_empty());
    unknown.map(|(key, _)| {
        let message = format!(
            "must be one of the {} stream's keys ({}), with at least one value",
            side.stream.name(),
            keys.join(", ")
        );
        (format!("{name}.only.{key}"), message)
    })
}

impl BalanceRule {
    /// The key within the rule and why, for a side without a key or that asks its stream for
    /// what it lacks.
    pub fn refusal(&self) -> Option<(String, String)> {
        for (name, side) in [("left", &self.left), ("right", &self.right)] {
            if side.group_by.is_some() {
                let message = "a balance sums each side by its key: `group_by` is for match \
                               rules"
                    .into();
                return Some((format!("{name}.group_by"), message));
            }
            if side.key.is_none() {
                let message = "a balance side needs a key: payment_id or journal_id".into();
                return Some((format!("{name}.key"), message));
            }
            if side.stream != Stream::Payments {
                continue;
            }
            let lacks = [
                ("accounts", !side.accounts.is_empty()),
                ("direction", side.direction.is_some()),
                ("key", side.key == Some(KeyField::JournalId)),
            ];
            if let Some((key, _)) = lacks.iter().find(|(_, set)| *set) {
                let message = "payments have no accounts, directions or journal ids".into();
                return Some((format!("{name}.{key}"), message));
            }
        }
        None
    }
}

/// Parameters of a `match` rule: records of a left side paired with records of a right side
/// (one to one, or by a side's `group_by` one to many, many to one, many to many) — equal on
/// `key` when given, amounts within the tolerance, event times within the window.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRule {
    /// The rule's name in results (required: unique, not `dedupe`).
    pub name: String,
    /// The records to be paired (the expected side): a stream and a filter, no key.
    pub left: SideConfig,
    /// The records they are paired with (the actual side).
    pub right: SideConfig,
    /// A key both records of a pair must have and share. Default none: any two records of
    /// one currency may pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyField>,
    /// How far apart in event time two records may be and still pair, in hours (at most
    /// 87,600). Default 48.
    #[serde(default = "default_window")]
    pub window_hours: u64,
    /// How far the two amounts may differ. Default exact.
    #[serde(default)]
    pub tolerance: ToleranceConfig,
    /// Hours after a record's event time before it is a break, unpaired. Default 72.
    #[serde(default = "default_grace")]
    pub grace_hours: u64,
}

fn default_window() -> u64 {
    48
}

impl MatchRule {
    /// A side as a balance side takes it: its stream, filter and sign, grouped by the rule's
    /// key (the payment id stands in where the rule has none, for the refusals only).
    pub fn side(&self, side: &SideConfig) -> SideConfig {
        SideConfig {
            key: Some(self.key.unwrap_or(KeyField::PaymentId)),
            group_by: None,
            ..side.clone()
        }
    }

    /// The key within the rule and why, for what its sides or window cannot be.
    pub fn refusal(&self) -> Option<(String, String)> {
        for (name, side) in [("left", &self.left), ("right", &self.right)] {
            if side.key.is_some() {
                let message = "a match rule's key is the rule's `key`, for both sides".into();
                return Some((format!("{name}.key"), message));
            }
        }
        if self.window_hours > super::MAX_HOURS {
            return Some((
                "window_hours".into(),
                "must be at most 87600 (ten years)".into(),
            ));
        }
        for (name, side) in [("left", &self.left), ("right", &self.right)] {
            if side.stream == Stream::Payments && side.group_by == Some(KeyField::JournalId) {
                let message = "payments have no journal ids".into();
                return Some((format!("{name}.group_by"), message));
            }
        }
        let as_balance = BalanceRule {
            name: self.name.clone(),
            left: self.side(&self.left),
            right: self.side(&self.right),
            tolerance: self.tolerance.clone(),
            grace_hours: self.grace_hours,
        };
        as_balance
            .refusal()
            .map(|(key, message)| match key.ends_with(".key") {
                true => ("key".into(), message),
                false => (key, message),
            })
    }
}

/// A rule whose graph a program built on trueup registers (`kind = "graph"`; see
/// docs/operators/pipeline.md): the config names it and says which streams its results' ids
/// come from; the graph decides the rest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphRule {
    /// The rule's name in results (required: unique, not `dedupe`).
    pub name: String,
    /// The name the program registered its graph under.
    pub graph: String,
    /// The stream the ids of a result's left side come from.
    pub left: Stream,
    /// The stream the ids of a result's right side come from.
    pub right: Stream,
    /// How far sides may differ and still match, for the graph to use. Default exact.
    #[serde(default)]
    pub tolerance: ToleranceConfig,
    /// Hours of grace, for the graph to use. Default 72.
    #[serde(default = "default_grace")]
    pub grace_hours: u64,
}
