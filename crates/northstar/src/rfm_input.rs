//! Reads an RFM table and validates every row into the models' [`Rfm`] type, naming the file
//! and line of any row that breaks the rules.

use anyhow::{bail, Context, Result};
use northstar_models::{validate_weight, Rfm};
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
    pub ids: Vec<String>,
    /// One validated summary per customer.
    pub rfm: Vec<Rfm>,
    /// Row weights, when the file has a `weight` column.
    pub weights: Option<Vec<f64>>,
}

/// Reads and validates `path`; `id_col` names the customer-id column.
pub fn read_customers(path: &Path, id_col: &str, monetary: Monetary) -> Result<Customers> {
    let rows = northstar_data::read_rfm_csv(path, id_col)?;
    if rows.is_empty() {
        bail!("{}: the RFM table has no customers", path.display());
    }
    let has_weight = rows[0].weight.is_some();
    let mut ids = Vec::with_capacity(rows.len());
    let mut rfm = Vec::with_capacity(rows.len());
    let mut weights = Vec::with_capacity(if has_weight { rows.len() } else { 0 });
    for row in rows {
        let context = || format!("{}: line {}", path.display(), row.line);
        let monetary_value = match monetary {
            Monetary::Ignore => None,
            Monetary::Required => Some(row.monetary_value.with_context(|| {
                format!(
                    "{}: no monetary_value column; the spend model needs the mean repeat-purchase \
                     spend per customer (northstar summarize writes it when the log has amounts)",
                    path.display()
                )
            })?),
        };
        rfm.push(
            Rfm::try_new(row.frequency, row.recency, row.t, monetary_value)
                .with_context(context)?,
        );
        if has_weight {
            let weight = row
                .weight
                .with_context(|| format!("{}: missing weight", context()))?;
            weights.push(validate_weight(weight).with_context(context)?);
        }
        ids.push(row.customer_id);
    }
    Ok(Customers {
        ids,
        rfm,
        weights: has_weight.then_some(weights),
    })
}
