//! Names — ids, accounts, merchants — as 16-byte `Copy` values inside the dataflow, and the
//! run's dictionary of the long ones.
//!
//! A name of up to 15 bytes is held inline: its bytes, zero-padded, then its length. That is
//! exactly reversible and collision-free by construction, and such names order as their
//! strings do. A longer name is held as 120 bits of the SHA-256 of its bytes (a chance
//! collision is below 10⁻¹² even among 10¹² distinct ids, and crafting one takes about 2⁶⁰
//! hashes) and registered in the run's [`Names`], where it is read back when results are
//! written. Should two different names ever share a hash, the second is refused with a
//! [`NameCollision`] naming both, which makes its record a dead letter: two ids are never
//! merged, and the run goes on. Long names order by hash, after every inline name:
//! deterministically, but not as strings.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::time::Time;

/// Bytes of a name held inline, and of a long name's hash.
const INLINE: usize = 15;
/// The last byte of a long name's form (an inline length is at most [`INLINE`]).
const LONG: u8 = 0xFF;

/// A long name's hash: 120 bits.
pub type NameHash = [u8; INLINE];

/// A name as the dataflow carries it. See the [module documentation](self).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Name([u8; 16]);

/// Two different names with one hash: the second could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the id {second:?} has the same 120-bit hash as {first:?}, which this run already holds; trueup cannot tell them apart and does not accept it")]
pub struct NameCollision {
    /// The name registered first.
    pub first: String,
    /// The name refused.
    pub second: String,
}

/// A long name whose hash the run's dictionary does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no name is registered under the hash {} in this run", hex(.0))]
pub struct UnknownName(pub NameHash);

/// Where newly registered long names are noted, if anywhere: their hash and text.
pub type NewNames = Option<Vec<(NameHash, String)>>;

impl Name {
    /// The empty name (`""`).
    pub const EMPTY: Name = Name([0; 16]);

    /// The name of `text` without registering it: for names no result shows (accounts),
    /// which are compared, never read back.
    pub fn unregistered(text: &str) -> Name {
        Name::inline(text).unwrap_or_else(|| Name::long(hash_of(text)))
    }

    /// Whether the name is held by hash (and so needs the dictionary to be read back).
    pub fn is_long(&self) -> bool {
        self.0[INLINE] == LONG
    }

    fn inline(text: &str) -> Option<Name> {
        let bytes = text.as_bytes();
        if bytes.len() > INLINE {
            return None;
        }
        let mut out = [0u8; 16];
        out[..bytes.len()].copy_from_slice(bytes);
        out[INLINE] = bytes.len() as u8;
        Some(Name(out))
    }

    fn long(hash: NameHash) -> Name {
        let mut out = [LONG; 16];
        out[..INLINE].copy_from_slice(&hash);
        Name(out)
    }

    /// A long name's hash; `None` for an inline name.
    pub fn long_hash(&self) -> Option<NameHash> {
        self.is_long().then(|| {
            let mut hash = [0u8; INLINE];
            hash.copy_from_slice(&self.0[..INLINE]);
            hash
        })
    }

    /// An inline name's text; `None` for a long name.
    pub fn inline_text(&self) -> Option<String> {
        (!self.is_long()).then(|| {
            let bytes = &self.0[..usize::from(self.0[INLINE])];
            // inline bytes were copied from a `str` whole, so they are UTF-8
            String::from_utf8_lossy(bytes).into_owned()
        })
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.inline_text(), self.long_hash()) {
            (Some(text), _) => write!(f, "{text:?}"),
            (None, Some(hash)) => write!(f, "#{}", hex(&hash)),
            (None, None) => unreachable!("a name is inline or long"),
        }
    }
}

fn hex(hash: &NameHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash a long name is held by: the first 120 bits of the SHA-256 of its bytes, equal in
/// every process of a cluster and every run.
pub fn hash_of(text: &str) -> NameHash {
    let digest = Sha256::digest(text.as_bytes());
    let mut hash = [0u8; INLINE];
    hash.copy_from_slice(&digest[..INLINE]);
    hash
}

/// One registered long name: its text and the latest logical time of a record that named it.
struct Entry {
    text: Box<str>,
    newest: Time,
}

/// A run's dictionary of long names, by hash: shared by its workers (which register names as
/// they read them) and its writer (which reads them back, and releases those no record in the
/// working state holds any more). Nothing in it outlives the run.
pub struct Names {
    hash: fn(&str) -> NameHash,
    /// Whether names are kept here; else (a process of a cluster that writes no results)
    /// every long name is only passed on, each time it is named.
    keeps: bool,
    entries: RwLock<HashMap<NameHash, Entry>>,
}

impl Default for Names {
    fn default() -> Names {
        Names::with_hash(hash_of)
    }
}

impl Names {
    /// A dictionary whose long names are hashed by `hash` instead of [`hash_of`] — to force a
    /// collision, say, and see what becomes of the record that brings it.
    pub fn with_hash(hash: fn(&str) -> NameHash) -> Names {
        Names {
            hash,
            keeps: true,
            entries: RwLock::default(),
        }
    }

    /// A dictionary that keeps nothing and notes every long name each time it is named: for
    /// a process of a cluster that writes no results, which passes the names on to the one
    /// that does (where they are kept, and released) — so that its memory stays bounded too.
    pub fn passing_on() -> Names {
        Names {
            keeps: false,
            ..Names::default()
        }
    }

    /// The name of `text` for a record at logical time `at`, registering it if it is long
    /// (with `new` given, a long name not held before is also pushed onto it, for the
    /// process that writes the results).
    pub fn intern(&self, text: &str, at: Time, new: &mut NewNames) -> Result<Name, NameCollision> {
        if let Some(name) = Name::inline(text) {
            return Ok(name);
        }
        let hash = (self.hash)(text);
        if !self.keeps || self.register(hash, text, at)? {
            if let Some(new) = new.as_mut() {
                new.push((hash, text.to_string()));
            }
        }
        Ok(Name::long(hash))
    }

    /// Registers `text` under `hash` for a record at `at` (as another process registered it):
    /// `true` if it was not held before.
    pub fn register(&self, hash: NameHash, text: &str, at: Time) -> Result<bool, NameCollision> {
        let known = |entry: &Entry| match &*entry.text == text {
            true => Ok(()),
            false => Err(NameCollision {
                first: entry.text.to_string(),
                second: text.to_string(),
            }),
        };
        if let Some(entry) = self.read().get(&hash) {
            known(entry)?;
            if entry.newest >= at {
                return Ok(false);
            }
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        match entries.get_mut(&hash) {
            Some(entry) => {
                known(entry)?;
                entry.newest = entry.newest.max(at);
                Ok(false)
            }
            None => {
                let text = text.into();
                entries.insert(hash, Entry { text, newest: at });
                Ok(true)
            }
        }
    }

    /// The name's text: inline bytes, or the long name registered under its hash.
    pub fn text(&self, name: &Name) -> Result<String, UnknownName> {
        match (name.inline_text(), name.long_hash()) {
            (Some(text), _) => Ok(text),
            (None, Some(hash)) => (self.read().get(&hash))
                .map(|entry| entry.text.to_string())
                .ok_or(UnknownName(hash)),
            (None, None) => unreachable!("a name is inline or long"),
        }
    }

    /// Forgets `name` when no record of a logical time after `at` has named it: no record in
    /// the working state holds it from `at` on, and every result naming it up to `at` has
    /// been written. A record naming it later registers it again.
    pub fn release(&self, name: &Name, at: Time) {
        let Some(hash) = name.long_hash() else { return };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.get(&hash).is_some_and(|entry| entry.newest <= at) {
            entries.remove(&hash);
        }
    }

    /// How many long names the dictionary holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the dictionary holds no long name.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<NameHash, Entry>> {
        // a panic while holding the lock leaves the map itself intact
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A 128-bit fingerprint of `text` and `nanos`: two SipHash digests under different
/// prefixes; `[0, 0]` for the empty string and 0. Two deliveries of one id are told apart by
/// the fields the dataflow carries plus this fingerprint of the rest (their unknown fields,
/// canonical, and the event time below the millisecond).
pub fn fingerprint(text: &str, nanos: u32) -> [u64; 2] {
    use std::hash::{Hash, Hasher};
    if text.is_empty() && nanos == 0 {
        return [0, 0];
    }
    let half = |prefix: u8| {
        let mut hasher = std::hash::DefaultHasher::new();
        prefix.hash(&mut hasher);
        text.hash(&mut hasher);
        nanos.hash(&mut hasher);
        hasher.finish()
    };
    [half(1), half(2)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_names_round_trip_and_order_as_strings() {
        let names = Names::default();
        let texts = [
            "",
            "a",
            "ab",
            "ab\0",
            "abc",
            "evt_0000001_c",
            "j_0000001_cap_3",
        ];
        for text in texts {
            let name = names.intern(text, 0, &mut None).unwrap();
            assert_eq!(names.text(&name).unwrap(), text);
            assert!(!name.is_long(), "{text:?} is inline");
        }
        for pair in texts.windows(2) {
            assert!(
                Name::unregistered(pair[0]) < Name::unregistered(pair[1]),
                "{pair:?}"
            );
        }
        assert!(names.is_empty(), "inline names need no dictionary");
    }

    #[test]
    fn long_names_round_trip_through_the_run_dictionary() {
        let names = Names::default();
        let text = "0b9f2c3e-6a41-4d7e-9f0a-2f1c6d8e4b37";
        let name = names.intern(text, 5, &mut None).unwrap();
        assert!(name.is_long());
        assert_eq!(name, Name::unregistered(text));
        assert_eq!(names.text(&name).unwrap(), text);
        let mut new = Some(Vec::new());
        assert_eq!(names.intern(text, 5, &mut new).unwrap(), name, "idempotent");
        assert_eq!(new, Some(vec![]), "registered before: not noted again");
        let other = "another name of more than fifteen bytes";
        names.intern(other, 5, &mut new).unwrap();
        assert_eq!(new, Some(vec![(hash_of(other), other.to_string())]));
        assert_eq!(names.len(), 2);
        assert_eq!(
            Names::default().text(&name),
            Err(UnknownName(hash_of(text))),
            "per run"
        );
    }

    #[test]
    fn a_forced_collision_is_refused_naming_both_and_the_first_stays() {
        let names = Names::with_hash(|_| [7; INLINE]);
        let first = "a long name registered first";
        let name = names.intern(first, 0, &mut None).unwrap();
        let err = names
            .intern("another long name, same hash", 0, &mut None)
            .unwrap_err();
        assert_eq!(err.first, first);
        assert_eq!(err.second, "another long name, same hash");
        assert!(err.to_string().contains("cannot tell them apart"), "{err}");
        assert_eq!(names.text(&name).unwrap(), first);
    }

    #[test]
    fn a_name_is_released_only_when_no_later_record_named_it() {
        let names = Names::default();
        let text = "a long name that retention retires";
        let name = names.intern(text, 10, &mut None).unwrap();
        names.intern(text, 30, &mut None).unwrap();
        names.release(&name, 20);
        assert_eq!(
            names.text(&name).unwrap(),
            text,
            "a record at 30 still names it"
        );
        names.release(&name, 30);
        assert!(names.text(&name).is_err());
        assert!(names.is_empty());
        names.intern(text, 40, &mut None).unwrap();
        assert_eq!(names.text(&name).unwrap(), text, "registered again");
    }

    #[test]
    fn a_dictionary_that_passes_names_on_keeps_none_and_notes_each() {
        let names = Names::passing_on();
        let text = "a long name read by a process that writes no results";
        let mut new = Some(Vec::new());
        names.intern(text, 1, &mut new).unwrap();
        names.intern(text, 2, &mut new).unwrap();
        assert_eq!(new.map(|n| n.len()), Some(2));
        assert!(names.is_empty());
    }

    #[test]
    fn an_unknown_hash_is_an_error_not_a_guess() {
        let name = Name::long([1; INLINE]);
        assert_eq!(Names::default().text(&name), Err(UnknownName([1; INLINE])));
    }
}
