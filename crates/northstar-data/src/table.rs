//! A hash table from customer id to per-customer state, built for one job: tens of millions of
//! lookups of about a million short ids, in random order.
//!
//! * Entries live in insertion order, so the index of a customer is its order of first
//!   appearance and no separate order needs to be kept. They are stored in chunks of fixed size,
//!   so that growing never moves (copies) an entry and the memory peak is not doubled.
//! * An entry is a 16-byte key and the state. Ids of up to [`INLINE`] bytes are stored inside
//!   the key, so a successful lookup touches the slot array and one entry, and compares keys as
//!   two words; longer ids (UUIDs, say) are stored back to back in an arena.
//! * The slot array holds 32 bits of the hash and the entry index, probed linearly at a load
//!   factor of at most 1/2; a key is compared only when the stored hash bits match. The stored
//!   bits are the ones that choose the slot, so the slot array is rebuilt without reading the
//!   entries.
//! * Callers that know upcoming ids can prefetch their slot and entry, which hides most of the
//!   memory latency of random lookups.
//! * Memory is mapped by the kernel on first touch, at a cost that dominates filling a new
//!   chunk; the next chunk is therefore touched ahead of time on another thread.

use std::hash::Hasher;
use std::sync::{mpsc, Mutex};

use rustc_hash::FxHasher;

use crate::error::DataError;

/// Longest id stored inside its key.
const INLINE: usize = 15;
/// The last byte of a key whose id is in the arena (inline keys hold their length there).
const LONG: u8 = 0xFF;

/// A customer id: up to [`INLINE`] bytes inline (zero-padded, the length in the last byte), or
/// where its bytes are: in the table, a place in the [`Arena`]; in [`Rows`](crate::scan::Rows),
/// a range of their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Key([u8; 16]);

impl Key {
    /// The inline key of `id`, if it is short enough.
    #[inline]
    pub(crate) fn inline(id: &[u8]) -> Option<Key> {
        if id.len() > INLINE {
            return None;
        }
        // Whole words, without a variable-length copy: ids are short and this is on the path
        // of every lookup.
        let (low, high) = if id.len() <= 8 {
            (load(id), 0)
        } else {
            (load(&id[..8]), load(&id[8..]))
        };
        let high = high | (id.len() as u64) << 56;
        let mut key = [0; 16];
        key[..8].copy_from_slice(&low.to_le_bytes());
        key[8..].copy_from_slice(&high.to_le_bytes());
        Some(Key(key))
    }

    /// A key for the range `start..start + len` of some bytes kept elsewhere.
    pub(crate) fn range(start: u32, len: u32) -> Key {
        Key::long(0, start, len)
    }

    /// The id of an inline key.
    #[inline]
    pub(crate) fn inline_bytes(&self) -> Option<&[u8]> {
        (!self.is_long()).then(|| &self.0[..usize::from(self.0[15])])
    }

    /// The range of a key made by [`Key::range`].
    #[inline]
    pub(crate) fn range_of(&self) -> std::ops::Range<usize> {
        let (_, start, len) = self.place();
        start..start + len
    }

    fn long(segment: u32, offset: u32, len: u32) -> Key {
        let mut key = [0; 16];
        key[0..4].copy_from_slice(&segment.to_le_bytes());
        key[4..8].copy_from_slice(&offset.to_le_bytes());
        key[8..12].copy_from_slice(&len.to_le_bytes());
        key[15] = LONG;
        Key(key)
    }

    #[inline]
    pub(crate) fn is_long(&self) -> bool {
        self.0[15] == LONG
    }

    /// Segment, offset and length of a long key.
    fn place(&self) -> (usize, usize, usize) {
        let word = |i: usize| {
            u32::from_le_bytes([self.0[i], self.0[i + 1], self.0[i + 2], self.0[i + 3]]) as usize
        };
        (word(0), word(4), word(8))
    }
}

/// The bytes of `b` (at most 8) as a little-endian word, zero-padded.
#[inline]
fn load(b: &[u8]) -> u64 {
    let n = b.len();
    debug_assert!(n <= 8);
    // Two overlapping loads of a power-of-two size; the overlap holds the same bytes in both.
    if n >= 4 {
        let low = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let high = u64::from(u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]));
        low | high << (8 * (n - 4))
    } else if n >= 2 {
        let low = u64::from(u16::from_le_bytes([b[0], b[1]]));
        let high = u64::from(u16::from_le_bytes([b[n - 2], b[n - 1]]));
        low | high << (8 * (n - 2))
    } else if n == 1 {
        u64::from(b[0])
    } else {
        0
    }
}

/// Long ids, back to back in segments that never move.
#[derive(Default)]
struct Arena {
    segments: Vec<Vec<u8>>,
}

impl Arena {
    const SEGMENT: usize = 1 << 20;

    /// Stores `id` and returns its key; `None` if the id is longer than 4 GiB.
    fn push(&mut self, id: &[u8]) -> Option<Key> {
        let fits = self
            .segments
            .last()
            .is_some_and(|s| s.capacity() - s.len() >= id.len());
        if !fits {
            self.segments
                .push(Vec::with_capacity(id.len().max(Self::SEGMENT)));
        }
        let segment = self.segments.len() - 1;
        let bytes = &mut self.segments[segment];
        let offset = bytes.len();
        bytes.extend_from_slice(id);
        Some(Key::long(
            u32::try_from(segment).ok()?,
            u32::try_from(offset).ok()?,
            u32::try_from(id.len()).ok()?,
        ))
    }

    fn get(&self, key: &Key) -> &[u8] {
        let (segment, offset, len) = key.place();
        &self.segments[segment][offset..offset + len]
    }
}

/// One customer: id and state.
#[derive(Debug, Clone, Copy)]
struct Entry<V> {
    key: Key,
    value: V,
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

/// Entries per chunk (the first chunk grows up to this size).
const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Customer id → state, entries kept in insertion order.
pub(crate) struct IdTable<V> {
    /// 0 = empty; otherwise high 32 bits: the low 32 bits of the hash, low 32 bits: entry
    /// index + 1.
    slots: Vec<u64>,
    mask: usize,
    len: usize,
    /// The entries: entry `i` is `chunks[i / CHUNK][i % CHUNK]`.
    chunks: Vec<Vec<Entry<V>>>,
    /// The next chunk, being prepared on another thread (see [`touched_chunk`]).
    spare: Option<Spare<Vec<Entry<V>>>>,
    /// The next slot array (twice the size), being prepared on another thread.
    spare_slots: Option<Spare<Vec<u64>>>,
    arena: Arena,
}

/// Something being made on the rayon pool (the mutex only makes the table `Sync`).
struct Spare<T>(Mutex<mpsc::Receiver<T>>);

impl<T> Spare<T> {
    /// Waits for the thing; `None` if making it failed.
    fn take(self) -> Option<T> {
        self.0.into_inner().ok()?.recv().ok()
    }
}

/// Runs `make` on the rayon pool, whose threads persist (so no thread is started and stopped
/// for it). `None` when called from the pool itself, where waiting for another pool task could
/// wait forever.
fn prepare<T: Send + 'static>(make: impl FnOnce() -> T + Send + 'static) -> Option<Spare<T>> {
    if rayon::current_thread_index().is_some() {
        return None;
    }
    let (tx, rx) = mpsc::sync_channel(1);
    rayon::spawn(move || {
        // The table may be gone already; then the result is simply dropped.
        let _ = tx.send(make());
    });
    Some(Spare(Mutex::new(rx)))
}

/// Slot arrays at least this long are prepared ahead on another thread.
const PREPARE_SLOTS: usize = 1 << 16;

/// `n` empty slots whose memory has been written once (see [`touched_chunk`]).
fn touched_slots(n: usize) -> Vec<u64> {
    let mut slots = Vec::with_capacity(n);
    // Hide the fresh allocation from the optimizer, so that the zeros are really written.
    std::hint::black_box(&mut slots);
    slots.resize(n, 0);
    slots
}

/// An empty chunk with room for [`CHUNK`] entries whose memory has been written once. Filling
/// it then does not stop at a page fault every few entries: the kernel's work of mapping the
/// memory is done on the thread that prepares the chunk, while the table's thread keeps going.
fn touched_chunk<V: Copy + Default>() -> Vec<Entry<V>> {
    let mut chunk = Vec::with_capacity(CHUNK);
    std::hint::black_box(&mut chunk);
    chunk.resize(
        CHUNK,
        Entry {
            key: Key::default(),
            value: V::default(),
        },
    );
    chunk.clear();
    chunk
}

impl<V: Copy + Default + Send + 'static> IdTable<V> {
    pub(crate) fn new() -> Self {
        const INITIAL: usize = 1 << 10;
        IdTable {
            slots: vec![0; INITIAL],
            mask: INITIAL - 1,
            len: 0,
            chunks: Vec::new(),
            spare: None,
            spare_slots: None,
            arena: Arena::default(),
        }
    }

    /// Number of ids.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn entry(&self, index: usize) -> &Entry<V> {
        &self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)]
    }

    /// The id of entry `index` (in insertion order).
    pub(crate) fn id(&self, index: usize) -> &[u8] {
        let key = &self.entry(index).key;
        if key.is_long() {
            self.arena.get(key)
        } else {
            &key.0[..usize::from(key.0[15])]
        }
    }

    /// The state of entry `index` (in insertion order).
    #[inline]
    pub(crate) fn value(&self, index: usize) -> &V {
        &self.entry(index).value
    }

    /// The state of entry `index` (in insertion order), mutably.
    #[inline]
    pub(crate) fn value_mut(&mut self, index: usize) -> &mut V {
        &mut self.chunks[index >> CHUNK_BITS][index & (CHUNK - 1)].value
    }

    /// The states in insertion order, mutably.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.chunks.iter_mut().flatten().map(|e| &mut e.value)
    }

    /// The slot where the search for hash `h` starts.
    #[inline]
    fn home(&self, h: u64) -> usize {
        h as u32 as usize & self.mask
    }

    /// Prefetches the slot of hash `h`. Call well ahead of the lookup.
    #[inline]
    pub(crate) fn prefetch_slot(&self, h: u64) {
        prefetch(&self.slots[self.home(h)]);
    }

    /// Prefetches the entry the slot of hash `h` points at, if its hash bits match. Call after
    /// [`prefetch_slot`](Self::prefetch_slot) had time to land, and ahead of the lookup.
    #[inline]
    pub(crate) fn prefetch_entry(&self, h: u64) {
        let slot = self.slots[self.home(h)];
        if slot != 0 && (slot >> 32) as u32 == h as u32 {
            let index = (slot as u32 - 1) as usize;
            let entry = self
                .chunks
                .get(index >> CHUNK_BITS)
                .and_then(|c| c.get(index & (CHUNK - 1)));
            if let Some(entry) = entry {
                prefetch(entry);
            }
        }
    }

    /// Finds `id` (whose hash is `h` and whose inline key, if short enough, is `probe`):
    /// `Ok(index)` if present, `Err(slot)` with the free slot where it would go otherwise.
    #[inline]
    fn find(&self, id: &[u8], probe: Option<Key>, h: u64) -> Result<usize, usize> {
        let bits = h as u32;
        let mut i = self.home(h);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return Err(i);
            }
            if (slot >> 32) as u32 == bits {
                let index = (slot as u32 - 1) as usize;
                let key = &self.entry(index).key;
                let found = match probe {
                    Some(probe) => *key == probe,
                    None => key.is_long() && self.arena.get(key) == id,
                };
                if found {
                    return Ok(index);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The state of `id` (whose hash is `h`), if present.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: &[u8], h: u64) -> Option<&mut V> {
        match self.find(id, Key::inline(id), h) {
            Ok(index) => Some(self.value_mut(index)),
            Err(_) => None,
        }
    }

    /// The index of `id` (whose hash is `h`), inserting it with state `make()` if absent.
    #[inline]
    pub(crate) fn index_or_insert(
        &mut self,
        id: &[u8],
        h: u64,
        make: impl FnOnce() -> V,
    ) -> Result<usize, DataError> {
        let probe = Key::inline(id);
        match self.find(id, probe, h) {
            Ok(index) => Ok(index),
            Err(slot) => self.insert(slot, id, probe, h, make()),
        }
    }

    #[inline(never)]
    fn insert(
        &mut self,
        slot: usize,
        id: &[u8],
        probe: Option<Key>,
        h: u64,
        value: V,
    ) -> Result<usize, DataError> {
        let index = self.len;
        if index >= (u32::MAX - 1) as usize {
            return Err(DataError::Internal("more than 4 billion customers".into()));
        }
        let key = match probe {
            Some(key) => key,
            None => self
                .arena
                .push(id)
                .ok_or_else(|| DataError::Internal("a customer id is longer than 4 GiB".into()))?,
        };
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            let chunk = match self.spare.take() {
                Some(spare) => spare.take().unwrap_or_else(|| Vec::with_capacity(CHUNK)),
                // The first chunk grows as needed, so that small tables stay small.
                None if self.chunks.is_empty() => Vec::with_capacity(16),
                None => Vec::with_capacity(CHUNK),
            };
            self.chunks.push(chunk);
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(Entry { key, value });
        }
        self.len += 1;
        if self.len % CHUNK == CHUNK / 2 && self.spare.is_none() {
            // Half way through a chunk: have the next one prepared.
            self.spare = prepare(touched_chunk::<V>);
        }
        self.slots[slot] = (h << 32) | (index as u64 + 1);
        if self.len * 2 > self.slots.len() {
            self.grow();
        } else if self.len * 4 == self.slots.len()
            && self.slots.len() >= PREPARE_SLOTS
            && self.spare_slots.is_none()
        {
            // Half way to the next growth: have the bigger slot array prepared.
            let size = 2 * self.slots.len();
            self.spare_slots = prepare(move || touched_slots(size));
        }
        Ok(index)
    }

    /// Doubles the slot array. Each slot's hash bits give its new home, so the entries are not
    /// read.
    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let mask = size - 1;
        let fresh = match self.spare_slots.take().and_then(Spare::take) {
            Some(slots) if slots.len() == size => slots,
            _ => vec![0; size],
        };
        let old = std::mem::replace(&mut self.slots, fresh);
        self.mask = mask;
        for slot in old.into_iter().filter(|&s| s != 0) {
            let mut i = (slot >> 32) as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl<V: Copy + Default + Send + 'static> IdTable<V> {
        fn get_or_insert_with(
            &mut self,
            id: &[u8],
            h: u64,
            make: impl FnOnce() -> V,
        ) -> Result<&mut V, DataError> {
            let index = self.index_or_insert(id, h, make)?;
            Ok(self.value_mut(index))
        }
    }

    #[test]
    fn finds_every_id_after_growth_in_insertion_order() {
        let mut table = IdTable::new();
        let ids: Vec<String> = (0..150_000)
            .map(|i| {
                match i % 7 {
                    0 => format!("a-long-customer-identifier-beyond-the-inline-size-{i}"),
                    // Exactly the longest inline id, and one byte more.
                    1 => format!("x{i:014}"),
                    2 => format!("y{i:015}"),
                    _ => format!("c{i}"),
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
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(table.id(n), id.as_bytes());
            assert_eq!(*table.value(n), n);
        }
        let values: Vec<usize> = table.values_mut().map(|v| *v).collect();
        assert_eq!(values, (0..ids.len()).collect::<Vec<_>>());
    }

    #[test]
    fn word_loads_and_inline_keys_agree_with_the_bytes() {
        let bytes: Vec<u8> = (1..=40).collect();
        for len in 0..=8 {
            let want = bytes[..len]
                .iter()
                .rev()
                .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
            assert_eq!(load(&bytes[..len]), want, "length {len}");
        }
        for len in 0..=20 {
            let id = &bytes[..len];
            match Key::inline(id) {
                Some(key) => {
                    assert!(len <= INLINE);
                    assert_eq!(key.inline_bytes(), Some(id));
                    // One byte different, anywhere, gives a different key.
                    for i in 0..len {
                        let mut other = id.to_vec();
                        other[i] ^= 0x80;
                        assert_ne!(Key::inline(&other), Some(key));
                    }
                    assert_ne!(Key::inline(&bytes[..len + 1]), Some(key));
                }
                None => assert!(len > INLINE),
            }
        }
        let range = Key::range(7, 30);
        assert!(range.is_long());
        assert_eq!(range.inline_bytes(), None);
        assert_eq!(range.range_of(), 7..37);
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
        // Long ids (in the arena), and a short id whose inline key could be mistaken for one.
        let long_a = b"a-customer-id-longer-than-fifteen-bytes-a".as_slice();
        let long_b = b"a-customer-id-longer-than-fifteen-bytes-b".as_slice();
        *table.get_or_insert_with(long_a, 42, || 3).unwrap() += 0;
        *table.get_or_insert_with(long_b, 42, || 4).unwrap() += 0;
        assert_eq!(table.get_mut(long_a, 42).copied(), Some(3));
        assert_eq!(table.get_mut(long_b, 42).copied(), Some(4));
        assert_eq!(table.get_mut(&long_a[..15], 42), None);
        assert_eq!(table.id(2), long_a);
        assert_eq!(table.id(3), long_b);
    }
}
