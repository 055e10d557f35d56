//! The purchase-log format flags shared by every command that reads transactions.

use northstar_data::{ColumnRef, Delimiter, NegativeAmounts, TransactionFormat};

/// How to read a purchase log.
#[derive(Debug, Clone, clap::Args)]
pub struct TransactionFormatArgs {
    /// Field separator: `,`, `tab` or `whitespace` (runs of spaces/tabs).
    #[arg(long, default_value = ",")]
    pub delimiter: Delimiter,
    /// The file has no header row (columns are then chosen by 1-based position).
    #[arg(long)]
    pub no_header: bool,
    /// Customer id column: a header name or a 1-based position.
    #[arg(long, default_value = "customer_id")]
    pub customer_col: ColumnRef,
    /// Purchase date column: a header name or a 1-based position.
    #[arg(long, default_value = "date")]
    pub date_col: ColumnRef,
    /// Amount column: a header name or a 1-based position. Without it, a column named
    /// `amount` is used if present, otherwise every amount is 0.
    #[arg(long)]
    pub amount_col: Option<ColumnRef>,
    /// strftime pattern for dates in another format, e.g. `%d/%m/%Y`. By default
    /// `YYYY-MM-DD`, `YYYYMMDD` and ISO date-times are accepted.
    #[arg(long)]
    pub date_format: Option<String>,
    /// What to do with negative amounts (returns): `error`, `drop` the row, or `keep` (net it
    /// into the day's total).
    #[arg(long, default_value = "error")]
    pub negative_amounts: NegativeAmounts,
}

impl TransactionFormatArgs {
    /// The data crate's format description.
    pub fn to_format(&self) -> TransactionFormat {
        TransactionFormat {
            delimiter: self.delimiter,
            has_header: !self.no_header,
            customer_col: self.customer_col.clone(),
            date_col: self.date_col.clone(),
            amount_col: self.amount_col.clone(),
            date_format: self.date_format.clone(),
            negative_amounts: self.negative_amounts,
        }
    }
}
