//! A hash table from customer id to per-customer state, built for one job: tens of millions of
//! lookups of about a million short ids, in random order.
//!
//! * Entries live in one `Vec` in insertion order, so the index of a customer is its order of
//!   first appearance and no separate order needs to be kept.
//! * Ids of up to [`INLINE`] bytes (UUIDs included) are stored inside the entry, next to the
//!   state, so a successful lookup touches the slot array and one entry.
//! * The slot array holds 32 bits of the hash and the entry index, probed linearly at a load
//!   factor of at most 1/2; a key is compared only when the stored hash bits match.
//! * Callers that know upcoming ids can prefetch their slot and entry, which hides most of the
//!   memory latency of random lookups.

use std::hash::Hasher;

use rustc_hash::FxHasher;

use crate::error::DataError;

/// Longest id stored inline.
const INLINE: usize = 38;

/// A customer id: inline when short, on the heap otherwise.
#[derive(Debug, Clone)]
pub(crate) enum IdKey {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl IdKey {
    fn new(id: &[u8]) -> Self {
        if id.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..id.len()].copy_from_slice(id);
            IdKey::Inline {
                len: id.len() as u8,
                buf,
            }
        } else {
            IdKey::Heap(id.into())
        }
    }

    /// The id's bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            IdKey::Inline { len, buf } => &buf[..usize::from(*len)],
            IdKey::Heap(b) => b,
        }
    }
}

/// One customer: id and state.
#[derive(Debug)]
pub(crate) struct Entry<V> {
    pub key: IdKey,
    pub value: V,
}

/// The hash of an id as used by [`IdTable`].
#[inline]
pub(crate) fn hash(id: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(id);
    h.finish()
}

/// Hints the processor to bring the cache line at `p` in; no effect on other targets.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is only a hint and never faults, whatever the address; SSE is part of
    // the x86_64 baseline. (Newer compilers consider this intrinsic safe; older ones do not.)
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Customer id → state, entries kept in insertion order.
pub(crate) struct IdTable<V> {
    /// 0 = empty; otherwise high 32 bits: hash bits, low 32 bits: entry index + 1.
    slots: Vec<u64>,
    mask: usize,
    entries: Vec<Entry<V>>,
}

impl<V> IdTable<V> {
    pub(crate) fn new() -> Self {
        const INITIAL: usize = 1 << 10;
        IdTable {
            slots: vec![0; INITIAL],
            mask: INITIAL - 1,
            entries: Vec::new(),
        }
    }

    /// Number of ids.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries in insertion order, mutably (keys cannot change through `Entry::value`).
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|e| &mut e.value)
    }

    /// Consumes the table, returning the entries in insertion order.
    pub(crate) fn into_entries(self) -> Vec<Entry<V>> {
        self.entries
    }

    /// Prefetches the slot of hash `h`. Call well ahead of the lookup.
    #[inline]
    pub(crate) fn prefetch_slot(&self, h: u64) {
        prefetch(&self.slots[h as usize & self.mask]);
    }

    /// Prefetches the entry the slot of hash `h` points at, if its hash bits match. Call after
    /// [`prefetch_slot`](Self::prefetch_slot) had time to land, and ahead of the lookup.
    #[inline]
    pub(crate) fn prefetch_entry(&self, h: u64) {
        let slot = self.slots[h as usize & self.mask];
        if slot != 0 && (slot >> 32) as u32 == (h >> 32) as u32 {
            if let Some(entry) = self.entries.get((slot as u32 - 1) as usize) {
                let p: *const Entry<V> = entry;
                prefetch(p);
                prefetch(p.cast::<u8>().wrapping_add(64));
            }
        }
    }

    /// Finds `id` (whose hash is `h`): `Ok(index)` if present, `Err(slot)` with the free slot
    /// where it would go otherwise.
    #[inline]
    fn find(&self, id: &[u8], h: u64) -> Result<usize, usize> {
        let bits = (h >> 32) as u32;
        let mut i = h as usize & self.mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return Err(i);
            }
            if (slot >> 32) as u32 == bits {
                let index = (slot as u32 - 1) as usize;
                if self.entries[index].key.bytes() == id {
                    return Ok(index);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The state of `id` (whose hash is `h`), if present.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: &[u8], h: u64) -> Option<&mut V> {
        match self.find(id, h) {
            Ok(index) => Some(&mut self.entries[index].value),
            Err(_) => None,
        }
    }

    /// The state of `id` (whose hash is `h`), inserting `make()` first if absent.
    #[inline]
    pub(crate) fn get_or_insert_with(
        &mut self,
        id: &[u8],
        h: u64,
        make: impl FnOnce() -> V,
    ) -> Result<&mut V, DataError> {
        let index = match self.find(id, h) {
            Ok(index) => index,
            Err(slot) => {
                let index = self.entries.len();
                if index >= (u32::MAX - 1) as usize {
                    return Err(DataError::Internal("more than 4 billion customers".into()));
                }
                self.entries.push(Entry {
                    key: IdKey::new(id),
                    value: make(),
                });
                self.slots[slot] = (h >> 32 << 32) | (index as u64 + 1);
                if self.entries.len() * 2 > self.slots.len() {
                    self.grow();
                }
                index
            }
        };
        Ok(&mut self.entries[index].value)
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        self.mask = size - 1;
        self.slots = vec![0; size];
        for (index, entry) in self.entries.iter().enumerate() {
            let h = hash(entry.key.bytes());
            let mut i = h as usize & self.mask;
            while self.slots[i] != 0 {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = (h >> 32 << 32) | (index as u64 + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_id_after_growth_in_insertion_order() {
        let mut table = IdTable::new();
        let ids: Vec<String> = (0..5000)
            .map(|i| {
                if i % 7 == 0 {
                    format!("a-long-customer-identifier-beyond-the-inline-size-{i}")
                } else {
                    format!("c{i}")
                }
            })
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let v = table
                .get_or_insert_with(id.as_bytes(), hash(id.as_bytes()), || n)
                .unwrap();
            assert_eq!(*v, n);
        }
        for (n, id) in ids.iter().enumerate() {
            table.prefetch_slot(hash(id.as_bytes()));
            table.prefetch_entry(hash(id.as_bytes()));
            assert_eq!(
                table.get_mut(id.as_bytes(), hash(id.as_bytes())).copied(),
                Some(n)
            );
            assert_eq!(
                *table
                    .get_or_insert_with(id.as_bytes(), hash(id.as_bytes()), || 0)
                    .unwrap(),
                n
            );
        }
        assert_eq!(table.len(), ids.len());
        assert!(table.get_mut(b"absent", hash(b"absent")).is_none());
        let entries = table.into_entries();
        let keys: Vec<&[u8]> = entries.iter().map(|e| e.key.bytes()).collect();
        assert_eq!(keys, ids.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
    }

    #[test]
    fn ids_that_share_hash_bits_are_told_apart_by_their_bytes() {
        let mut table = IdTable::new();
        // Force identical hashes: the table must compare the bytes.
        *table.get_or_insert_with(b"x", 42, || 1).unwrap() += 0;
        *table.get_or_insert_with(b"y", 42, || 2).unwrap() += 0;
        assert_eq!(table.get_mut(b"x", 42).copied(), Some(1));
        assert_eq!(table.get_mut(b"y", 42).copied(), Some(2));
        assert_eq!(table.get_mut(b"z", 42), None);
    }
}
