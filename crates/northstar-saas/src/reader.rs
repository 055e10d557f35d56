//! CSV readers: the subscriptions file, the `month,spend` file and the customers file.
//!
//! Every reader streams its file once, validates each field where it is read, and stops at the
//! first bad value with an [`InputError`] naming the file, line, column and value and saying
//! what was expected.

use crate::error::{show, InputError, InputErrorKind, SaasError};
use crate::money::Mrr;
use crate::month::{month_index, parse_iso_date, parse_month, Month};
use crate::subscription::{Interval, SubscriptionBook, SubscriptionBookBuilder};
use csv::ByteRecord;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The columns of the subscriptions file, in the documented order.
pub const SUBSCRIPTION_COLUMNS: [&str; 9] = [
    "customer_id",
    "subscription_id",
    "plan",
    "start_date",
    "end_date",
    "amount",
    "interval",
    "interval_count",
    "quantity",
];

const DATE_EXPECTED: &str = "expected an ISO date YYYY-MM-DD";

/// Strips ASCII whitespace from both ends.
#[inline]
fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Finds a header name: exact match first, then a unique ASCII case-insensitive match.
fn find_name(names: &[String], wanted: &str) -> Option<usize> {
    if let Some(i) = names.iter().position(|n| n == wanted) {
        return Some(i);
    }
    let mut matches = names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.eq_ignore_ascii_case(wanted));
    match (matches.next(), matches.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// A CSV file with a header line, read record by record.
struct Table<R: Read> {
    path: PathBuf,
    reader: csv::Reader<R>,
    names: Vec<String>,
    record: ByteRecord,
}

impl Table<File> {
    fn open(path: &Path, what: &str) -> Result<Self, SaasError> {
        let file = File::open(path).map_err(|source| SaasError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Table::new(file, path, what)
    }
}

impl<R: Read> Table<R> {
    /// Reads the header line; `what` describes the expected header for the empty-file error.
    fn new(input: R, path: &Path, what: &str) -> Result<Self, SaasError> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(input);
        let mut table = Table {
            path: path.to_path_buf(),
            reader,
            names: Vec::new(),
            record: ByteRecord::new(),
        };
        if !table.next_record()? {
            return Err(InputError::new(
                InputErrorKind::EmptyFile,
                path,
                format!("the file is empty; expected a header line ({what}) and data rows"),
            )
            .into());
        }
        table.names = table
            .record
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let field = if i == 0 {
                    field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
                } else {
                    field
                };
                String::from_utf8_lossy(trim(field)).into_owned()
            })
            .collect();
        Ok(table)
    }

    /// Reads the next record into `self.record`; `false` at the end of the file.
    #[inline]
    fn next_record(&mut self) -> Result<bool, SaasError> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(more) => Ok(more),
            Err(e) => {
                let line = e.position().map(|p| p.line());
                match e.into_kind() {
                    csv::ErrorKind::Io(source) => Err(SaasError::Io {
                        path: self.path.clone(),
                        source,
                    }),
                    other => {
                        let mut err = InputError::new(
                            InputErrorKind::Malformed,
                            &self.path,
                            format!("malformed CSV ({other:?}); expected comma-separated fields"),
                        );
                        if let Some(line) = line {
                            err = err.at_line(line);
                        }
                        Err(err.into())
                    }
                }
            }
        }
    }

    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    fn byte(&self) -> u64 {
        self.record.position().map_or(0, |p| p.byte())
    }

    /// The index of a required column, or a missing-column error listing the header.
    fn require(&self, name: &str, hint: &str) -> Result<usize, SaasError> {
        self.optional(name).ok_or_else(|| {
            let available = self
                .names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ");
            InputError::new(
                InputErrorKind::MissingColumn,
                &self.path,
                format!("no '{name}' column in the header ({available}); expected {hint}"),
            )
            .at_line(1)
            .into()
        })
    }

    fn optional(&self, name: &str) -> Option<usize> {
        find_name(&self.names, name)
    }

    /// Fails unless the current record has as many fields as the header.
    #[inline]
    fn check_width(&self) -> Result<(), SaasError> {
        let width = self.names.len();
        let n = self.record.len();
        if n != width {
            return Err(InputError::new(
                InputErrorKind::RaggedRow,
                &self.path,
                format!(
                    "the row has {n} field{}; expected {width} like the header",
                    if n == 1 { "" } else { "s" }
                ),
            )
            .at_line(self.line())
            .into());
        }
        Ok(())
    }

    /// The trimmed field `index` of the current record.
    #[inline]
    fn field(&self, index: usize) -> &[u8] {
        trim(self.record.get(index).unwrap_or(b""))
    }

    /// An error about field `index` of the current record.
    fn error(&self, kind: InputErrorKind, index: usize, message: String) -> SaasError {
        let value = show(self.field(index));
        InputError::new(kind, &self.path, message)
            .at_line(self.line())
            .in_column(&self.names[index], index)
            .with_value(value)
            .into()
    }

    /// The field as UTF-8 text.
    fn text(&self, index: usize) -> Result<&str, SaasError> {
        std::str::from_utf8(self.field(index)).map_err(|_| {
            self.error(
                InputErrorKind::Malformed,
                index,
                format!("{:?} is not valid UTF-8 text", show(self.field(index))),
            )
        })
    }

    fn no_data(&self) -> SaasError {
        InputError::new(
            InputErrorKind::NoData,
            &self.path,
            "the file has a header but no data rows; expected at least one row",
        )
        .into()
    }
}

/// Parses a finite number.
#[inline]
fn parse_number(field: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(field).ok()?;
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Reads a subscriptions CSV (see [`SUBSCRIPTION_COLUMNS`]) into a [`SubscriptionBook`].
///
/// Required columns: `customer_id`, `start_date`, `end_date`, `amount`, `interval`; optional:
/// `interval_count` and `quantity` (default 1 when the column or the field is empty);
/// `subscription_id`, `plan` and any other column are ignored. Header names match exactly, or
/// ignoring letter case.
///
/// ```
/// let path = std::env::temp_dir().join("northstar_saas_doc_read.csv");
/// std::fs::write(&path, "customer_id,start_date,end_date,amount,interval\nacme,2024-01-15,,100,month\n")?;
/// let book = northstar_saas::read_subscriptions(&path)?;
/// assert_eq!(book.customers(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_subscriptions(path: &Path) -> Result<SubscriptionBook, SaasError> {
    read_subscriptions_with_progress(path, &mut |_| {})
}

/// [`read_subscriptions`], calling `progress` with the number of bytes read every so often.
///
/// ```
/// let path = std::env::temp_dir().join("northstar_saas_doc_progress.csv");
/// std::fs::write(&path, "customer_id,start_date,end_date,amount,interval\nacme,2024-01-15,,100,month\n")?;
/// let book = northstar_saas::read_subscriptions_with_progress(&path, &mut |_bytes| {})?;
/// assert_eq!(book.rows(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_subscriptions_with_progress(
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<SubscriptionBook, SaasError> {
    let table = Table::open(path, "customer_id,start_date,end_date,amount,interval,...")?;
    read_subscription_table(table, progress)
}

/// Reads subscriptions from any reader; `name` is the file name used in error messages.
///
/// ```
/// let csv = "customer_id,plan,start_date,end_date,amount,interval,interval_count,quantity\n\
///            acme,team,2024-01-15,,300,month,3,2\n";
/// let book = northstar_saas::read_subscriptions_from(csv.as_bytes(), "subs.csv".as_ref())?;
/// assert_eq!(book.first_mrr_month().unwrap().to_string(), "2024-01");
///
/// let bad = "customer_id,start_date,end_date,amount,interval\nacme,2024-02-01,2024-01-01,10,month\n";
/// let err = northstar_saas::read_subscriptions_from(bad.as_bytes(), "subs.csv".as_ref()).unwrap_err();
/// assert!(err.to_string().starts_with("subs.csv: line 2, column 'end_date' (3)"));
/// # Ok::<(), northstar_saas::SaasError>(())
/// ```
pub fn read_subscriptions_from<R: Read>(
    reader: R,
    name: &Path,
) -> Result<SubscriptionBook, SaasError> {
    let table = Table::new(
        reader,
        name,
        "customer_id,start_date,end_date,amount,interval,...",
    )?;
    read_subscription_table(table, &mut |_| {})
}

fn read_subscription_table<R: Read>(
    mut t: Table<R>,
    progress: &mut dyn FnMut(u64),
) -> Result<SubscriptionBook, SaasError> {
    let customer = t.require("customer_id", "the customer id of each row")?;
    let start = t.require("start_date", "the first day each row applies (YYYY-MM-DD)")?;
    let end = t.require(
        "end_date",
        "the first day each row no longer applies (empty while active)",
    )?;
    let amount = t.require("amount", "the price per unit per interval")?;
    let interval = t.require("interval", "day, week, month or year")?;
    let count = t.optional("interval_count");
    let quantity = t.optional("quantity");

    let mut builder = SubscriptionBookBuilder::default();
    let mut rows: u64 = 0;
    while t.next_record()? {
        t.check_width()?;
        rows += 1;
        if rows % (1 << 16) == 0 {
            progress(t.byte());
        }

        let id = t.text(customer)?;
        if id.is_empty() {
            return Err(t.error(
                InputErrorKind::EmptyCustomerId,
                customer,
                "the customer id is empty; expected an id on every row".into(),
            ));
        }

        let start_field = t.field(start);
        let Some(start_day) = parse_iso_date(start_field) else {
            return Err(t.error(
                InputErrorKind::InvalidDate,
                start,
                format!(
                    "start_date {:?} is not a valid date; {DATE_EXPECTED}",
                    show(start_field)
                ),
            ));
        };
        let end_field = t.field(end);
        let end_day = if end_field.is_empty() {
            None
        } else {
            let Some(day) = parse_iso_date(end_field) else {
                return Err(t.error(
                    InputErrorKind::InvalidDate,
                    end,
                    format!(
                        "end_date {:?} is not a valid date; {DATE_EXPECTED}, or empty while the subscription is active",
                        show(end_field)
                    ),
                ));
            };
            if day < start_day {
                return Err(t.error(
                    InputErrorKind::EndBeforeStart,
                    end,
                    format!(
                        "end_date {:?} is before start_date {:?}; expected an end_date on or after the start_date (empty while the subscription is active)",
                        show(end_field),
                        show(start_field)
                    ),
                ));
            }
            Some(day)
        };

        let amount_field = t.field(amount);
        let Some(price) = parse_number(amount_field) else {
            return Err(t.error(
                InputErrorKind::InvalidNumber,
                amount,
                format!(
                    "amount {:?} is not a number; expected the price per unit per interval, like 49.99 (no currency symbol or thousands separator)",
                    show(amount_field)
                ),
            ));
        };
        if price < 0.0 {
            return Err(t.error(
                InputErrorKind::NegativeAmount,
                amount,
                format!(
                    "amount {:?} is negative; expected the price per unit per interval after discounts (0 or more)",
                    show(amount_field)
                ),
            ));
        }

        let interval_field = t.field(interval);
        let Some(every) = Interval::parse_bytes(interval_field) else {
            return Err(t.error(
                InputErrorKind::UnknownInterval,
                interval,
                format!(
                    "unknown interval {:?}; expected day, week, month or year (quarterly is month with interval_count 3)",
                    show(interval_field)
                ),
            ));
        };

        let intervals = match count {
            None => 1,
            Some(index) => {
                let field = t.field(index);
                if field.is_empty() {
                    1
                } else {
                    match std::str::from_utf8(field)
                        .ok()
                        .and_then(|s| s.parse::<u32>().ok())
                    {
                        Some(n) if n >= 1 => n,
                        _ => {
                            return Err(t.error(
                                InputErrorKind::InvalidIntervalCount,
                                index,
                                format!(
                                    "interval_count {:?} is not a whole number of 1 or more; expected the number of intervals per billing period (empty means 1)",
                                    show(field)
                                ),
                            ))
                        }
                    }
                }
            }
        };

        let seats = match quantity {
            None => 1.0,
            Some(index) => {
                let field = t.field(index);
                if field.is_empty() {
                    1.0
                } else {
                    match parse_number(field) {
                        Some(q) if q >= 0.0 => q,
                        Some(_) => {
                            return Err(t.error(
                                InputErrorKind::NegativeQuantity,
                                index,
                                format!(
                                    "quantity {:?} is negative; expected the seat count, 0 or more (empty means 1)",
                                    show(field)
                                ),
                            ))
                        }
                        None => {
                            return Err(t.error(
                                InputErrorKind::InvalidNumber,
                                index,
                                format!(
                                    "quantity {:?} is not a number; expected the seat count (empty means 1)",
                                    show(field)
                                ),
                            ))
                        }
                    }
                }
            }
        };

        let mrr = price * seats / (intervals as f64 * every.months());
        if !mrr.is_finite() || mrr > Mrr::MAX_ROW {
            return Err(t.error(
                InputErrorKind::TooLarge,
                amount,
                format!(
                    "the row's MRR ({mrr:e}) is above 1e15; expected a realistic price (amount {:?})",
                    show(amount_field)
                ),
            ));
        }

        builder.push_span(
            id,
            month_index(start_day),
            end_day.map_or(i32::MAX, month_index),
            mrr,
        );
    }
    if rows == 0 {
        return Err(t.no_data());
    }
    progress(t.byte());
    debug_assert!(builder.customers() > 0);
    Ok(builder.finish())
}

/// Marketing spend by month, from a `month,spend` file.
///
/// ```
/// use northstar_saas::{MarketingSpend, Month};
/// let jan: Month = "2024-01".parse()?;
/// let spend = MarketingSpend::new([(jan, 5000.0)]);
/// assert_eq!(spend.spend(jan), Some(5000.0));
/// assert_eq!(spend.spend(jan.offset(1)), None);
/// # Ok::<(), northstar_saas::ParseMonthError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MarketingSpend {
    by_month: BTreeMap<Month, f64>,
}

impl MarketingSpend {
    /// From (month, spend) pairs; a later pair for the same month replaces an earlier one.
    ///
    /// ```
    /// let spend = northstar_saas::MarketingSpend::new([]);
    /// assert_eq!(spend.months(), 0);
    /// ```
    pub fn new(pairs: impl IntoIterator<Item = (Month, f64)>) -> MarketingSpend {
        MarketingSpend {
            by_month: pairs.into_iter().collect(),
        }
    }

    /// The spend of `month`, if the file has that month.
    ///
    /// ```
    /// let m: northstar_saas::Month = "2024-01".parse().unwrap();
    /// assert_eq!(northstar_saas::MarketingSpend::new([(m, 1.0)]).spend(m), Some(1.0));
    /// ```
    pub fn spend(&self, month: Month) -> Option<f64> {
        self.by_month.get(&month).copied()
    }

    /// Number of months with a spend.
    ///
    /// ```
    /// let m: northstar_saas::Month = "2024-01".parse().unwrap();
    /// assert_eq!(northstar_saas::MarketingSpend::new([(m, 1.0)]).months(), 1);
    /// ```
    pub fn months(&self) -> usize {
        self.by_month.len()
    }
}

/// Reads a `month,spend` CSV: `month` as `YYYY-MM` (or an ISO date in that month), `spend` a
/// non-negative number. Each month may appear once.
///
/// ```
/// let path = std::env::temp_dir().join("northstar_saas_doc_spend.csv");
/// std::fs::write(&path, "month,spend\n2024-01,5000\n2024-02,4000.50\n")?;
/// let spend = northstar_saas::read_marketing_spend(&path)?;
/// assert_eq!(spend.spend("2024-02".parse()?), Some(4000.5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_marketing_spend(path: &Path) -> Result<MarketingSpend, SaasError> {
    let mut t = Table::open(path, "month,spend")?;
    let month_col = t.require("month", "the month of each spend, YYYY-MM")?;
    let spend_col = t.require("spend", "the marketing spend of that month")?;
    let mut by_month: BTreeMap<Month, (f64, u64)> = BTreeMap::new();
    let mut rows = 0u64;
    while t.next_record()? {
        t.check_width()?;
        rows += 1;
        let field = t.field(month_col);
        let month = parse_month(field)
            .or_else(|| parse_iso_date(field).and_then(|(y, m, _)| Month::new(y, m)));
        let Some(month) = month else {
            return Err(t.error(
                InputErrorKind::InvalidMonth,
                month_col,
                format!(
                    "month {:?} is not a month; expected YYYY-MM, for example 2024-01",
                    show(field)
                ),
            ));
        };
        let field = t.field(spend_col);
        let spend = match parse_number(field) {
            Some(v) if v >= 0.0 => v,
            Some(_) => {
                return Err(t.error(
                    InputErrorKind::NegativeAmount,
                    spend_col,
                    format!("spend {:?} is negative; expected 0 or more", show(field)),
                ))
            }
            None => {
                return Err(t.error(
                    InputErrorKind::InvalidNumber,
                    spend_col,
                    format!(
                    "spend {:?} is not a number; expected the month's marketing spend, like 5000",
                    show(field)
                ),
                ))
            }
        };
        if let Some((_, first)) = by_month.get(&month) {
            return Err(t.error(
                InputErrorKind::Duplicate,
                month_col,
                format!(
                    "month {month} appears again (first on line {first}); expected one row per month"
                ),
            ));
        }
        by_month.insert(month, (spend, t.line()));
    }
    if rows == 0 {
        return Err(t.no_data());
    }
    Ok(MarketingSpend::new(
        by_month.into_iter().map(|(m, (spend, _))| (m, spend)),
    ))
}

/// One attribute column of a customers file, keyed by customer id.
///
/// ```
/// let attr = northstar_saas::CustomerAttribute::new("onboarding_completed", [("acme", "true")]);
/// assert_eq!(attr.get("acme"), Some("true"));
/// assert_eq!(attr.get("zeta"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CustomerAttribute {
    column: String,
    values: FxHashMap<Box<str>, Box<str>>,
}

impl CustomerAttribute {
    /// From (customer id, value) pairs.
    ///
    /// ```
    /// let attr = northstar_saas::CustomerAttribute::new("plan_tier", [("a", "gold"), ("b", "silver")]);
    /// assert_eq!(attr.len(), 2);
    /// ```
    pub fn new<'a>(
        column: &str,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> CustomerAttribute {
        CustomerAttribute {
            column: column.to_string(),
            values: pairs
                .into_iter()
                .map(|(id, v)| (Box::from(id), Box::from(v)))
                .collect(),
        }
    }

    /// The attribute's column name.
    ///
    /// ```
    /// assert_eq!(northstar_saas::CustomerAttribute::new("tier", []).column(), "tier");
    /// ```
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The value for a customer, if the file has that customer.
    ///
    /// ```
    /// let attr = northstar_saas::CustomerAttribute::new("tier", [("a", "gold")]);
    /// assert_eq!(attr.get("a"), Some("gold"));
    /// ```
    pub fn get(&self, customer_id: &str) -> Option<&str> {
        self.values.get(customer_id).map(|v| &**v)
    }

    /// Number of customers in the file.
    ///
    /// ```
    /// assert_eq!(northstar_saas::CustomerAttribute::new("tier", []).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the file has no customers.
    ///
    /// ```
    /// assert!(northstar_saas::CustomerAttribute::new("tier", []).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Reads column `column` of a customers CSV (`customer_id` plus attribute columns). Each
/// customer may appear once; values are trimmed text (an empty value is a value of its own).
///
/// ```
/// let path = std::env::temp_dir().join("northstar_saas_doc_customers.csv");
/// std::fs::write(&path, "customer_id,onboarding_completed\nacme,true\nzeta,false\n")?;
/// let attr = northstar_saas::read_customer_attribute(&path, "onboarding_completed")?;
/// assert_eq!(attr.get("zeta"), Some("false"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_customer_attribute(path: &Path, column: &str) -> Result<CustomerAttribute, SaasError> {
    let mut t = Table::open(path, "customer_id plus attribute columns")?;
    let id_col = t.require("customer_id", "the customer id of each row")?;
    let value_col = t.require(column, "the column named by --segment-by")?;
    let mut seen: FxHashMap<Box<str>, (Box<str>, u64)> = FxHashMap::default();
    let mut rows = 0u64;
    while t.next_record()? {
        t.check_width()?;
        rows += 1;
        let id = t.text(id_col)?;
        if id.is_empty() {
            return Err(t.error(
                InputErrorKind::EmptyCustomerId,
                id_col,
                "the customer id is empty; expected an id on every row".into(),
            ));
        }
        if let Some((_, first)) = seen.get(id) {
            return Err(t.error(
                InputErrorKind::Duplicate,
                id_col,
                format!(
                    "customer {id:?} appears again (first on line {first}); expected one row per customer"
                ),
            ));
        }
        let id: Box<str> = id.into();
        let value: Box<str> = t.text(value_col)?.into();
        seen.insert(id, (value, t.line()));
    }
    if rows == 0 {
        return Err(t.no_data());
    }
    Ok(CustomerAttribute {
        column: t.names[value_col].clone(),
        values: seen.into_iter().map(|(id, (v, _))| (id, v)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(csv: &str) -> Result<SubscriptionBook, SaasError> {
        read_subscriptions_from(csv.as_bytes(), "subs.csv".as_ref())
    }

    fn err(csv: &str) -> InputError {
        match read(csv) {
            Err(SaasError::Input(e)) => *e,
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    const HEADER: &str =
        "customer_id,subscription_id,plan,start_date,end_date,amount,interval,interval_count,quantity\n";

    #[test]
    fn rejects_end_date_before_start_date_naming_line_column_and_values() {
        let e = err(&format!(
            "{HEADER}a,s1,pro,2024-01-01,,10,month,1,1\nb,s2,pro,2024-03-01,2024-02-15,10,month,1,1\n"
        ));
        assert_eq!(e.kind, InputErrorKind::EndBeforeStart);
        assert_eq!(e.line, Some(3));
        assert_eq!(e.column, Some(("end_date".to_string(), 5)));
        assert_eq!(e.value.as_deref(), Some("2024-02-15"));
        let text = e.to_string();
        assert!(
            text.starts_with("subs.csv: line 3, column 'end_date' (5): end_date \"2024-02-15\" is before start_date \"2024-03-01\""),
            "{text}"
        );
    }

    #[test]
    fn rejects_unknown_interval() {
        let e = err(&format!("{HEADER}a,s1,pro,2024-01-01,,10,monthly,1,1\n"));
        assert_eq!(e.kind, InputErrorKind::UnknownInterval);
        assert_eq!(e.column, Some(("interval".to_string(), 7)));
        assert!(e.message.contains("\"monthly\""));
        assert!(e.message.contains("expected day, week, month or year"));
    }

    #[test]
    fn rejects_negative_amount() {
        let e = err(&format!("{HEADER}a,s1,pro,2024-01-01,,-10,month,1,1\n"));
        assert_eq!(e.kind, InputErrorKind::NegativeAmount);
        assert_eq!((e.line, e.value.as_deref()), (Some(2), Some("-10")));
    }

    #[test]
    fn rejects_bad_dates_amounts_counts_and_quantities() {
        let cases = [
            (
                "a,s,p,2024-02-30,,10,month,1,1",
                InputErrorKind::InvalidDate,
                "start_date",
            ),
            (
                "a,s,p,01/02/2024,,10,month,1,1",
                InputErrorKind::InvalidDate,
                "start_date",
            ),
            (
                "a,s,p,2024-02-01,soon,10,month,1,1",
                InputErrorKind::InvalidDate,
                "end_date",
            ),
            (
                "a,s,p,2024-02-01,,$10,month,1,1",
                InputErrorKind::InvalidNumber,
                "amount",
            ),
            (
                "a,s,p,2024-02-01,,,month,1,1",
                InputErrorKind::InvalidNumber,
                "amount",
            ),
            (
                "a,s,p,2024-02-01,,NaN,month,1,1",
                InputErrorKind::InvalidNumber,
                "amount",
            ),
            (
                "a,s,p,2024-02-01,,10,month,0,1",
                InputErrorKind::InvalidIntervalCount,
                "interval_count",
            ),
            (
                "a,s,p,2024-02-01,,10,month,1.5,1",
                InputErrorKind::InvalidIntervalCount,
                "interval_count",
            ),
            (
                "a,s,p,2024-02-01,,10,month,1,-2",
                InputErrorKind::NegativeQuantity,
                "quantity",
            ),
            (
                "a,s,p,2024-02-01,,10,month,1,two",
                InputErrorKind::InvalidNumber,
                "quantity",
            ),
            (
                ",s,p,2024-02-01,,10,month,1,1",
                InputErrorKind::EmptyCustomerId,
                "customer_id",
            ),
            (
                "a,s,p,2024-02-01,,1e300,month,1,1",
                InputErrorKind::TooLarge,
                "amount",
            ),
        ];
        for (row, kind, column) in cases {
            let e = err(&format!("{HEADER}{row}\n"));
            assert_eq!(e.kind, kind, "{row}: {e}");
            assert_eq!(e.line, Some(2), "{row}");
            assert_eq!(
                e.column.as_ref().map(|c| c.0.as_str()),
                Some(column),
                "{row}"
            );
        }
    }

    #[test]
    fn rejects_missing_column_listing_the_header() {
        let e = err("customer_id,start_date,amount,interval\na,2024-01-01,10,month\n");
        assert_eq!(e.kind, InputErrorKind::MissingColumn);
        assert!(e.message.contains("no 'end_date' column"), "{}", e.message);
        assert!(e
            .message
            .contains("'customer_id', 'start_date', 'amount', 'interval'"));
    }

    #[test]
    fn rejects_ragged_row_and_empty_file_and_header_only() {
        let e = err(&format!("{HEADER}a,s1,pro,2024-01-01,,10,month,1\n"));
        assert_eq!((e.kind, e.line), (InputErrorKind::RaggedRow, Some(2)));
        assert!(e.message.contains("8 fields; expected 9"));
        assert_eq!(err("").kind, InputErrorKind::EmptyFile);
        assert_eq!(err(HEADER).kind, InputErrorKind::NoData);
    }

    #[test]
    fn optional_columns_default_to_one_and_header_matches_ignoring_case() {
        let book = read(
            "\u{feff}Customer_ID,START_DATE,end_date,amount,interval,quantity\n a ,2024-01-01,,10,Month,\nb,2024-01-01,,10,month,3\n",
        )
        .unwrap();
        assert_eq!(book.customers(), 2);
        assert_eq!(book.customer_id(0), "a");
        assert_eq!(book.spans_of(0)[0].mrr, 10.0);
        assert_eq!(book.spans_of(1)[0].mrr, 30.0);
    }

    #[test]
    fn quarterly_annual_weekly_and_daily_rows_are_normalised_to_months() {
        let book = read(&format!(
            "{HEADER}q,,,2024-01-01,,300,month,3,1\ny,,,2024-01-01,,1200,year,1,2\nw,,,2024-01-01,,7,week,1,1\nd,,,2024-01-01,,1,day,1,1\nb,,,2024-01-01,,1200,year,2,1\n"
        ))
        .unwrap();
        let mrr = |c| book.spans_of(c)[0].mrr;
        assert_eq!(mrr(0), 100.0);
        assert_eq!(mrr(1), 200.0);
        assert!((mrr(2) - 30.4375).abs() < 1e-12);
        assert!((mrr(3) - 30.4375).abs() < 1e-12);
        assert_eq!(mrr(4), 50.0);
    }

    #[test]
    fn accepts_crlf_quotes_and_zero_length_rows() {
        let book = read(
            "customer_id,plan,start_date,end_date,amount,interval\r\n\"acme, inc\",\"pro\",2024-01-05,2024-01-05,10,month\r\nb,x,2024-01-05,,10,month\r\n",
        )
        .unwrap();
        assert_eq!(book.customers(), 2);
        assert_eq!(book.customer_id(0), "acme, inc");
        // A row ending the day it starts never shows, but still counts as read.
        assert!(book.spans_of(0).is_empty());
        assert_eq!(book.rows(), 2);
        assert_eq!(book.first_mrr_month().unwrap().to_string(), "2024-01");
    }

    #[test]
    fn spend_file_rejects_duplicate_months_and_negative_spend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spend.csv");
        std::fs::write(&path, "month,spend\n2024-01,10\n2024-01-15,20\n").unwrap();
        let e = read_marketing_spend(&path).unwrap_err();
        let e = e.input().unwrap();
        assert_eq!((e.kind, e.line), (InputErrorKind::Duplicate, Some(3)));
        assert!(e.message.contains("first on line 2"));
        std::fs::write(&path, "month,spend\n2024-01,-10\n").unwrap();
        let e = read_marketing_spend(&path).unwrap_err();
        assert_eq!(e.input().unwrap().kind, InputErrorKind::NegativeAmount);
        std::fs::write(&path, "month,spend\nJan 2024,10\n").unwrap();
        let e = read_marketing_spend(&path).unwrap_err();
        assert_eq!(e.input().unwrap().kind, InputErrorKind::InvalidMonth);
    }

    #[test]
    fn customers_file_rejects_duplicates_and_missing_attribute() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers.csv");
        std::fs::write(&path, "customer_id,tier\na,gold\na,silver\n").unwrap();
        let e = read_customer_attribute(&path, "tier").unwrap_err();
        assert_eq!(e.input().unwrap().kind, InputErrorKind::Duplicate);
        let e = read_customer_attribute(&path, "region").unwrap_err();
        let e = e.input().unwrap();
        assert_eq!(e.kind, InputErrorKind::MissingColumn);
        assert!(e.message.contains("no 'region' column"));
    }
}
