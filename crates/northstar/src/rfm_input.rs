//! Reads an RFM table and validates every row into the models' [`Rfm`] type, naming the file
//! and line of any row that breaks the rules.

use anyhow::{bail, Context, Result};
use northstar_data::CustomerIds;
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
    pub ids: CustomerIds,
    /// One validated summary per customer.
    pub rfm: Vec<Rfm>,
    /// Row weights, when the file has a `weight` column.
    pub weights: Option<Vec<f64>>,
}

/// Reads and validates `path`; `id_col` names the customer-id column.
pub fn read_customers(path: &Path, id_col: &str, monetary: Monetary) -> Result<Customers> {
    let table = northstar_data::read_rfm_csv(path, id_col)?;
    if table.is_empty() {
        bail!("{}: the RFM table has no customers", path.display());
    }
    if monetary == Monetary::Required && table.monetary_value.is_none() {
        bail!(
            "{}: no monetary_value column; the spend model needs the mean repeat-purchase \
             spend per customer (northstar summarize writes it when the log has amounts)",
            path.display()
        );
    }
    let context = |line: u64| format!("{}: line {line}", path.display());
    let mut rfm = Vec::with_capacity(table.len());
    for row in table.rows() {
        let monetary_value = match monetary {
            Monetary::Ignore => None,
            Monetary::Required => Some(
                row.monetary_value
                    .with_context(|| format!("{}: empty monetary_value", context(row.line)))?,
            ),
        };
        rfm.push(
            Rfm::try_new(row.frequency, row.recency, row.t, monetary_value)
                .with_context(|| context(row.line))?,
        );
    }
    let weights = match &table.weight {
        None => None,
        Some(column) => Some(
            column
                .iter()
                .zip(&table.lines)
                .map(|(weight, &line)| {
                    let weight =
                        weight.with_context(|| format!("{}: missing weight", context(line)))?;
                    validate_weight(weight).with_context(|| context(line))
                })
                .collect::<Result<Vec<f64>>>()?,
        ),
    };
    Ok(Customers {
        ids: table.ids,
        rfm,
        weights,
    })
}
