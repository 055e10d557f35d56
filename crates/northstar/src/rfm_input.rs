//! Reads an RFM table and validates every row into the models' [`Rfm`] type, naming the file
//! and line of any row that breaks the rules.
//!
//! Rows are parsed and validated chunk by chunk on every core ([`RfmFile::fold`]). Fitting
//! needs only the distinct rows and how many customers share each ([`read_distinct`]), so a
//! million-customer table never becomes a million-entry vector there.

use anyhow::{bail, Context, Result};
use northstar_data::{CustomerIds, RfmFile, RfmInput};
use northstar_models::{validate_weight, CompressedRfm, CompressedRow, Rfm};
use rayon::prelude::*;
use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::path::Path;

/// Whether the command needs the `monetary_value` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monetary {
    /// Purchase models ignore spend.
    Ignore,
    /// Spend models and CLV need it.
    Required,
}

/// Validated customers from an RFM file.
pub struct Customers {
    /// Customer ids, in file order.
    pub ids: CustomerIds,
    /// One validated summary per customer.
    pub rfm: Vec<Rfm>,
    /// Row weights, when the file has a `weight` column.
    pub weights: Option<Vec<f64>>,
}

/// Opens `path` (`id_col` names the customer-id column) and checks that it has the columns the
/// command needs.
pub fn open(path: &Path, id_col: &str, monetary: Monetary) -> Result<RfmFile> {
    let file = RfmFile::open(path, id_col)?;
    if monetary == Monetary::Required && !file.has_monetary_value() {
        bail!(
            "{}: no monetary_value column; the spend model needs the mean repeat-purchase \
             spend per customer (northstar summarize writes it when the log has amounts)",
            path.display()
        );
    }
    Ok(file)
}

/// Validates one row: its summary (with the monetary value when `monetary` is required) and
/// its weight (1 without a `weight` column).
pub fn validate(file: &RfmFile, row: &RfmInput<'_>, monetary: Monetary) -> Result<(Rfm, f64)> {
    let context = || format!("{}: line {}", file.path().display(), row.line);
    let monetary_value = match monetary {
        Monetary::Ignore => None,
        Monetary::Required => Some(
            row.monetary_value
                .with_context(|| format!("{}: empty monetary_value", context()))?,
        ),
    };
    let rfm =
        Rfm::try_new(row.frequency, row.recency, row.t, monetary_value).with_context(context)?;
    let weight = if file.has_weight() {
        let weight = row
            .weight
            .with_context(|| format!("{}: missing weight", context()))?;
        validate_weight(weight).with_context(context)?
    } else {
        1.0
    };
    Ok((rfm, weight))
}

/// Reads and validates `path`; `id_col` names the customer-id column.
pub fn read_customers(path: &Path, id_col: &str, monetary: Monetary) -> Result<Customers> {
    let file = open(path, id_col, monetary)?;
    let chunks = file.fold(
        || (CustomerIds::new(), Vec::new(), Vec::new()),
        |(ids, rfm, weights), row| {
            let (summary, weight) = validate(&file, &row, monetary)?;
            ids.push(row.customer_id);
            rfm.push(summary);
            weights.push(weight);
            anyhow::Ok(())
        },
    )?;
    let total = chunks.iter().map(|c| c.1.len()).sum();
    let mut customers = Customers {
        ids: CustomerIds::new(),
        rfm: Vec::with_capacity(total),
        weights: file.has_weight().then(|| Vec::with_capacity(total)),
    };
    for (ids, rfm, weights) in chunks {
        customers.ids.append(&ids);
        customers.rfm.extend_from_slice(&rfm);
        if let Some(all) = &mut customers.weights {
            all.extend_from_slice(&weights);
        }
    }
    Ok(customers)
}

/// The distinct rows of an RFM table under some key, with their total weights.
pub struct Distinct {
    /// The first row with each key, in file order.
    pub rfm: Vec<Rfm>,
    /// The total weight of the rows with each key (their number without a `weight` column).
    pub weights: Vec<f64>,
    /// Rows read, including the left-out ones.
    pub rows: usize,
    /// Rows left out because they have no key.
    pub left_out: usize,
}

impl Distinct {
    /// The rows as the purchase models' compressed data: what [`CompressedRfm::new`] gives for
    /// every customer of the file, in the same order, when the key is [`purchase_key`] (a
    /// value first appears in the first row with its key, and those rows keep file order).
    pub fn compress(&self) -> CompressedRfm {
        fn intern(index: &mut KeyMap<u64, u32>, values: &mut Vec<f64>, v: f64) -> u32 {
            *index.entry(v.to_bits()).or_insert_with(|| {
                values.push(v);
                values.len() as u32 - 1
            })
        }
        let (mut xs, mut txs, mut ts) = (KeyMap::default(), KeyMap::default(), KeyMap::default());
        let mut data = CompressedRfm {
            frequencies: Vec::new(),
            recencies: Vec::new(),
            ts: Vec::new(),
            rows: Vec::with_capacity(self.rfm.len()),
            total_weight: 0.0,
        };
        for (c, &weight) in self.rfm.iter().zip(&self.weights) {
            data.rows.push(CompressedRow {
                x: intern(&mut xs, &mut data.frequencies, c.frequency()),
                t_x: intern(&mut txs, &mut data.recencies, c.recency()),
                t: intern(&mut ts, &mut data.ts, c.T()),
                weight,
            });
            data.total_weight += weight;
        }
        data
    }
}

/// Multiplicative hashing for keys of a few `u64`s (bit patterns of floats): much cheaper than
/// the default SipHash, and the final fold keeps the low bits (the table index) well mixed even
/// for round numbers, whose low mantissa bits are all zero.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    /// Arrays of integers arrive here as their bytes: eight at a time.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut le = [0; 8];
            le.copy_from_slice(word);
            self.write_u64(u64::from_le_bytes(le));
        }
        for &b in words.remainder() {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^ (h >> 32)
    }
}

/// A hash map keyed by a few `u64`s.
pub type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// One chunk's distinct rows: key → index into `rfm`/`weights`.
struct DistinctChunk<K> {
    index: KeyMap<K, u32>,
    keys: Vec<K>,
    rfm: Vec<Rfm>,
    weights: Vec<f64>,
    rows: usize,
    left_out: usize,
}

/// Reads and validates `path` like [`read_customers`], keeping only the first row of each
/// distinct `key` with the total weight of the rows sharing it; rows whose `key` is `None` are
/// counted and left out. Chunks are compressed on every core, then merged in file order, so the
/// result is what one pass over the file in order would give.
pub fn read_distinct<K>(
    path: &Path,
    id_col: &str,
    monetary: Monetary,
    key: impl Fn(&Rfm) -> Option<K> + Sync,
) -> Result<Distinct>
where
    K: Hash + Eq + Copy + Send + Sync,
{
    let file = open(path, id_col, monetary)?;
    let chunks = file.fold(
        || DistinctChunk {
            index: KeyMap::default(),
            keys: Vec::new(),
            rfm: Vec::new(),
            weights: Vec::new(),
            rows: 0,
            left_out: 0,
        },
        |chunk, row| {
            let (rfm, weight) = validate(&file, &row, monetary)?;
            chunk.rows += 1;
            match key(&rfm) {
                None => chunk.left_out += 1,
                Some(k) => match chunk.index.entry(k) {
                    Entry::Occupied(e) => chunk.weights[*e.get() as usize] += weight,
                    Entry::Vacant(e) => {
                        e.insert(chunk.rfm.len() as u32);
                        chunk.keys.push(k);
                        chunk.rfm.push(rfm);
                        chunk.weights.push(weight);
                    }
                },
            }
            anyhow::Ok(())
        },
    )?;
    let mut chunks = chunks;
    // The chunks' own indexes are not needed any more.
    chunks
        .par_iter_mut()
        .for_each(|c| c.index = KeyMap::default());
    let keys: Vec<&[K]> = chunks.iter().map(|c| c.keys.as_slice()).collect();
    let weights: Vec<&[f64]> = chunks.iter().map(|c| c.weights.as_slice()).collect();
    let merged = merge_keys(&keys, Some(&weights), false);
    // File order: by the first occurrence of each key.
    let mut order: Vec<u32> = (0..merged.firsts.len() as u32).collect();
    order.par_sort_unstable_by_key(|&g| merged.firsts[g as usize]);
    Ok(Distinct {
        rfm: order
            .iter()
            .map(|&g| {
                let (c, l) = merged.firsts[g as usize];
                chunks[c as usize].rfm[l as usize]
            })
            .collect(),
        weights: order.iter().map(|&g| merged.weights[g as usize]).collect(),
        rows: chunks.iter().map(|c| c.rows).sum(),
        left_out: chunks.iter().map(|c| c.left_out).sum(),
    })
}

/// Keys of several chunks (each chunk's distinct, in order) merged into the distinct keys of
/// them all.
pub struct MergedKeys {
    /// Each distinct key's first occurrence: (chunk, index in the chunk). Not in file order.
    pub firsts: Vec<(u32, u32)>,
    /// For each chunk, the index into `firsts` of each of its keys (empty unless asked for).
    pub global: Vec<Vec<u32>>,
    /// With weights given: each distinct key's total, added in chunk order.
    pub weights: Vec<f64>,
}

/// Partitions of [`merge_keys`]: a key's partition is a few bits of its hash that the maps
/// within a partition do not use to place it.
const PARTS: usize = 64;

/// Merges the chunks' keys on every core: the keys are split into partitions by hash, and each
/// partition is merged on its own, going through the chunks in order, so each key's weights
/// are added in the order one pass over the chunks would add them. `global` says whether to
/// map every chunk's keys to the merged ones.
pub fn merge_keys<K>(chunks: &[&[K]], weights: Option<&[&[f64]]>, global: bool) -> MergedKeys
where
    K: Hash + Eq + Copy + Send + Sync,
{
    let hasher = BuildHasherDefault::<KeyHasher>::default();
    let part = |k: &K| (hasher.hash_one(k) >> 32) as usize & (PARTS - 1);
    // For each chunk and partition, the chunk's keys in that partition, in order.
    let buckets: Vec<Vec<Vec<u32>>> = chunks
        .par_iter()
        .map(|keys| {
            let mut buckets = vec![Vec::new(); PARTS];
            for (i, k) in keys.iter().enumerate() {
                buckets[part(k)].push(i as u32);
            }
            buckets
        })
        .collect();
    // Each partition: its distinct keys (first occurrences, weights) and, for each chunk, the
    // index among them of each key of the chunk's bucket.
    struct Part {
        firsts: Vec<(u32, u32)>,
        weights: Vec<f64>,
        assigned: Vec<Vec<u32>>,
    }
    let parts: Vec<Part> = (0..PARTS)
        .into_par_iter()
        .map(|p| {
            let mut index: KeyMap<K, u32> = KeyMap::default();
            let mut part = Part {
                firsts: Vec::new(),
                weights: Vec::new(),
                assigned: Vec::with_capacity(chunks.len()),
            };
            for (c, keys) in chunks.iter().enumerate() {
                let bucket = &buckets[c][p];
                let mut assigned = Vec::with_capacity(if global { bucket.len() } else { 0 });
                for &i in bucket {
                    let w = weights.map_or(0.0, |w| w[c][i as usize]);
                    let g = match index.entry(keys[i as usize]) {
                        Entry::Occupied(e) => {
                            let g = *e.get();
                            part.weights[g as usize] += w;
                            g
                        }
                        Entry::Vacant(e) => {
                            let g = part.firsts.len() as u32;
                            e.insert(g);
                            part.firsts.push((c as u32, i));
                            part.weights.push(w);
                            g
                        }
                    };
                    if global {
                        assigned.push(g);
                    }
                }
                part.assigned.push(assigned);
            }
            part
        })
        .collect();
    let mut offsets = Vec::with_capacity(PARTS);
    let mut total = 0u32;
    for part in &parts {
        offsets.push(total);
        total += part.firsts.len() as u32;
    }
    let global = if !global {
        Vec::new()
    } else {
        (0..chunks.len())
            .into_par_iter()
            .map(|c| {
                let mut global = vec![0; chunks[c].len()];
                for (p, part) in parts.iter().enumerate() {
                    for (&i, &g) in buckets[c][p].iter().zip(&part.assigned[c]) {
                        global[i as usize] = offsets[p] + g;
                    }
                }
                global
            })
            .collect()
    };
    let mut merged = MergedKeys {
        firsts: Vec::with_capacity(total as usize),
        global,
        weights: Vec::with_capacity(if weights.is_some() { total as usize } else { 0 }),
    };
    for part in parts {
        merged.firsts.extend_from_slice(&part.firsts);
        if weights.is_some() {
            merged.weights.extend_from_slice(&part.weights);
        }
    }
    merged
}

/// The key that makes rows identical for a purchase model: frequency, recency and T.
pub fn purchase_key(c: &Rfm) -> Option<[u64; 3]> {
    Some([
        c.frequency().to_bits(),
        c.recency().to_bits(),
        c.T().to_bits(),
    ])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RFM table of `n` customers with many repeated summaries (times are whole days over 7,
    /// as `summarize` writes them), and a `monetary_value` column.
    pub(crate) fn rfm_file(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let mut text = String::from("customer_id,frequency,recency,T,monetary_value\n");
        for i in 0..n {
            let x = (i * 7) % 11 % 6;
            let t = f64::from(1 + (i % 97) as u32 * 3) / 7.0;
            let recency = if x == 0 {
                0.0
            } else {
                t * ((i % 5) as f64) / 5.0
            };
            let m = if x == 0 {
                0.0
            } else {
                10.0 + (i % 13) as f64 * 0.25
            };
            text += &format!("c{i},{x},{recency},{t},{m}\n");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rfm.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn distinct_rows_compress_exactly_as_the_models_compress_every_customer() {
        // Expected: `CompressedRfm::new` on every customer of the file, read one by one.
        let (_dir, path) = rfm_file(50_000);
        let all = read_customers(&path, "customer_id", Monetary::Ignore).unwrap();
        let want = CompressedRfm::new(&all.rfm, None);
        let distinct = read_distinct(&path, "customer_id", Monetary::Ignore, purchase_key).unwrap();
        let got = distinct.compress();
        assert_eq!((distinct.rows, distinct.left_out), (50_000, 0));
        assert!(got.rows.len() > 1000 && got.rows.len() < 20_000);
        assert_eq!(got.frequencies, want.frequencies);
        assert_eq!(got.recencies, want.recencies);
        assert_eq!(got.ts, want.ts);
        assert_eq!(got.total_weight, want.total_weight);
        assert_eq!(got.rows.len(), want.rows.len());
        for (g, w) in got.rows.iter().zip(&want.rows) {
            assert_eq!((g.x, g.t_x, g.t, g.weight), (w.x, w.t_x, w.t, w.weight));
        }
    }

    #[test]
    fn merged_keys_match_one_pass_over_the_chunks_in_order() {
        // Expected: a serial pass over the chunks in order with one map (first occurrences in
        // order, weights added in chunk order), written out here as the reference.
        let chunks: Vec<Vec<[u64; 2]>> = (0..7u64)
            .map(|c| {
                let mut seen = std::collections::HashSet::new();
                (0..3000u64)
                    .map(|i| [(i * 7 + c * 13) % 2000, (i * c) % 3])
                    .filter(|k| seen.insert(*k))
                    .collect()
            })
            .collect();
        let weights: Vec<Vec<f64>> = chunks
            .iter()
            .enumerate()
            .map(|(c, keys)| (0..keys.len()).map(|i| 0.1 * (i + c) as f64).collect())
            .collect();
        let mut index = HashMap::new();
        let mut firsts = Vec::new();
        let mut sums = Vec::new();
        for (c, keys) in chunks.iter().enumerate() {
            for (i, k) in keys.iter().enumerate() {
                match index.entry(*k) {
                    Entry::Occupied(e) => sums[*e.get()] += weights[c][i],
                    Entry::Vacant(e) => {
                        e.insert(firsts.len());
                        firsts.push((c as u32, i as u32));
                        sums.push(weights[c][i]);
                    }
                }
            }
        }
        let key_slices: Vec<&[[u64; 2]]> = chunks.iter().map(Vec::as_slice).collect();
        let weight_slices: Vec<&[f64]> = weights.iter().map(Vec::as_slice).collect();
        let merged = merge_keys(&key_slices, Some(&weight_slices), true);
        assert_eq!(merged.firsts.len(), firsts.len());
        for (c, keys) in chunks.iter().enumerate() {
            for (i, k) in keys.iter().enumerate() {
                let g = merged.global[c][i] as usize;
                let (fc, fi) = merged.firsts[g];
                assert_eq!(chunks[fc as usize][fi as usize], *k);
                let want = index[k];
                assert_eq!(firsts[want], (fc, fi));
                assert_eq!(merged.weights[g].to_bits(), sums[want].to_bits());
            }
        }
    }

    #[test]
    fn rows_without_a_key_are_counted_and_left_out() {
        let (_dir, path) = rfm_file(10_000);
        let repeat = |c: &Rfm| (c.frequency() > 0.0).then(|| c.frequency().to_bits());
        let distinct = read_distinct(&path, "customer_id", Monetary::Required, repeat).unwrap();
        let all = read_customers(&path, "customer_id", Monetary::Required).unwrap();
        // Expected counts: the customers with frequency 0, and 1..=5 as the repeat frequencies.
        let zeros = all.rfm.iter().filter(|c| c.frequency() == 0.0).count();
        assert_eq!((distinct.rows, distinct.left_out), (10_000, zeros));
        let mut frequencies: Vec<f64> = distinct.rfm.iter().map(Rfm::frequency).collect();
        frequencies.sort_by(f64::total_cmp);
        assert_eq!(frequencies, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            distinct.weights.iter().sum::<f64>(),
            (10_000 - zeros) as f64
        );
    }

    #[test]
    fn validation_errors_name_the_file_and_line_of_the_first_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rfm.csv");
        let mut text = String::from("customer_id,frequency,recency,T,weight\n");
        for i in 0..20_000 {
            text += &format!("c{i},1,2,5,1\n");
        }
        // Line 15002: recency above T; line 18002: a weight of 0; both must be seen in order.
        text = text.replace("c15000,1,2,5,1", "c15000,1,9,5,1");
        text = text.replace("c18000,1,2,5,1", "c18000,1,2,5,0");
        std::fs::write(&path, &text).unwrap();
        let err = read_distinct(&path, "customer_id", Monetary::Ignore, purchase_key)
            .err()
            .unwrap();
        let shown = format!("{err:#}");
        assert!(shown.contains("rfm.csv: line 15002"), "{shown}");
        assert!(shown.contains("recency = 9"), "{shown}");
        std::fs::write(&path, text.replace("c15000,1,9,5,1", "c15000,1,2,5,1")).unwrap();
        let err = read_customers(&path, "customer_id", Monetary::Ignore)
            .err()
            .unwrap();
        let shown = format!("{err:#}");
        assert!(shown.contains("rfm.csv: line 18002"), "{shown}");
        assert!(shown.contains("weight"), "{shown}");
        let err = open(&path, "customer_id", Monetary::Required)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("no monetary_value column"),
            "{err}"
        );
    }
}
