//! Values held at stable indices, in chunks of a fixed size: growing allocates a new chunk and
//! never moves what is held, so a state of millions of records grows without the transient
//! second copy a growing `Vec` or hash map makes (both old and new tables resident at once).
//! Freed indices are reused before the storage grows.

/// Values per chunk (a power of two, so the last chunk's `Vec` doubles exactly up to it).
const CHUNK: usize = 1 << 16;

/// Values at stable indices. See the [module documentation](self).
pub(crate) struct Slots<T> {
    chunks: Vec<Vec<T>>,
    free: Vec<usize>,
}

impl<T> Slots<T> {
    /// Nothing held.
    pub(crate) fn new() -> Self {
        Slots {
            chunks: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Holds `value`, returning its index.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        if let Some(index) = self.free.pop() {
            *self.get_mut(index) = value;
            return index;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::new());
        }
        let full = (self.chunks.len() - 1) * CHUNK;
        let last = self
            .chunks
            .last_mut()
            .expect("a chunk with room was just ensured");
        last.push(value);
        full + last.len() - 1
    }

    /// The value at `index`, which [`insert`](Slots::insert) returned and
    /// [`remove`](Slots::remove) has not freed since, to read or change in place.
    pub(crate) fn get_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index / CHUNK][index % CHUNK]
    }

    /// Frees `index` for reuse; its value stays until then, unreachable.
    pub(crate) fn remove(&mut self, index: usize) {
        self.free.push(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_stable_across_chunks_and_freed_ones_are_reused() {
        let mut slots = Slots::new();
        let indices: Vec<usize> = (0..CHUNK as u64 + 10).map(|v| slots.insert(v)).collect();
        assert_eq!(indices, (0..CHUNK + 10).collect::<Vec<_>>());
        assert_eq!(*slots.get_mut(CHUNK + 3), CHUNK as u64 + 3);
        *slots.get_mut(5) = 50;
        slots.remove(7);
        assert_eq!(slots.insert(70), 7);
        assert_eq!((*slots.get_mut(5), *slots.get_mut(7)), (50, 70));
        assert_eq!(slots.insert(1), CHUNK + 10);
    }
}
