//! Reads the inputs of the period-based models: BG/BB summaries (`frequency, recency,
//! n_periods`) and subscription tenures for sBG/BdW (cohort counts `period, alive` or individual
//! `tenure, churned`), validating every row into the models' types with its file and line.

use anyhow::{bail, Context, Result};
use northstar_data::{read_numeric_table, TableSpec};
use northstar_models::{validate_weight, BgBbCustomer, ContractualData, Tenure};
use std::path::Path;

/// BG/BB customers from a `frequency, recency, n_periods[, weight]` table.
pub struct BgBbCustomers {
    /// Customer ids (`customer_id` column, or the row number when there is none).
    pub ids: Vec<String>,
    /// Validated summaries.
    pub customers: Vec<BgBbCustomer>,
    /// Row weights, when the table has a `weight` column.
    pub weights: Option<Vec<f64>>,
}

/// Reads a BG/BB table.
pub fn read_bgbb(path: &Path, id_col: &str) -> Result<BgBbCustomers> {
    let spec = TableSpec {
        required: &["frequency", "recency", "n_periods"],
        optional: &["weight"],
        text: &[id_col],
    };
    let table = read_numeric_table(path, &spec)?;
    let [x, t_x, n] = [&table.required[0], &table.required[1], &table.required[2]];
    let mut customers = Vec::with_capacity(x.len());
    for (i, line) in table.lines.iter().enumerate() {
        customers.push(
            BgBbCustomer::try_new(x[i], t_x[i], n[i])
                .with_context(|| format!("{}: line {line}", path.display()))?,
        );
    }
    let weights = weights(path, &table.lines, table.optional[0].as_deref())?;
    let ids = table.text[0]
        .clone()
        .unwrap_or_else(|| (1..=customers.len()).map(|i| i.to_string()).collect());
    Ok(BgBbCustomers {
        ids,
        customers,
        weights,
    })
}

fn weights(path: &Path, lines: &[u64], column: Option<&[Option<f64>]>) -> Result<Option<Vec<f64>>> {
    let Some(column) = column else {
        return Ok(None);
    };
    column
        .iter()
        .zip(lines)
        .map(|(w, line)| {
            let w = w.with_context(|| format!("{}: line {line}: empty weight", path.display()))?;
            validate_weight(w).with_context(|| format!("{}: line {line}", path.display()))
        })
        .collect::<Result<Vec<f64>>>()
        .map(Some)
}

/// One cohort's label and its `(period, alive)` counts.
type CohortCounts = (Option<String>, Vec<(f64, f64)>);

/// Reads subscription data for sBG/BdW: either cohort counts (`period, alive`) or one row per
/// customer (`tenure, churned`), each with an optional `cohort` label and (individual form)
/// optional `weight`.
pub fn read_contractual(path: &Path) -> Result<ContractualData> {
    let header =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header = header.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let has = |name: &str| columns.contains(&name);
    let mut data = ContractualData::new();
    if has("period") && has("alive") {
        let spec = TableSpec {
            required: &["period", "alive"],
            optional: &[],
            text: &["cohort"],
        };
        let table = read_numeric_table(path, &spec)?;
        // Group rows by cohort label, keeping the file's order of cohorts.
        let mut cohorts: Vec<CohortCounts> = Vec::new();
        for i in 0..table.lines.len() {
            let label = table.text[0].as_ref().map(|labels| labels[i].clone());
            let count = (table.required[0][i], table.required[1][i]);
            match cohorts.iter_mut().find(|(l, _)| *l == label) {
                Some((_, counts)) => counts.push(count),
                None => cohorts.push((label, vec![count])),
            }
        }
        for (label, counts) in cohorts {
            data.push_cohort_counts(&counts, label.as_deref())
                .with_context(|| {
                    format!(
                        "{}: cohort {}",
                        path.display(),
                        label.as_deref().unwrap_or("(unlabelled)")
                    )
                })?;
        }
    } else if has("tenure") && has("churned") {
        let spec = TableSpec {
            required: &["tenure", "churned"],
            optional: &["weight"],
            text: &["cohort"],
        };
        let table = read_numeric_table(path, &spec)?;
        let weights = weights(path, &table.lines, table.optional[0].as_deref())?;
        for (i, line) in table.lines.iter().enumerate() {
            let at = || format!("{}: line {line}", path.display());
            let tenure =
                Tenure::try_new(table.required[0][i], table.required[1][i]).with_context(at)?;
            let weight = weights.as_ref().map_or(1.0, |w| w[i]);
            let label = table.text[0].as_ref().map(|labels| labels[i].as_str());
            data.push(tenure, weight, label).with_context(at)?;
        }
    } else {
        bail!(
            "{}: expected subscription data with columns period,alive (customers still subscribed \
             at each period, from period 0) or tenure,churned (one row per customer); the header \
             has {}",
            path.display(),
            columns.join(", ")
        );
    }
    Ok(data)
}
