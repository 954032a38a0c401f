//! The records as the dataflow carries them: every string a [`Name`], unknown fields a
//! fingerprint, everything else as validated. Small and `Copy`, so arranging, exchanging and
//! comparing them moves no heap memory. Two rows are equal exactly when the records they come
//! from are (up to a 128-bit fingerprint of the unknown fields).

use serde::{Deserialize, Serialize};
use trueup_operators::Amount;

use crate::model::currency::Currency;
use crate::model::name::{fingerprint, Name, NameCollision, Names, NewNames};
use crate::model::time::{Millis, Time};
use crate::model::{Declared, Direction, Entry, Payment, PaymentKind};

/// A [`Payment`] inside the dataflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PaymentRow {
    /// See [`Payment::event_id`].
    pub event_id: Name,
    /// See [`Payment::payment_id`].
    pub payment_id: Name,
    /// See [`Payment::merchant_id`].
    pub merchant_id: Option<Name>,
    /// See [`Payment::kind`].
    pub kind: PaymentKind,
    /// See [`Payment::amount`].
    pub amount: Amount,
    /// See [`Payment::currency`].
    pub currency: Currency,
    /// See [`Payment::occurred_at`].
    pub occurred_at: Millis,
    /// The fingerprint of [`Payment::attributes`] and [`Payment::time_nanos`].
    pub attributes: [u64; 2],
}

impl PaymentRow {
    /// The row of `p`, entering the dataflow at `at`, its long names registered in `names`
    /// (the new ones noted in `new`).
    pub fn of(
        p: &Payment,
        (names, at): (&Names, Time),
        new: &mut NewNames,
    ) -> Result<PaymentRow, NameCollision> {
        let mut name = |text: &str| names.intern(text, at, new);
        Ok(PaymentRow {
            event_id: name(&p.event_id)?,
            payment_id: name(&p.payment_id)?,
            merchant_id: p.merchant_id.as_deref().map(&mut name).transpose()?,
            kind: p.kind,
            amount: p.amount,
            currency: p.currency,
            occurred_at: p.occurred_at,
            attributes: fingerprint(&p.attributes, p.time_nanos),
        })
    }

    /// The amount with the kind's sign.
    pub fn signed_amount(&self) -> Amount {
        self.amount.times(self.kind.sign())
    }
}

/// An [`Entry`] inside the dataflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryRow {
    /// See [`Entry::entry_id`].
    pub entry_id: Name,
    /// See [`Entry::journal_id`].
    pub journal_id: Name,
    /// See [`Entry::payment_id`].
    pub payment_id: Option<Name>,
    /// See [`Entry::account`].
    pub account: Name,
    /// See [`Entry::direction`].
    pub direction: Direction,
    /// See [`Entry::amount`].
    pub amount: Amount,
    /// See [`Entry::currency`].
    pub currency: Currency,
    /// See [`Entry::booked_at`].
    pub booked_at: Millis,
    /// The fingerprint of [`Entry::attributes`] and [`Entry::time_nanos`].
    pub attributes: [u64; 2],
}

impl EntryRow {
    /// The row of `e`, entering the dataflow at `at`, its long names registered in `names`
    /// (the new ones noted in `new`) — all but the account, which no result shows.
    pub fn of(
        e: &Entry,
        (names, at): (&Names, Time),
        new: &mut NewNames,
    ) -> Result<EntryRow, NameCollision> {
        let mut name = |text: &str| names.intern(text, at, new);
        Ok(EntryRow {
            entry_id: name(&e.entry_id)?,
            journal_id: name(&e.journal_id)?,
            payment_id: e.payment_id.as_deref().map(&mut name).transpose()?,
            account: Name::unregistered(&e.account),
            direction: e.direction,
            amount: e.amount,
            currency: e.currency,
            booked_at: e.booked_at,
            attributes: fingerprint(&e.attributes, e.time_nanos),
        })
    }

    /// The amount signed by direction: debit +, credit −.
    pub fn signed_amount(&self) -> Amount {
        match self.direction {
            Direction::Debit => self.amount,
            Direction::Credit => -self.amount,
        }
    }
}

/// The most keys a declared stream has.
pub const MAX_KEYS: usize = 3;

/// The most attributes a declared stream carries into results.
pub const MAX_CARRIED: usize = 3;

/// A [`Declared`] record inside the dataflow: its keys by name, each name and value a
/// [`Name`] (an absent key is `(EMPTY, EMPTY)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordRow {
    /// The stream's name.
    pub stream: Name,
    /// See [`Declared::id`].
    pub id: Name,
    /// See [`Declared::keys`]: key name, value.
    pub keys: [(Name, Name); MAX_KEYS],
    /// See [`Declared::carried`]: attribute name, value (`(EMPTY, EMPTY)` when absent).
    pub carried: [(Name, Name); MAX_CARRIED],
    /// See [`Declared::merchant_id`].
    pub merchant_id: Option<Name>,
    /// See [`Declared::amount`] (signed).
    pub amount: Amount,
    /// See [`Declared::currency`].
    pub currency: Currency,
    /// See [`Declared::at`].
    pub at: Millis,
    /// The fingerprint of [`Declared::attributes`] and [`Declared::time_nanos`].
    pub attributes: [u64; 2],
}

impl RecordRow {
    /// The row of `d`, entering the dataflow at `at`, its long names registered in `names`
    /// (the new ones noted in `new`).
    pub fn of(
        d: &Declared,
        (names, at): (&Names, Time),
        new: &mut NewNames,
    ) -> Result<RecordRow, NameCollision> {
        let mut name = |text: &str| names.intern(text, at, new);
        let mut keys = [(Name::EMPTY, Name::EMPTY); MAX_KEYS];
        for (slot, (key, value)) in keys.iter_mut().zip(&d.keys) {
            *slot = (Name::unregistered(key), name(value)?);
        }
        let mut carried = [(Name::EMPTY, Name::EMPTY); MAX_CARRIED];
        for (slot, (attribute, value)) in carried.iter_mut().zip(&d.carried) {
            *slot = (Name::unregistered(attribute), name(value)?);
        }
        Ok(RecordRow {
            stream: match d.stream {
                crate::model::Stream::Declared(stream) => stream,
                other => Name::unregistered(&other.name()),
            },
            id: name(&d.id)?,
            keys,
            carried,
            merchant_id: d.merchant_id.as_deref().map(&mut name).transpose()?,
            amount: d.amount,
            currency: d.currency,
            at: d.at,
            attributes: fingerprint(&d.attributes, d.time_nanos),
        })
    }

    /// The value of the key named `key`, if the record has it.
    pub fn key(&self, key: Name) -> Option<Name> {
        (self.keys.iter())
            .find(|(name, _)| *name == key && key != Name::EMPTY)
            .map(|(_, value)| *value)
    }

    /// The stream.
    pub fn stream(&self) -> crate::model::Stream {
        crate::model::Stream::Declared(self.stream)
    }
}
