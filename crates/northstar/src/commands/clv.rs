//! `northstar clv`: discounted customer lifetime value per customer.

use crate::model_file::{self, LoadedModel};
use crate::output::write_output;
use crate::rfm_input::{self, purchase_key, KeyMap, Monetary};
use anyhow::{anyhow, bail, Result};
use northstar_data::{RfmFile, TimeUnit};
use northstar_models::clv::{discounted_expected_purchases, ClvOptions, Discounting};
use northstar_models::{CompressedRfm, GammaGamma, PurchaseModel, Rfm, SpendModel};
use rayon::prelude::*;
use std::path::PathBuf;

/// How to discount.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DiscountingKind {
    /// lifetimes' scheme: month k's purchases discounted by (1 + rate)^k, rate monthly.
    Monthly,
    /// Continuous discounting; --discount-rate is then an annual rate.
    Continuous,
}

/// Arguments of `northstar clv`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Purchase model file (bgnbd, mbgnbd or pnbd).
    #[arg(long)]
    pub purchase_model: PathBuf,
    /// Spend model file (gg).
    #[arg(long)]
    pub spend_model: PathBuf,
    /// RFM table with monetary_value.
    pub rfm: PathBuf,
    /// Horizon in months.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Discount rate: monthly (default scheme) or annual (--discounting continuous).
    #[arg(long, default_value_t = 0.01)]
    pub discount_rate: f64,
    /// Discounting scheme.
    #[arg(long, value_enum, default_value = "monthly")]
    pub discounting: DiscountingKind,
    /// Time unit of the RFM table's recency and T (as given to `summarize`).
    #[arg(long, default_value = "week")]
    pub time_unit: TimeUnit,
    /// Output CSV (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Name of the customer-id column.
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let LoadedModel::Purchase(purchase) = model_file::load(&args.purchase_model)? else {
        bail!(
            "{}: --purchase-model must be a purchase model (bgnbd, mbgnbd or pnbd)",
            args.purchase_model.display()
        );
    };
    let LoadedModel::GammaGamma(spend) = model_file::load(&args.spend_model)? else {
        bail!(
            "{}: --spend-model must be a spend model (gg)",
            args.spend_model.display()
        );
    };
    let options = ClvOptions {
        months: args.months,
        discounting: match args.discounting {
            DiscountingKind::Monthly => Discounting::Monthly {
                rate: args.discount_rate,
            },
            DiscountingKind::Continuous => Discounting::ContinuousAnnual {
                rate: args.discount_rate,
            },
        },
        days_per_time_unit: args.time_unit.days(),
    };
    options.validate()?;
    let file = rfm_input::open(&args.rfm, &args.id_col, Monetary::Required)?;
    let values = value_customers(&file, purchase.as_ref(), &spend, &options)?;
    write_output(args.output.as_deref(), |out| {
        northstar_data::write_table_csv(
            out,
            &["customer_id", "clv"],
            values.len(),
            |i| values.id(i),
            |i, _| values.clv(i),
        )?;
        Ok(())
    })
}

/// One chunk of the RFM file: its customers' ids and expected spend, and for each the index of
/// its (frequency, recency, T) among the chunk's distinct ones.
#[derive(Default)]
struct Chunk<'s> {
    ids: Vec<&'s str>,
    spend: Vec<f64>,
    row: Vec<u32>,
    index: KeyMap<[u64; 3], u32>,
    distinct: Vec<Rfm>,
}

/// A chunk after the merge: `global` maps its distinct rows to the file's.
struct Merged<'s> {
    ids: Vec<&'s str>,
    spend: Vec<f64>,
    row: Vec<u32>,
    global: Vec<u32>,
}

/// Values every customer of an RFM file, as [`customer_values`] does: rows are parsed,
/// validated and given their expected spend chunk by chunk on every core, discounted expected
/// purchases are computed once per distinct (frequency, recency, T), then multiplied back.
fn value_customers<'s, M: PurchaseModel + ?Sized>(
    file: &'s RfmFile,
    purchase: &M,
    spend: &GammaGamma,
    options: &ClvOptions,
) -> Result<Values<'s>> {
    let path = file.path();
    let chunks = file.fold(Chunk::default, |chunk, row| {
        let (rfm, _weight) = rfm_input::validate(file, &row, Monetary::Required)?;
        let s = spend.expected_spend(&rfm);
        if !s.is_finite() {
            return Err(infinite_spend(rfm.frequency()).context(path.display().to_string()));
        }
        let key = purchase_key(&rfm).unwrap_or_default();
        let next = chunk.distinct.len() as u32;
        let row_index = *chunk.index.entry(key).or_insert_with(|| next);
        if row_index == next {
            chunk.distinct.push(rfm);
        }
        chunk.ids.push(row.customer_id);
        chunk.spend.push(s);
        chunk.row.push(row_index);
        Ok(())
    })?;
    // Distinct rows over the whole file, and each chunk's rows mapped to them (the chunks' own
    // indexes are freed first).
    let chunks: Vec<(Vec<[u64; 3]>, Chunk<'s>)> = chunks
        .into_par_iter()
        .map(|mut chunk| {
            chunk.index = KeyMap::default();
            let keys = chunk
                .distinct
                .iter()
                .map(|rfm| purchase_key(rfm).unwrap_or_default())
                .collect();
            (keys, chunk)
        })
        .collect();
    let keys: Vec<&[[u64; 3]]> = chunks.iter().map(|(k, _)| k.as_slice()).collect();
    let merged = rfm_input::merge_keys(&keys, None, true);
    let distinct: Vec<Rfm> = merged
        .firsts
        .iter()
        .map(|&(c, l)| chunks[c as usize].1.distinct[l as usize])
        .collect();
    let chunks: Vec<Merged<'s>> = chunks
        .into_iter()
        .zip(merged.global)
        .map(|((_, chunk), global)| Merged {
            ids: chunk.ids,
            spend: chunk.spend,
            row: chunk.row,
            global,
        })
        .collect();
    let discounted: Vec<f64> = distinct
        .par_iter()
        .map(|rfm| discounted_expected_purchases(purchase, rfm, options))
        .collect();
    // CLV = discounted expected purchases × expected spend, in place of the spend.
    let chunks: Vec<(Vec<&'s str>, Vec<f64>)> = chunks
        .into_par_iter()
        .map(|chunk| {
            let mut clv = chunk.spend;
            for (value, &r) in clv.iter_mut().zip(&chunk.row) {
                *value *= discounted[chunk.global[r as usize] as usize];
            }
            (chunk.ids, clv)
        })
        .collect();
    let mut starts = Vec::with_capacity(chunks.len());
    let mut total = 0;
    for (ids, _) in &chunks {
        starts.push(total);
        total += ids.len();
    }
    let (ids, clv) = chunks.into_iter().unzip();
    Ok(Values {
        ids,
        clv,
        starts,
        total,
    })
}

/// Customer ids and CLVs, in file order, kept in the reader's chunks.
struct Values<'s> {
    ids: Vec<Vec<&'s str>>,
    clv: Vec<Vec<f64>>,
    /// Index of each chunk's first customer.
    starts: Vec<usize>,
    total: usize,
}

impl<'s> Values<'s> {
    fn len(&self) -> usize {
        self.total
    }

    /// (chunk, index in it) of customer `i`.
    fn locate(&self, i: usize) -> (usize, usize) {
        let chunk = self.starts.partition_point(|&s| s <= i) - 1;
        (chunk, i - self.starts[chunk])
    }

    fn id(&self, i: usize) -> &'s str {
        let (c, j) = self.locate(i);
        self.ids[c][j]
    }

    fn clv(&self, i: usize) -> f64 {
        let (c, j) = self.locate(i);
        self.clv[c][j]
    }
}

fn infinite_spend(frequency: f64) -> anyhow::Error {
    anyhow!(
        "the spend model's expected spend is infinite for frequency {frequency} (p·x + q ≤ 1); \
         refit Gamma-Gamma or check its parameters"
    )
}

/// CLV per customer: discounted expected purchases (once per distinct summary) × expected spend.
pub fn customer_values<M: PurchaseModel + ?Sized>(
    purchase: &M,
    spend: &GammaGamma,
    customers: &[Rfm],
    options: &ClvOptions,
) -> Result<Vec<f64>> {
    let (data, rows) = CompressedRfm::with_customer_rows(customers, None);
    let discounted: Vec<f64> = (0..data.rows.len())
        .into_par_iter()
        .map(|i| discounted_expected_purchases(purchase, &data.row_rfm(i), options))
        .collect();
    customers
        .iter()
        .zip(&rows)
        .map(|(c, &r)| {
            let s = spend.expected_spend(c);
            if !s.is_finite() {
                return Err(infinite_spend(c.frequency()));
            }
            Ok(discounted[r as usize] * s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfm_input::{read_customers, tests::rfm_file};
    use northstar_models::BgNbd;

    #[test]
    fn values_read_in_chunks_equal_the_values_of_every_customer_in_order() {
        // Expected: `customer_values` on every customer read one by one (what `clv` computed
        // before it valued the file chunk by chunk), bit for bit, with the CDNOW estimates
        // (Fader, Hardie & Lee 2005) as the models.
        let (_dir, path) = rfm_file(30_000);
        let purchase = BgNbd::new(0.2425945, 4.4136019, 0.7929199, 2.4258881).unwrap();
        let spend = GammaGamma::new(6.2488, 3.7446, 15.4478).unwrap();
        let options = ClvOptions {
            months: 12,
            discounting: Discounting::Monthly { rate: 0.01 },
            days_per_time_unit: 7.0,
        };
        let all = read_customers(&path, "customer_id", Monetary::Required).unwrap();
        let want = customer_values(&purchase, &spend, &all.rfm, &options).unwrap();
        let file = rfm_input::open(&path, "customer_id", Monetary::Required).unwrap();
        let got = value_customers(&file, &purchase, &spend, &options).unwrap();
        assert_eq!(got.len(), 30_000);
        assert!(got.ids.len() > 1, "the test needs several chunks");
        for (i, (id, value)) in all.ids.iter().zip(&want).enumerate() {
            assert_eq!(got.id(i), id);
            assert_eq!(got.clv(i).to_bits(), value.to_bits(), "customer {id}");
        }
    }
}
