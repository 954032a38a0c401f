//! Values by key, held at stable indices in chunks of a fixed size: the hash map holds each key
//! and an index, and growing allocates a new chunk without moving what is held, so a state of
//! millions of records grows without the transient second copy a growing `Vec` or hash map
//! makes (old and new tables resident at once), and the map's spare buckets reserve an index,
//! not a record. A removed value is dropped at once; its index is reused before storage grows.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

/// Values per chunk (a power of two, so the last chunk's `Vec` doubles exactly up to it).
const CHUNK: usize = 1 << 16;

/// Values by key. See the [module documentation](self).
pub(crate) struct Keyed<K, V> {
    index: HashMap<K, usize, foldhash::fast::FixedState>,
    chunks: Vec<Vec<Option<V>>>,
    free: Vec<usize>,
}

impl<K, V> Keyed<K, V> {
    /// Nothing held.
    pub(crate) fn new() -> Self {
        Keyed {
            index: HashMap::default(),
            chunks: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<K: Eq + Hash, V> Keyed<K, V> {
    /// The value of `key`, if it has one.
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let at = *self.index.get(key)?;
        self.slot(at).as_mut()
    }

    /// The value of `key`, made by `new` (one lookup either way) when it has none.
    pub(crate) fn get_or_insert_with(&mut self, key: K, new: impl FnOnce() -> V) -> &mut V {
        let at = match self.index.entry(key) {
            Entry::Occupied(slot) => *slot.get(),
            Entry::Vacant(slot) => {
                let at = match self.free.pop() {
                    Some(at) => at,
                    None => push_slot(&mut self.chunks),
                };
                *slot.insert(at)
            }
        };
        let slot = self.slot(at);
        slot.get_or_insert_with(new)
    }

    /// Drops the value of `key`, if it has one, and frees its index.
    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(at) = self.index.remove(key) {
            *self.slot(at) = None;
            self.free.push(at);
        }
    }

    fn slot(&mut self, at: usize) -> &mut Option<V> {
        &mut self.chunks[at / CHUNK][at % CHUNK]
    }
}

/// A new empty slot at the end of `chunks` (in a new chunk when the last is full); its index.
fn push_slot<V>(chunks: &mut Vec<Vec<Option<V>>>) -> usize {
    if chunks.last().is_none_or(|c| c.len() == CHUNK) {
        chunks.push(Vec::new());
    }
    let full = (chunks.len() - 1) * CHUNK;
    let last = chunks
        .last_mut()
        .expect("a chunk with room was just ensured");
    last.push(None);
    full + last.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_by_key_across_chunks_and_freed_indices_are_reused() {
        let mut held = Keyed::new();
        for key in 0..CHUNK as u64 + 10 {
            *held.get_or_insert_with(key, || 0) += key;
        }
        assert_eq!(held.index[&(CHUNK as u64 + 3)], CHUNK + 3);
        assert_eq!(
            held.get_mut(&(CHUNK as u64 + 3)),
            Some(&mut (CHUNK as u64 + 3))
        );
        *held.get_or_insert_with(5, || 0) = 50;
        held.remove(&7);
        assert_eq!(held.get_mut(&7), None);
        let (reusing, growing) = (CHUNK as u64 + 100, CHUNK as u64 + 101);
        assert_eq!(*held.get_or_insert_with(reusing, || 70), 70);
        assert_eq!(held.index[&reusing], 7);
        assert_eq!(held.get_mut(&5), Some(&mut 50));
        assert_eq!(held.index.len(), CHUNK + 10);
        held.get_or_insert_with(growing, || 71);
        assert_eq!(held.index[&growing], CHUNK + 10);
    }
}
