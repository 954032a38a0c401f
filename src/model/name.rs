//! Names — ids, accounts, merchants — as 16-byte `Copy` values inside the dataflow.
//!
//! A name of up to 15 bytes is held inline: its bytes, zero-padded, then its length. That is
//! exactly reversible and collision-free by construction, and such names order as their
//! strings do. A longer name is held as a 64-bit hash of its bytes and registered once in this
//! process's dictionary of long names, where it is read back when results are written.
//! Registering a different name under a hash already taken is refused with a
//! [`NameCollision`] naming both — the run stops rather than merge two ids. Long names order
//! by hash, after no particular inline name: deterministically, but not as strings.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{LazyLock, RwLock};

use serde::{Deserialize, Serialize};

/// Bytes of a name held inline.
const INLINE: usize = 15;
/// The last byte of a long name's form (an inline length is at most [`INLINE`]).
const LONG: u8 = 0xFF;

/// A name as the dataflow carries it. See the [module documentation](self).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Name([u8; 16]);

/// Two different names with one hash: the second could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two different names share the hash {hash:016x}: {first:?} and {second:?}; trueup cannot tell them apart and stops")]
pub struct NameCollision {
    /// The hash both names have.
    pub hash: u64,
    /// The name registered first.
    pub first: String,
    /// The name refused.
    pub second: String,
}

/// A long name whose hash this process's dictionary does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no name is registered under the hash {0:016x} in this process")]
pub struct UnknownName(pub u64);

/// Where newly registered long names are noted, if anywhere: their hash and text.
pub type NewNames = Option<Vec<(u64, String)>>;

/// This process's long names, by hash.
static LONG_NAMES: LazyLock<RwLock<HashMap<u64, Box<str>>>> = LazyLock::new(RwLock::default);

impl Name {
    /// The name of `text`, registering it in the dictionary if it is long.
    pub fn intern(text: &str) -> Result<Name, NameCollision> {
        Name::intern_noting(text, &mut None)
    }

    /// As [`Name::intern`]; with `new` given, a long name this process had not registered
    /// before is also pushed onto it (to be passed to the process that writes the results).
    pub fn intern_noting(text: &str, new: &mut NewNames) -> Result<Name, NameCollision> {
        if let Some(name) = Name::inline(text) {
            return Ok(name);
        }
        let hash = hash_of(text);
        if register(hash, text)? {
            if let Some(new) = new.as_mut() {
                new.push((hash, text.to_string()));
            }
        }
        Ok(Name::long(hash))
    }

    /// The name's text: inline bytes, or the long name registered under its hash.
    pub fn text(&self) -> Result<String, UnknownName> {
        match self.long_hash() {
            None => {
                let bytes = &self.0[..usize::from(self.0[INLINE])];
                // inline bytes were copied from a `str` whole, so they are UTF-8
                Ok(String::from_utf8_lossy(bytes).into_owned())
            }
            Some(hash) => read_dictionary()
                .get(&hash)
                .map(|text| text.to_string())
                .ok_or(UnknownName(hash)),
        }
    }

    /// Registers `text` under `hash`, as another process registered it.
    pub fn register(hash: u64, text: &str) -> Result<(), NameCollision> {
        register(hash, text).map(|_| ())
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

    fn long(hash: u64) -> Name {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&hash.to_be_bytes());
        out[INLINE] = LONG;
        Name(out)
    }

    fn long_hash(&self) -> Option<u64> {
        (self.0[INLINE] == LONG).then(|| {
            let mut hash = [0u8; 8];
            hash.copy_from_slice(&self.0[..8]);
            u64::from_be_bytes(hash)
        })
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Ok(text) => write!(f, "{text:?}"),
            Err(UnknownName(hash)) => write!(f, "#{hash:016x}"),
        }
    }
}

/// The hash a long name is held by: SipHash with fixed keys, equal in every process of a
/// cluster (which runs one binary).
fn hash_of(text: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

fn read_dictionary() -> std::sync::RwLockReadGuard<'static, HashMap<u64, Box<str>>> {
    // a panic while holding the lock leaves the map itself intact
    LONG_NAMES.read().unwrap_or_else(|e| e.into_inner())
}

/// Registers `text` under `hash`: `true` if it was not registered before.
fn register(hash: u64, text: &str) -> Result<bool, NameCollision> {
    let known = |first: &str| match first == text {
        true => Ok(false),
        false => Err(NameCollision {
            hash,
            first: first.to_string(),
            second: text.to_string(),
        }),
    };
    if let Some(first) = read_dictionary().get(&hash) {
        return known(first);
    }
    let mut names = LONG_NAMES.write().unwrap_or_else(|e| e.into_inner());
    match names.get(&hash) {
        Some(first) => known(first),
        None => {
            names.insert(hash, text.into());
            Ok(true)
        }
    }
}

/// A 128-bit fingerprint of `text` and `nanos`: two SipHash digests under different
/// prefixes; `[0, 0]` for the empty string and 0. Two deliveries of one id are told apart by
/// the fields the dataflow carries plus this fingerprint of the rest (their unknown fields,
/// canonical, and the event time below the millisecond).
pub fn fingerprint(text: &str, nanos: u32) -> [u64; 2] {
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
            let name = Name::intern(text).unwrap();
            assert_eq!(name.text().unwrap(), text);
            assert!(name.long_hash().is_none(), "{text:?} is inline");
        }
        for pair in texts.windows(2) {
            let (a, b) = (Name::intern(pair[0]), Name::intern(pair[1]));
            assert!(a.unwrap() < b.unwrap(), "{pair:?}");
        }
    }

    #[test]
    fn long_names_round_trip_through_the_dictionary() {
        let text = "0b9f2c3e-6a41-4d7e-9f0a-2f1c6d8e4b37";
        let name = Name::intern(text).unwrap();
        assert!(name.long_hash().is_some());
        assert_eq!(name.text().unwrap(), text);
        assert_eq!(Name::intern(text).unwrap(), name, "interning is idempotent");
        let mut new = Some(Vec::new());
        Name::intern_noting(text, &mut new).unwrap();
        assert_eq!(new, Some(vec![]), "registered before: not noted again");
        let other = "another name of more than fifteen bytes";
        Name::intern_noting(other, &mut new).unwrap();
        assert_eq!(new, Some(vec![(hash_of(other), other.to_string())]));
        assert_ne!(Name::intern("sixteen-bytes-xx").unwrap(), name);
    }

    #[test]
    fn a_forced_collision_is_refused_naming_both() {
        let first = "a long name registered first";
        let hash = hash_of(first);
        Name::intern(first).unwrap();
        let err = Name::register(hash, "another long name, same hash").unwrap_err();
        assert_eq!(err.first, first);
        assert_eq!(err.second, "another long name, same hash");
        assert!(err.to_string().contains("cannot tell them apart"), "{err}");
        // the name registered first still reads back
        assert_eq!(Name::long(hash).text().unwrap(), first);
    }

    #[test]
    fn an_unknown_hash_is_an_error_not_a_guess() {
        let name = Name::long(0x0123_4567_89ab_cdef);
        assert_eq!(name.text(), Err(UnknownName(0x0123_4567_89ab_cdef)));
    }
}
