//! The `balance` rule kind: per group key and currency, the signed sum of a left side against
//! that of a right side, matched within a tolerance, a break once a grace period has passed
//! since the group's latest event. Each side takes the records of one stream that pass its
//! filter, keyed by one of their fields. Today's two rules are its presets:
//!
//! | preset | left | right | key | overdue |
//! |---|---|---|---|---|
//! | `payment_ledger` | every payment event, signed | entries on the match accounts, signed | payment id | `missing_ledger`, `missing_payment`, `amount_mismatch` |
//! | `journal_balance` | debit entries | credit entries | journal id | `unbalanced_journal` |

use trueup_operators::{BalanceState, Leg};

use super::kind::{GroupKey, Member, RuleKind};
use crate::config::balance::{BalanceRule, KeyField as Key, SideConfig};
use crate::config::{JournalBalanceRule, PaymentLedgerRule, ToleranceConfig};
use crate::model::name::Name;
use crate::model::results::Status;
use crate::model::rows::{EntryRow, PaymentRow, RecordRow};
use crate::model::time::HOUR;
use crate::model::{Direction, Stream};

/// Which records of its stream a side takes: entries on these accounts (any, when empty)
/// of this direction (either, when none); every payment; the declared stream's records whose
/// keys have one of the values listed for them (any, when none are listed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filter {
    accounts: Vec<Name>,
    direction: Option<Direction>,
    values: Vec<(Name, Vec<Name>)>,
}

impl Filter {
    /// Whether it takes every record.
    fn is_all(&self) -> bool {
        self.accounts.is_empty() && self.direction.is_none() && self.values.is_empty()
    }

    /// Whether it takes a declared stream's `record`.
    fn takes_record(&self, record: &RecordRow) -> bool {
        (self.values.iter()).all(|(key, values)| {
            record
                .key(*key)
                .is_some_and(|value| values.contains(&value))
        })
    }

    /// Whether it takes `entry`.
    fn takes(&self, entry: &EntryRow) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(&entry.account))
            && self.direction.is_none_or(|d| d == entry.direction)
    }
}

/// The value of `key` a payment event has: its payment id (it has no other key).
pub fn payment_key(p: &PaymentRow, key: Key) -> Option<Name> {
    match key {
        Key::PaymentId => Some(p.payment_id),
        Key::JournalId | Key::Named(_) => None,
    }
}

/// The value of `key` a ledger entry has, if any.
pub fn entry_key(e: &EntryRow, key: Key) -> Option<Name> {
    match key {
        Key::PaymentId => e.payment_id,
        Key::JournalId => Some(e.journal_id),
        Key::Named(_) => None,
    }
}

/// How a side's amounts count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sign {
    /// Signed by the record's kind or direction (a refund, a credit: negative).
    Signed,
    /// As written.
    AsWritten,
}

/// One side of a balance.
#[derive(Clone, Debug)]
struct Side {
    stream: Stream,
    filter: Filter,
    /// `None`: every record is in one group per currency (a `match` rule without a key,
    /// which pairs within it).
    key: Option<Key>,
    sign: Sign,
}

/// A `balance` rule. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Balance {
    name: String,
    tolerance: ToleranceConfig,
    grace_millis: u64,
    left: Side,
    right: Side,
    /// The statuses of an overdue group: left side only, right side only, both but unequal.
    overdue: [Status; 3],
}

impl Balance {
    /// The `payment_ledger` preset: payment events against entries on the match accounts, per
    /// payment id and currency.
    pub fn payment_ledger(rule: &PaymentLedgerRule) -> Balance {
        let accounts = rule.match_accounts.iter().map(|a| Name::unregistered(a));
        Balance {
            name: rule.name.clone(),
            tolerance: rule.tolerance.clone(),
            grace_millis: rule.grace_hours.saturating_mul(HOUR),
            left: Side {
                stream: Stream::Payments,
                filter: Filter::default(),
                key: Some(Key::PaymentId),
                sign: Sign::Signed,
            },
            right: Side {
                stream: Stream::Entries,
                filter: Filter {
                    accounts: accounts.collect(),
                    ..Filter::default()
                },
                key: Some(Key::PaymentId),
                sign: Sign::Signed,
            },
            overdue: [
                Status::MissingLedger,
                Status::MissingPayment,
                Status::AmountMismatch,
            ],
        }
    }

    /// The `journal_balance` preset: Σ debits against Σ credits per journal id and currency.
    pub fn journal_balance(rule: &JournalBalanceRule) -> Balance {
        let side = |direction| Side {
            stream: Stream::Entries,
            filter: Filter {
                direction: Some(direction),
                ..Filter::default()
            },
            key: Some(Key::JournalId),
            sign: Sign::AsWritten,
        };
        Balance {
            name: rule.name.clone(),
            tolerance: rule.tolerance.clone(),
            grace_millis: rule.grace_hours.saturating_mul(HOUR),
            left: side(Direction::Debit),
            right: side(Direction::Credit),
            overdue: [Status::UnbalancedJournal; 3],
        }
    }

    /// A declared `balance` rule: its own sides; an overdue group with only a left side is
    /// `unmatched_left`, with only a right side `unmatched_right`, with both
    /// `amount_mismatch`.
    pub fn declared(rule: &BalanceRule) -> Balance {
        let side = |config: &SideConfig| Side {
            stream: config.stream,
            filter: Filter {
                accounts: config
                    .accounts
                    .iter()
                    .map(|a| Name::unregistered(a))
                    .collect(),
                direction: config.direction,
                values: (config.only.iter())
                    .map(|(key, values)| {
                        let values = values.iter().map(|v| Name::unregistered(v)).collect();
                        (Name::unregistered(key), values)
                    })
                    .collect(),
            },
            key: config.key,
            sign: if config.signed {
                Sign::Signed
            } else {
                Sign::AsWritten
            },
        };
        Balance {
            name: rule.name.clone(),
            tolerance: rule.tolerance.clone(),
            grace_millis: rule.grace_hours.saturating_mul(HOUR),
            left: side(&rule.left),
            right: side(&rule.right),
            overdue: [
                Status::UnmatchedLeft,
                Status::UnmatchedRight,
                Status::AmountMismatch,
            ],
        }
    }

    /// The same sides without keys: every record of a currency in one group.
    pub fn unkeyed(mut self) -> Balance {
        self.left.key = None;
        self.right.key = None;
        self
    }

    /// The sides, left first, each with whether it is the left one.
    fn sides(&self) -> [(bool, &Side); 2] {
        [(true, &self.left), (false, &self.right)]
    }
}

impl RuleKind for Balance {
    fn name(&self) -> &str {
        &self.name
    }

    fn takes(&self, stream: Stream) -> bool {
        self.sides().iter().any(|(_, side)| side.stream == stream)
    }

    fn covers(&self, stream: Stream) -> bool {
        // every record of the stream has the key: payments their payment id, entries their
        // journal id (an entry's payment id is optional)
        let keyed = |side: &Side| {
            stream == Stream::Payments || matches!(side.key, None | Some(Key::JournalId))
        };
        let all = |side: &Side| side.stream == stream && side.filter.is_all() && keyed(side);
        let (left, right) = (&self.left.filter, &self.right.filter);
        let split = left.accounts.is_empty()
            && right.accounts.is_empty()
            && matches!((left.direction, right.direction), (Some(a), Some(b)) if a != b)
            && keyed(&self.left)
            && keyed(&self.right);
        all(&self.left)
            || all(&self.right)
            || (split && self.left.stream == stream && self.right.stream == stream)
    }

    fn side_stream(&self, left: bool) -> Stream {
        if left {
            self.left.stream
        } else {
            self.right.stream
        }
    }

    fn payment_member(&self, p: &PaymentRow) -> Option<(GroupKey, Member)> {
        let (is_left, side) = (self.sides().into_iter())
            .find(|(_, side)| side.stream == Stream::Payments && side.filter.is_all())?;
        let amount = match side.sign {
            Sign::Signed => p.signed_amount(),
            Sign::AsWritten => p.amount,
        };
        let leg = Leg::with_id(p.event_id, amount, p.occurred_at);
        let key = match side.key {
            Some(key) => payment_key(p, key)?,
            None => Name::EMPTY,
        };
        Some(((key, p.currency), (is_left, leg, p.merchant_id)))
    }

    fn entry_member(&self, e: &EntryRow) -> Option<(GroupKey, Member)> {
        let (is_left, side) = (self.sides().into_iter())
            .find(|(_, side)| side.stream == Stream::Entries && side.filter.takes(e))?;
        let key = match side.key {
            Some(key) => entry_key(e, key)?,
            None => Name::EMPTY,
        };
        let amount = match side.sign {
            Sign::Signed => e.signed_amount(),
            Sign::AsWritten => e.amount,
        };
        let leg = Leg::with_id(e.entry_id, amount, e.booked_at);
        Some(((key, e.currency), (is_left, leg, None)))
    }

    fn record_member(&self, r: &RecordRow) -> Option<(GroupKey, Member)> {
        let (is_left, side) = (self.sides().into_iter())
            .find(|(_, side)| side.stream == r.stream() && side.filter.takes_record(r))?;
        let key = match side.key {
            Some(key) => r.key(key.declared_name())?,
            None => Name::EMPTY,
        };
        let amount = match side.sign {
            Sign::Signed => r.amount,
            Sign::AsWritten => r.amount.abs(),
        };
        let leg = Leg::with_id(r.id, amount, r.at);
        Some(((key, r.currency), (is_left, leg, r.merchant_id)))
    }

    fn overdue(&self, state: BalanceState) -> Status {
        match state {
            BalanceState::LeftOnly => self.overdue[0],
            BalanceState::RightOnly => self.overdue[1],
            _ => self.overdue[2],
        }
    }

    fn tolerance(&self) -> &ToleranceConfig {
        &self.tolerance
    }

    fn grace_millis(&self) -> u64 {
        self.grace_millis
    }
}
