//! The RFM summary and the calibration/holdout split, with the semantics of Python lifetimes'
//! `summary_data_from_transaction_data` and `calibration_and_holdout_data` at daily resolution.
//!
//! Memory grows with the number of customers, not rows: each customer keeps O(1) running
//! statistics while its rows arrive in non-decreasing date order. A customer whose row arrives
//! earlier than its last seen date keeps its later rows in a list; at the end the list is merged
//! with the running statistics. In the rare case where that cannot be done exactly (an
//! out-of-order date falls strictly between earlier purchase days whose individual dates were
//! not kept), those customers alone are collected in a second read of the file.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rayon::prelude::*;

use crate::date::{self, show_day};
use crate::error::{DataError, InputError, InputErrorKind};
use crate::format::{SummaryOptions, TransactionFormat};
use crate::scan::{scan, Row, Rows, ScanStats};
use crate::table::IdTable;
use crate::write::{write_calibration_holdout_rows, write_rfm_rows};

/// One customer's RFM summary (lifetimes' `summary_data_from_transaction_data`).
#[derive(Debug, Clone, PartialEq)]
pub struct RfmRow {
    /// Customer id as written (surrounding whitespace trimmed).
    pub customer_id: String,
    /// Number of distinct purchase days after the first.
    pub frequency: u64,
    /// Time from the first to the last purchase day, in the time unit.
    pub recency: f64,
    /// Time from the first purchase day to the end of observation, in the time unit.
    pub t: f64,
    /// Mean amount of the repeat purchase days (0 when frequency is 0).
    pub monetary_value: f64,
}

/// One customer's calibration statistics and holdout outcome (lifetimes'
/// `calibration_and_holdout_data`).
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationHoldoutRow {
    /// Customer id as written (surrounding whitespace trimmed).
    pub customer_id: String,
    /// Repeat purchase days within the calibration period.
    pub frequency_cal: u64,
    /// First to last calibration purchase day, in the time unit.
    pub recency_cal: f64,
    /// First purchase day to the calibration end, in the time unit.
    pub t_cal: f64,
    /// Mean amount of the calibration repeat purchase days (0 if none).
    pub monetary_value_cal: f64,
    /// Distinct purchase days after the calibration end, up to the observation end.
    pub frequency_holdout: u64,
    /// Mean amount of the holdout purchase days (0 if none).
    pub monetary_value_holdout: f64,
    /// Length of the holdout period, in the time unit.
    pub duration_holdout: f64,
}

/// The result of [`summarize_file`].
#[derive(Debug, Clone, PartialEq)]
pub enum Summary {
    /// Without a calibration end: one RFM row per customer.
    Rfm(Vec<RfmRow>),
    /// With a calibration end: one calibration/holdout row per customer.
    CalibrationHoldout(Vec<CalibrationHoldoutRow>),
}

const NO_EXTRA: u32 = u32::MAX;

/// Running statistics of the days up to the split (the calibration end, or every day without
/// calibration).
#[derive(Debug, Clone, Copy)]
struct Cal {
    first: i32,
    last: i32,
    days: u32,
    /// Index into the out-of-order lists, or `NO_EXTRA`.
    extra: u32,
    first_amount: f64,
    repeat_amount: f64,
}

impl Cal {
    const EMPTY: Cal = Cal {
        first: 0,
        last: 0,
        days: 0,
        extra: NO_EXTRA,
        first_amount: 0.0,
        repeat_amount: 0.0,
    };

    /// Adds a day not before any day seen so far.
    #[inline]
    fn push_in_order(&mut self, day: i32, amount: f64) {
        if self.days == 0 {
            self.first = day;
            self.last = day;
            self.days = 1;
            self.first_amount = amount;
        } else if day == self.last {
            if day == self.first {
                self.first_amount += amount;
            } else {
                self.repeat_amount += amount;
            }
        } else {
            self.last = day;
            self.days += 1;
            self.repeat_amount += amount;
        }
    }
}

impl Default for Cal {
    fn default() -> Self {
        Cal::EMPTY
    }
}

/// Running statistics of one customer: the calibration part, and the holdout part (`hold_*`)
/// for the days after the split.
#[derive(Debug, Clone, Copy)]
struct Customer {
    cal: Cal,
    hold_first: i32,
    hold_last: i32,
    hold_days: u32,
    hold_amount: f64,
}

impl Customer {
    const EMPTY: Customer = Customer {
        cal: Cal::EMPTY,
        hold_first: 0,
        hold_last: 0,
        hold_days: 0,
        hold_amount: 0.0,
    };

    /// Adds a row whose day is not before any day seen so far.
    #[inline]
    fn push_in_order(&mut self, day: i32, amount: f64, split: i32) {
        if day <= split {
            self.cal.push_in_order(day, amount);
        } else {
            if self.hold_days == 0 {
                self.hold_first = day;
                self.hold_days = 1;
            } else if day != self.hold_last {
                self.hold_days += 1;
            }
            self.hold_last = day;
            self.hold_amount += amount;
        }
    }

    /// The last day seen, if any.
    #[inline]
    fn last_day(&self) -> Option<i32> {
        if self.hold_days > 0 {
            Some(self.hold_last)
        } else if self.cal.days > 0 {
            Some(self.cal.last)
        } else {
            None
        }
    }

    /// Merges the out-of-order rows `extra` (sorted by day, one entry per day) into the running
    /// statistics. Returns `false`, leaving `self` unchanged, when that cannot be done exactly.
    fn merge(&mut self, extra: &[(i32, f64)], split: i32) -> bool {
        let p = *self;
        // Calibration part.
        let mut hits_first = 0.0; // amounts on the known first day
        let mut hits_other = 0.0; // amounts on other known days
        let mut new_days = 0u32;
        let mut new_amount = 0.0; // amounts on new days, except the earliest new day
        let mut earliest_new: Option<(i32, f64)> = None;
        let mut latest_new = i32::MIN;
        // Holdout part.
        let mut out = p;
        for &(day, amount) in extra {
            if day <= split {
                match classify(day, p.cal.days, p.cal.first, p.cal.last) {
                    Hit::Unknown => return false,
                    Hit::First => hits_first += amount,
                    Hit::Other => hits_other += amount,
                    Hit::New => {
                        new_days += 1;
                        latest_new = latest_new.max(day);
                        // `extra` is sorted, so the first new day is the earliest.
                        match earliest_new {
                            None => earliest_new = Some((day, amount)),
                            Some(_) => new_amount += amount,
                        }
                    }
                }
            } else {
                match classify(day, p.hold_days, p.hold_first, p.hold_last) {
                    Hit::Unknown => return false,
                    Hit::First | Hit::Other => {}
                    Hit::New => {
                        if out.hold_days == 0 || day < out.hold_first {
                            out.hold_first = day;
                        }
                        if out.hold_days == 0 || day > out.hold_last {
                            out.hold_last = day;
                        }
                        out.hold_days += 1;
                    }
                }
                out.hold_amount += amount;
            }
        }
        out.cal.extra = NO_EXTRA;
        out.cal.days = p.cal.days + new_days;
        match earliest_new {
            None => {
                out.cal.first_amount = p.cal.first_amount + hits_first;
                out.cal.repeat_amount = p.cal.repeat_amount + hits_other;
            }
            Some((day, amount)) if p.cal.days == 0 || day < p.cal.first => {
                // The earliest new day becomes the first purchase day; the old first day, if
                // any, becomes a repeat day.
                out.cal.first = day;
                out.cal.first_amount = amount;
                out.cal.repeat_amount =
                    p.cal.repeat_amount + p.cal.first_amount + hits_first + hits_other + new_amount;
                out.cal.last = if p.cal.days == 0 {
                    latest_new
                } else {
                    p.cal.last.max(latest_new)
                };
            }
            Some((_, amount)) => {
                out.cal.first_amount = p.cal.first_amount + hits_first;
                out.cal.repeat_amount = p.cal.repeat_amount + hits_other + new_amount + amount;
                out.cal.last = p.cal.last.max(latest_new);
            }
        }
        *self = out;
        true
    }
}

impl Default for Customer {
    fn default() -> Self {
        Customer::EMPTY
    }
}

/// What the table keeps per customer: the whole [`Customer`] when there is a calibration split,
/// or only its calibration part ([`Cal`], 32 bytes instead of 56) when every day is before the
/// split. Less memory per customer is less time spent mapping fresh memory.
trait State: Copy + Default + Send + Sync + 'static {
    /// The customer's statistics.
    fn get(&self) -> Customer;
    /// Replaces the statistics (without a split, `c` has no holdout days).
    fn set(&mut self, c: &Customer);
    /// The calibration part.
    fn cal(&mut self) -> &mut Cal;
    /// Adds a row whose day is not before any day seen so far.
    fn push_in_order(&mut self, day: i32, amount: f64, split: i32);
    /// The last day seen, if any.
    fn last_day(&self) -> Option<i32>;
}

impl State for Customer {
    fn get(&self) -> Customer {
        *self
    }
    fn set(&mut self, c: &Customer) {
        *self = *c;
    }
    #[inline]
    fn cal(&mut self) -> &mut Cal {
        &mut self.cal
    }
    #[inline]
    fn push_in_order(&mut self, day: i32, amount: f64, split: i32) {
        Customer::push_in_order(self, day, amount, split);
    }
    #[inline]
    fn last_day(&self) -> Option<i32> {
        Customer::last_day(self)
    }
}

impl State for Cal {
    fn get(&self) -> Customer {
        Customer {
            cal: *self,
            ..Customer::EMPTY
        }
    }
    fn set(&mut self, c: &Customer) {
        debug_assert_eq!(c.hold_days, 0);
        *self = c.cal;
    }
    #[inline]
    fn cal(&mut self) -> &mut Cal {
        self
    }
    #[inline]
    fn push_in_order(&mut self, day: i32, amount: f64, split: i32) {
        debug_assert!(day <= split);
        Cal::push_in_order(self, day, amount);
    }
    #[inline]
    fn last_day(&self) -> Option<i32> {
        (self.days > 0).then_some(self.last)
    }
}

/// How a day relates to a customer's known purchase days in one part of the period.
enum Hit {
    /// Not one of the purchase days seen so far.
    New,
    /// The first purchase day.
    First,
    /// Another purchase day seen so far.
    Other,
    /// Strictly between the first and last days, whose intermediate days are not known.
    Unknown,
}

fn classify(day: i32, days: u32, first: i32, last: i32) -> Hit {
    if days == 0 || day < first || day > last {
        Hit::New
    } else if day == first {
        Hit::First
    } else if day == last || i64::from(days) == i64::from(last) - i64::from(first) + 1 {
        // The last day, or a span in which every day is a purchase day.
        Hit::Other
    } else if days <= 2 {
        Hit::New
    } else {
        Hit::Unknown
    }
}

/// Sorts rows by day and merges rows of the same day (amounts add).
fn merge_days(rows: &mut Vec<(i32, f64)>) {
    rows.sort_by_key(|&(day, _)| day);
    let mut out = 0;
    for i in 0..rows.len() {
        if out > 0 && rows[out - 1].0 == rows[i].0 {
            rows[out - 1].1 += rows[i].1;
        } else {
            rows[out] = rows[i];
            out += 1;
        }
    }
    rows.truncate(out);
}

/// How far ahead (in rows) the slot and the entry of upcoming customers are prefetched.
const PREFETCH_SLOT_AHEAD: usize = 16;
const PREFETCH_ENTRY_AHEAD: usize = 8;

/// All customers, in order of first appearance.
struct Customers<S> {
    table: IdTable<S>,
    /// Out-of-order rows of the customers that have them, indexed by `Customer::extra`.
    extra: Vec<Vec<(i32, f64)>>,
    /// The customer of the last row added, for rows marked [`Row::same`].
    last: Option<usize>,
}

impl<S: State> Customers<S> {
    fn new() -> Self {
        Customers {
            table: IdTable::new(),
            extra: Vec::new(),
            last: None,
        }
    }

    /// Calls `each(self, id, row)` for every row, prefetching the table memory of the rows a
    /// little ahead.
    #[inline]
    fn for_each_row(
        &mut self,
        rows: &Rows,
        mut each: impl FnMut(&mut Self, &[u8], &Row) -> Result<(), DataError>,
    ) -> Result<(), DataError> {
        let list = rows.rows();
        self.last = None;
        for (j, row) in list.iter().enumerate() {
            if let Some(ahead) = list.get(j + PREFETCH_SLOT_AHEAD).filter(|r| !r.same) {
                self.table.prefetch_slot(ahead.hash);
            }
            if let Some(ahead) = list.get(j + PREFETCH_ENTRY_AHEAD).filter(|r| !r.same) {
                self.table.prefetch_entry(ahead.hash);
            }
            each(self, rows.id(row), row)?;
        }
        Ok(())
    }

    /// Adds the purchase of `row`, whose customer id is `id`.
    #[inline]
    fn add(&mut self, id: &[u8], row: &Row, split: i32) -> Result<(), DataError> {
        let index = match self.last {
            Some(index) if row.same => index,
            _ => self.table.index_or_insert(id, row.hash, S::default)?,
        };
        self.last = Some(index);
        let (day, amount) = (row.day, row.amount);
        let c = self.table.value_mut(index);
        let extra = c.cal().extra;
        if extra != NO_EXTRA {
            self.extra[extra as usize].push((day, amount));
        } else if !matches!(c.last_day(), Some(last) if day < last) {
            c.push_in_order(day, amount, split);
        } else {
            // The first out-of-order row of this customer: keep its rows from now on.
            c.cal().extra = u32::try_from(self.extra.len())
                .ok()
                .filter(|&k| k != NO_EXTRA)
                .ok_or_else(|| {
                    DataError::Internal("too many customers with out-of-order dates".into())
                })?;
            self.extra.push(vec![(day, amount)]);
        }
        Ok(())
    }
}

/// Reads a purchase log once and builds the RFM summary, or the calibration/holdout table when
/// `options.calibration_end` is set. Rows come out in order of each customer's first
/// appearance. `on_progress(bytes_read_so_far)` is called about every megabyte and once at the
/// end.
///
/// The file is read a second time only if some customer's out-of-order dates cannot be
/// merged exactly into its running statistics (see the module documentation); the progress count
/// then starts again from 0.
///
/// ```
/// use northstar_data::{summarize_file, Summary, SummaryOptions, TimeUnit, TransactionFormat};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tx.csv");
/// std::fs::write(&path, "customer_id,date,amount\na,2024-01-01,10\na,2024-01-08,20\na,2024-01-08,5\nb,2024-01-15,7\n").unwrap();
/// let options = SummaryOptions { time_unit: TimeUnit::Day, ..Default::default() };
/// let Summary::Rfm(rows) = summarize_file(&path, &TransactionFormat::default(), &options, &mut |_| {}).unwrap() else { unreachable!() };
/// assert_eq!((rows[0].frequency, rows[0].recency, rows[0].t, rows[0].monetary_value), (1, 7.0, 14.0, 25.0));
/// assert_eq!((rows[1].customer_id.as_str(), rows[1].frequency, rows[1].t), ("b", 0, 0.0));
/// ```
pub fn summarize_file(
    path: &Path,
    format: &TransactionFormat,
    options: &SummaryOptions,
    on_progress: &mut dyn FnMut(u64),
) -> Result<Summary, DataError> {
    summarize_file_table(path, format, options, on_progress).map(SummaryTable::into_summary)
}

/// [`summarize_file`] without building a row per customer: the summary stays in the table the
/// summarizer filled, to be written as CSV ([`SummaryTable::write_csv`], the bytes
/// [`write_rfm_csv`](crate::write_rfm_csv) or
/// [`write_calibration_holdout_csv`](crate::write_calibration_holdout_csv) would write for the
/// rows) or turned into rows ([`SummaryTable::into_summary`]).
///
/// ```
/// use northstar_data::{summarize_file_table, SummaryOptions, TimeUnit, TransactionFormat};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tx.csv");
/// std::fs::write(&path, "customer_id,date,amount\na,2024-01-01,10\na,2024-01-08,20\nb,2024-01-15,7\n").unwrap();
/// let options = SummaryOptions { time_unit: TimeUnit::Day, ..Default::default() };
/// let table = summarize_file_table(&path, &TransactionFormat::default(), &options, &mut |_| {}).unwrap();
/// assert_eq!(table.len(), 2);
/// let mut csv = Vec::new();
/// table.write_csv(&mut csv).unwrap();
/// assert_eq!(String::from_utf8(csv).unwrap(), "customer_id,frequency,recency,T,monetary_value\na,1,7,14,20\nb,0,0,0,0\n");
/// ```
pub fn summarize_file_table(
    path: &Path,
    format: &TransactionFormat,
    options: &SummaryOptions,
    on_progress: &mut dyn FnMut(u64),
) -> Result<SummaryTable, DataError> {
    let obs_given = options.observation_end.map(date::day_number);
    let cal = options.calibration_end.map(date::day_number);
    if let (Some(c), Some(o)) = (cal, obs_given) {
        if c >= o {
            return Err(period_error(path, c, o, false).into());
        }
    }
    let mut source = FileSource {
        path,
        format,
        on_progress,
    };
    summarize(&mut source, options, obs_given, cal)
}

/// Builds the same summary as [`summarize_file`] (same-day merge, frequency, recency, T,
/// monetary value, time unit, observation end, calibration split, customers in order of first
/// appearance) from purchase records that are already parsed, for example those a store holds.
///
/// `source(each)` must call `each(customer_id, date, amount)` once per purchase, in the same
/// order every time it is called: it is called once, and a second time only when some
/// customer's out-of-order dates cannot be merged exactly (see the module documentation).
/// Customer ids are trimmed; amounts are used as given (negative ones are netted into the day,
/// as under [`NegativeAmounts::Keep`](crate::NegativeAmounts::Keep)). Errors about the data
/// name the file as `purchase records`; an error from `source` is returned as it is.
///
/// ```
/// use chrono::NaiveDate;
/// use northstar_data::{summarize_records, DataError, Summary, SummaryOptions, TimeUnit};
/// let d = |s: &str| s.parse::<NaiveDate>().unwrap();
/// let rows = [("a", d("2024-01-01"), 10.0), ("a", d("2024-01-08"), 20.0), ("a", d("2024-01-08"), 5.0), ("b", d("2024-01-15"), 7.0)];
/// let options = SummaryOptions { time_unit: TimeUnit::Day, ..Default::default() };
/// let summary = summarize_records::<DataError>(
///     &mut |each| { for (id, day, amount) in rows { each(id, day, amount) } Ok(()) },
///     &options,
/// )?;
/// let Summary::Rfm(rfm) = summary else { unreachable!() };
/// // a: purchase days 01-01 and 01-08 (25): one repeat day, recency 7, T 14 (to 01-15).
/// assert_eq!((rfm[0].frequency, rfm[0].recency, rfm[0].t, rfm[0].monetary_value), (1, 7.0, 14.0, 25.0));
/// # Ok::<(), DataError>(())
/// ```
pub fn summarize_records<E: From<DataError>>(
    source: &mut RecordFeed<'_, E>,
    options: &SummaryOptions,
) -> Result<Summary, E> {
    let label = PathBuf::from("purchase records");
    let obs_given = options.observation_end.map(date::day_number);
    let cal = options.calibration_end.map(date::day_number);
    if let (Some(c), Some(o)) = (cal, obs_given) {
        if c >= o {
            return Err(DataError::from(period_error(&label, c, o, false)).into());
        }
    }
    let mut records = RecordSource {
        label,
        source,
        failed: None,
    };
    let result = summarize(&mut records, options, obs_given, cal);
    match (result, records.failed) {
        (_, Some(e)) => Err(e),
        (result, None) => result.map(SummaryTable::into_summary).map_err(E::from),
    }
}

/// Where the rows of a summary come from. They are read once, and a second time only for the
/// customers whose out-of-order dates cannot be merged exactly.
trait Source {
    /// What error messages name as the file.
    fn path(&self) -> &Path;
    /// Hands every kept row to `each(&mut state, rows)` in batches, in the same order on every
    /// call; returns the statistics and the final state.
    fn read<T: Send>(
        &mut self,
        state: T,
        each: impl FnMut(&mut T, &Rows) -> Result<(), DataError> + Send,
    ) -> Result<(ScanStats, T), DataError>;
}

/// A purchase log on disk.
struct FileSource<'a> {
    path: &'a Path,
    format: &'a TransactionFormat,
    on_progress: &'a mut dyn FnMut(u64),
}

impl Source for FileSource<'_> {
    fn path(&self) -> &Path {
        self.path
    }

    fn read<T: Send>(
        &mut self,
        state: T,
        each: impl FnMut(&mut T, &Rows) -> Result<(), DataError> + Send,
    ) -> Result<(ScanStats, T), DataError> {
        scan(self.path, self.format, self.on_progress, state, each)
    }
}

/// A feed of purchase records for [`summarize_records`]: called once, it hands every
/// `(customer_id, day, amount)` to the callback it is given.
pub type RecordFeed<'a, E> = dyn FnMut(&mut dyn FnMut(&str, NaiveDate, f64)) -> Result<(), E> + 'a;

/// Parsed records from a callback ([`summarize_records`]).
struct RecordSource<'a, E> {
    label: PathBuf,
    source: &'a mut RecordFeed<'a, E>,
    /// The source's own error, returned as it is.
    failed: Option<E>,
}

impl<E> Source for RecordSource<'_, E> {
    fn path(&self) -> &Path {
        &self.label
    }

    fn read<T: Send>(
        &mut self,
        mut state: T,
        mut each: impl FnMut(&mut T, &Rows) -> Result<(), DataError> + Send,
    ) -> Result<(ScanStats, T), DataError> {
        let mut stats = ScanStats::new();
        let mut batch = Rows::default();
        let mut error: Option<DataError> = None;
        let label = &self.label;
        let read = (self.source)(&mut |id, day, amount| {
            if error.is_some() {
                return;
            }
            stats.rows += 1;
            let id = id.trim();
            if id.is_empty() {
                error = Some(
                    InputError::new(
                        InputErrorKind::EmptyCustomerId,
                        label,
                        format!(
                            "record {}: the customer id is empty; expected a non-empty id",
                            stats.rows
                        ),
                    )
                    .into(),
                );
                return;
            }
            let day = date::day_number(day);
            stats.keep(day);
            let pushed = batch.push_copy(id.as_bytes(), day, amount).and_then(|()| {
                if batch.len() >= Rows::CAPACITY || batch.bytes.len() >= 1 << 20 {
                    let done = each(&mut state, &batch);
                    batch.clear();
                    done
                } else {
                    Ok(())
                }
            });
            if let Err(e) = pushed {
                error = Some(e);
            }
        });
        if let Err(e) = read {
            self.failed = Some(e);
            return Err(DataError::Internal(
                "the purchase records could not be read".into(),
            ));
        }
        if let Some(e) = error {
            return Err(e);
        }
        if batch.len() > 0 {
            each(&mut state, &batch)?;
        }
        if stats.rows == 0 {
            return Err(InputError::new(
                InputErrorKind::NoData,
                &self.label,
                "there are no purchase records; expected at least one",
            )
            .into());
        }
        Ok((stats, state))
    }
}

/// A finished summary, kept in the table the summarizer filled (ids and running statistics in
/// order of first appearance) until it is written or turned into rows. Made by
/// [`summarize_file_table`].
pub struct SummaryTable {
    built: Built,
}

enum Built {
    /// Without a calibration end.
    Rfm(Finished<Cal>),
    /// With a calibration end.
    CalibrationHoldout(Finished<Customer>),
}

/// The customers' statistics and what turns them into rows.
struct Finished<S> {
    table: IdTable<S>,
    /// Observation end and calibration end (day numbers), days per time unit.
    obs: i32,
    cal: i32,
    unit: f64,
}

impl Finished<Cal> {
    /// Customer `i`'s RFM row, without its id.
    #[inline]
    fn row(&self, i: usize) -> RfmRow {
        let c = self.table.value(i);
        let frequency = u64::from(c.days.saturating_sub(1));
        RfmRow {
            customer_id: String::new(),
            frequency,
            recency: f64::from(c.last - c.first) / self.unit,
            t: (f64::from(self.obs) - f64::from(c.first)) / self.unit,
            monetary_value: mean(c.repeat_amount, frequency),
        }
    }
}

impl Finished<Customer> {
    /// Customer `i`'s calibration/holdout row, without its id; `None` when the customer made
    /// no purchase up to the calibration end.
    #[inline]
    fn row(&self, i: usize) -> Option<CalibrationHoldoutRow> {
        let c = self.table.value(i);
        if c.cal.days == 0 {
            return None;
        }
        let frequency_cal = u64::from(c.cal.days - 1);
        let frequency_holdout = u64::from(c.hold_days);
        Some(CalibrationHoldoutRow {
            customer_id: String::new(),
            frequency_cal,
            recency_cal: f64::from(c.cal.last - c.cal.first) / self.unit,
            t_cal: (f64::from(self.cal) - f64::from(c.cal.first)) / self.unit,
            monetary_value_cal: mean(c.cal.repeat_amount, frequency_cal),
            frequency_holdout,
            monetary_value_holdout: mean(c.hold_amount, frequency_holdout),
            duration_holdout: (f64::from(self.obs) - f64::from(self.cal)) / self.unit,
        })
    }
}

impl<S: State> Finished<S> {
    /// Customer `i`'s id. Ids were checked to be UTF-8 when read.
    fn id(&self, i: usize) -> &[u8] {
        self.table.id(i)
    }

    fn id_string(&self, i: usize) -> String {
        String::from_utf8_lossy(self.table.id(i)).into_owned()
    }
}

impl SummaryTable {
    /// Number of rows: customers, or with a calibration end, customers with a purchase up to it.
    pub fn len(&self) -> usize {
        match &self.built {
            Built::Rfm(f) => f.table.len(),
            Built::CalibrationHoldout(f) => (0..f.table.len())
                .into_par_iter()
                .filter(|&i| f.table.value(i).cal.days > 0)
                .count(),
        }
    }

    /// Whether there are no rows (never the case for a table [`summarize_file_table`] returns).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the table as CSV: the bytes [`write_rfm_csv`](crate::write_rfm_csv) or
    /// [`write_calibration_holdout_csv`](crate::write_calibration_holdout_csv) write for the
    /// rows of [`into_summary`](Self::into_summary), formatted on every core.
    pub fn write_csv<W: std::io::Write>(&self, out: W) -> Result<(), DataError> {
        match &self.built {
            Built::Rfm(f) => write_rfm_rows(f.table.len(), out, |i| (f.id(i), f.row(i))),
            Built::CalibrationHoldout(f) => {
                write_calibration_holdout_rows(f.table.len(), out, |i| {
                    f.row(i).map(|row| (f.id(i), row))
                })
            }
        }
    }

    /// The rows, in order of each customer's first appearance.
    pub fn into_summary(self) -> Summary {
        match self.built {
            Built::Rfm(f) => Summary::Rfm(
                (0..f.table.len())
                    .into_par_iter()
                    .map(|i| RfmRow {
                        customer_id: f.id_string(i),
                        ..f.row(i)
                    })
                    .collect(),
            ),
            Built::CalibrationHoldout(f) => Summary::CalibrationHoldout(
                (0..f.table.len())
                    .into_par_iter()
                    .filter_map(|i| {
                        f.row(i).map(|row| CalibrationHoldoutRow {
                            customer_id: f.id_string(i),
                            ..row
                        })
                    })
                    .collect(),
            ),
        }
    }
}

/// The summary of `source`; `obs_given` and `cal` are the observation and calibration ends as
/// day numbers.
fn summarize(
    source: &mut impl Source,
    options: &SummaryOptions,
    obs_given: Option<i32>,
    cal: Option<i32>,
) -> Result<SummaryTable, DataError> {
    let unit = options.time_unit.days();
    Ok(SummaryTable {
        built: match cal {
            None => {
                let (table, obs, _) = summarize_with::<Cal>(source, obs_given, None)?;
                Built::Rfm(Finished {
                    table,
                    obs,
                    cal: obs,
                    unit,
                })
            }
            Some(c_end) => {
                let (table, obs, stats) = summarize_with::<Customer>(source, obs_given, cal)?;
                if !(0..table.len())
                    .into_par_iter()
                    .any(|i| table.value(i).cal.days > 0)
                {
                    return Err(InputError::new(
                        InputErrorKind::NoCustomers,
                        source.path(),
                        format!(
                            "no purchase on or before the calibration end {} (the earliest purchase is on {}); expected a calibration end on or after the first purchase",
                            show_day(c_end),
                            show_day(stats.min_day)
                        ),
                    )
                    .into());
                }
                Built::CalibrationHoldout(Finished {
                    table,
                    obs,
                    cal: c_end,
                    unit,
                })
            }
        },
    })
}

/// Reads `source` keeping `S` per customer; returns the customers' statistics, the observation
/// end and what the read saw.
fn summarize_with<S: State>(
    source: &mut impl Source,
    obs_given: Option<i32>,
    cal: Option<i32>,
) -> Result<(IdTable<S>, i32, ScanStats), DataError> {
    let split = cal.unwrap_or(i32::MAX);
    let obs_filter = obs_given.unwrap_or(i32::MAX);

    let (stats, mut customers) = source.read(Customers::<S>::new(), |customers, rows| {
        customers.for_each_row(rows, |customers, id, row| {
            if row.day > obs_filter {
                // The next row's customer may not be this one's (or not exist yet).
                customers.last = None;
                return Ok(());
            }
            customers.add(id, row, split)
        })
    })?;

    let obs = obs_given.unwrap_or(stats.max_day);
    if let Some(c) = cal {
        if c >= obs {
            return Err(period_error(source.path(), c, obs, true).into());
        }
    }
    if customers.table.len() == 0 {
        return Err(no_customers(source.path(), &stats, obs_given).into());
    }

    resolve_out_of_order(source, &mut customers, split, obs_filter)?;
    Ok((customers.table, obs, stats))
}

fn mean(total: f64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total / count as f64
    }
}

fn period_error(path: &Path, cal: i32, obs: i32, obs_is_default: bool) -> InputError {
    InputError::new(
        InputErrorKind::InvalidPeriod,
        path,
        format!(
            "the calibration end {} is not before the observation end {}{}; expected a calibration end earlier than the observation end",
            show_day(cal),
            show_day(obs),
            if obs_is_default { " (the last purchase date in the file)" } else { "" }
        ),
    )
}

fn no_customers(path: &Path, stats: &ScanStats, obs_given: Option<i32>) -> InputError {
    let message = match obs_given {
        Some(o) if stats.kept > 0 => format!(
            "every purchase is after the observation end {} (the earliest purchase is on {}); expected an observation end on or after the first purchase",
            show_day(o),
            show_day(stats.min_day)
        ),
        _ => format!(
            "all {} data rows were dropped (negative amounts under --negative-amounts drop); no customers left",
            stats.rows
        ),
    };
    InputError::new(InputErrorKind::NoCustomers, path, message)
}

/// Merges every out-of-order list into its customer's statistics, re-reading the file for the
/// customers where that cannot be done exactly.
fn resolve_out_of_order<S: State>(
    source: &mut impl Source,
    customers: &mut Customers<S>,
    split: i32,
    obs_filter: i32,
) -> Result<(), DataError> {
    if customers.extra.is_empty() {
        return Ok(());
    }
    let mut pending = 0usize;
    for state in customers.table.values_mut() {
        let extra = state.cal().extra;
        if extra == NO_EXTRA {
            continue;
        }
        let list = &mut customers.extra[extra as usize];
        merge_days(list);
        let mut c = state.get();
        if c.merge(list, split) {
            state.set(&c);
            *list = Vec::new();
        } else {
            // Collect this customer's rows from scratch in a second pass.
            list.clear();
            state.set(&Customer {
                cal: Cal {
                    extra,
                    ..Cal::EMPTY
                },
                ..Customer::EMPTY
            });
            pending += 1;
        }
    }
    if pending > 0 {
        source.read(&mut *customers, |customers, rows| {
            customers.for_each_row(rows, |customers, id, row| {
                if row.day > obs_filter {
                    return Ok(());
                }
                if let Some(state) = customers.table.get_mut(id, row.hash) {
                    let extra = state.cal().extra;
                    if extra != NO_EXTRA {
                        customers.extra[extra as usize].push((row.day, row.amount));
                    }
                }
                Ok(())
            })
        })?;
        let Customers { table, extra, .. } = customers;
        for state in table.values_mut() {
            let index = state.cal().extra;
            if index == NO_EXTRA {
                continue;
            }
            let list = &mut extra[index as usize];
            merge_days(list);
            let mut c = state.get();
            if !c.merge(list, split) {
                return Err(DataError::Internal(
                    "could not merge a customer's purchase days".into(),
                ));
            }
            state.set(&c);
        }
    }
    customers.extra = Vec::new();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::path::Path;

    use chrono::NaiveDate;

    use super::*;
    use crate::format::{ColumnRef, Delimiter, NegativeAmounts, TimeUnit};
    use crate::test_util::file;
    use crate::write::{write_calibration_holdout_csv, write_rfm_csv};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn days(unit: TimeUnit) -> SummaryOptions {
        SummaryOptions {
            time_unit: unit,
            ..Default::default()
        }
    }

    fn rfm(path: &Path, format: &TransactionFormat, options: &SummaryOptions) -> Vec<RfmRow> {
        match summarize_file(path, format, options, &mut |_| {}).unwrap() {
            Summary::Rfm(rows) => rows,
            other => panic!("expected RFM rows, got {other:?}"),
        }
    }

    fn cal_holdout(
        path: &Path,
        format: &TransactionFormat,
        options: &SummaryOptions,
    ) -> Vec<CalibrationHoldoutRow> {
        match summarize_file(path, format, options, &mut |_| {}).unwrap() {
            Summary::CalibrationHoldout(rows) => rows,
            other => panic!("expected calibration/holdout rows, got {other:?}"),
        }
    }

    fn row(id: &str, frequency: u64, recency: f64, t: f64, monetary_value: f64) -> RfmRow {
        RfmRow {
            customer_id: id.into(),
            frequency,
            recency,
            t,
            monetary_value,
        }
    }

    #[test]
    fn same_day_purchases_merge_into_one_purchase_day_with_summed_amounts() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\na,2024-01-01,10\na,2024-01-01,5\na,2024-01-08,20\na,2024-01-08,1.5\na,2024-01-15,3\nb,2024-01-15,4\n",
        );
        let rows = rfm(&path, &TransactionFormat::default(), &days(TimeUnit::Day));
        // a: purchase days 01-01 (15), 01-08 (21.5), 01-15 (3): two repeat days, mean 12.25.
        assert_eq!(
            rows,
            vec![row("a", 2, 14.0, 14.0, 12.25), row("b", 0, 0.0, 0.0, 0.0)]
        );
    }

    #[test]
    fn recency_and_t_are_expressed_in_the_chosen_time_unit() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date\na,2024-01-01\na,2024-01-15\nb,2024-03-01\n",
        );
        for (unit, div) in [
            (TimeUnit::Day, 1.0),
            (TimeUnit::Week, 7.0),
            (TimeUnit::Month, 30.4375),
            (TimeUnit::Year, 365.25),
        ] {
            let rows = rfm(&path, &TransactionFormat::default(), &days(unit));
            assert_eq!(rows[0].recency, 14.0 / div);
            assert_eq!(rows[0].t, 60.0 / div);
            assert_eq!(
                rows[0].monetary_value, 0.0,
                "no amount column means amounts are 0"
            );
        }
    }

    #[test]
    fn observation_end_leaves_out_later_purchases_and_customers_who_start_after_it() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\nlate,2024-02-10,1\na,2024-01-01,10\na,2024-01-20,30\na,2024-02-05,99\nb,2024-01-31,5\n",
        );
        let options = SummaryOptions {
            observation_end: Some(d("2024-01-31")),
            ..days(TimeUnit::Day)
        };
        let rows = rfm(&path, &TransactionFormat::default(), &options);
        assert_eq!(
            rows,
            vec![row("a", 1, 19.0, 30.0, 30.0), row("b", 0, 0.0, 0.0, 0.0)]
        );
    }

    #[test]
    fn observation_end_defaults_to_the_last_date_in_the_file() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date\na,2024-01-01\nb,2024-01-11\na,2024-01-04\n",
        );
        let rows = rfm(&path, &TransactionFormat::default(), &days(TimeUnit::Day));
        assert_eq!(
            rows,
            vec![row("a", 1, 3.0, 10.0, 0.0), row("b", 0, 0.0, 0.0, 0.0)]
        );
    }

    #[test]
    fn rows_come_out_in_order_of_first_appearance_with_ids_kept_verbatim() {
        let (_dir, path) = file("tx.csv", "customer_id,date\n  0002 ,2024-01-01\n0001,2024-01-02\nZ z,2024-01-03\n0002,2024-01-04\n");
        let rows = rfm(&path, &TransactionFormat::default(), &days(TimeUnit::Day));
        let ids: Vec<&str> = rows.iter().map(|r| r.customer_id.as_str()).collect();
        assert_eq!(ids, ["0002", "0001", "Z z"]);
    }

    #[test]
    fn calibration_and_holdout_match_hand_computed_values() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\n\
             a,2024-01-01,10\n\
             a,2024-01-01,5\n\
             b,2024-01-03,20\n\
             a,2024-01-05,8\n\
             a,2024-01-10,12\n\
             c,2024-01-12,7\n\
             a,2024-01-15,30\n\
             a,2024-01-15,10\n\
             b,2024-01-20,6\n\
             a,2024-01-25,4\n\
             b,2024-02-01,100\n",
        );
        let options = SummaryOptions {
            observation_end: Some(d("2024-01-31")),
            calibration_end: Some(d("2024-01-10")),
            time_unit: TimeUnit::Week,
        };
        let rows = cal_holdout(&path, &TransactionFormat::default(), &options);
        // a: calibration days 01-01 (15), 01-05 (8), 01-10 (12); holdout days 01-15 (40), 01-25 (4).
        // b: calibration day 01-03 (20); holdout day 01-20 (6); 02-01 is after the observation end.
        // c: first purchase after the calibration end, left out.
        let expected = vec![
            CalibrationHoldoutRow {
                customer_id: "a".into(),
                frequency_cal: 2,
                recency_cal: 9.0 / 7.0,
                t_cal: 9.0 / 7.0,
                monetary_value_cal: 10.0,
                frequency_holdout: 2,
                monetary_value_holdout: 22.0,
                duration_holdout: 3.0,
            },
            CalibrationHoldoutRow {
                customer_id: "b".into(),
                frequency_cal: 0,
                recency_cal: 0.0,
                t_cal: 1.0,
                monetary_value_cal: 0.0,
                frequency_holdout: 1,
                monetary_value_holdout: 6.0,
                duration_holdout: 3.0,
            },
        ];
        assert_eq!(rows, expected);
    }

    #[test]
    fn the_table_writes_the_csv_of_its_rows_byte_for_byte() {
        // Expected bytes: `write_rfm_csv` / `write_calibration_holdout_csv` on the rows that
        // `summarize_file` returns for the same file (ids needing quotes, out-of-order dates,
        // a customer whose purchases all fall after the calibration end).
        let mut text = String::from("customer_id,date,amount\n");
        for i in 0..40_000u32 {
            let id = match i % 5 {
                0 => format!("\"c,{}\"", i % 3000),
                1 => format!("\"say \"\"{}\"\"\"", i % 2000),
                _ => format!("c{}", i % 15_000),
            };
            let day = 1 + (i * 7919) % 360;
            text += &format!(
                "{id},{},{}.{:02}\n",
                d("2024-01-01") + chrono::Days::new(day.into()),
                i % 97,
                i % 100
            );
        }
        text += "late,2024-12-30,5\n";
        let (_dir, path) = file("tx.csv", &text);
        let format = TransactionFormat::default();
        for calibration_end in [None, Some(d("2024-09-30"))] {
            let options = SummaryOptions {
                calibration_end,
                time_unit: TimeUnit::Week,
                ..Default::default()
            };
            let table = summarize_file_table(&path, &format, &options, &mut |_| {}).unwrap();
            let mut from_table = Vec::new();
            table.write_csv(&mut from_table).unwrap();
            let mut from_rows = Vec::new();
            let summary = summarize_file(&path, &format, &options, &mut |_| {}).unwrap();
            let len = match &summary {
                Summary::Rfm(rows) => {
                    write_rfm_csv(rows, &mut from_rows).unwrap();
                    rows.len()
                }
                Summary::CalibrationHoldout(rows) => {
                    write_calibration_holdout_csv(rows, &mut from_rows).unwrap();
                    // "late" bought only after the calibration end.
                    assert!(rows.iter().all(|r| r.customer_id != "late"));
                    rows.len()
                }
            };
            assert_eq!(table.len(), len);
            assert!(len > 9_000, "{len}");
            assert!(from_table == from_rows, "{calibration_end:?}");
            assert_eq!(table.into_summary(), summary);
        }
    }

    #[test]
    fn calibration_with_default_observation_end_uses_the_last_date_for_the_holdout() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\na,2024-01-01,1\na,2024-01-08,2\nb,2024-01-15,3\n",
        );
        let options = SummaryOptions {
            calibration_end: Some(d("2024-01-05")),
            ..days(TimeUnit::Day)
        };
        let rows = cal_holdout(&path, &TransactionFormat::default(), &options);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (
                rows[0].frequency_holdout,
                rows[0].monetary_value_holdout,
                rows[0].duration_holdout
            ),
            (1, 2.0, 10.0)
        );
        assert_eq!(rows[0].t_cal, 4.0);
    }

    #[test]
    fn negative_amounts_can_be_dropped_or_netted_into_the_day() {
        let content = "customer_id,date,amount\na,2024-01-01,10\na,2024-01-05,20\na,2024-01-05,-5\na,2024-01-09,-4\n";
        let (_dir, path) = file("tx.csv", content);
        let keep = TransactionFormat {
            negative_amounts: NegativeAmounts::Keep,
            ..Default::default()
        };
        // Keep: days 01-05 (15) and 01-09 (-4) are repeat days.
        assert_eq!(
            rfm(&path, &keep, &days(TimeUnit::Day)),
            vec![row("a", 2, 8.0, 8.0, 5.5)]
        );
        let drop = TransactionFormat {
            negative_amounts: NegativeAmounts::Drop,
            ..Default::default()
        };
        // Drop: the whole row goes, so 01-09 is not a purchase day and not the observation end.
        assert_eq!(
            rfm(&path, &drop, &days(TimeUnit::Day)),
            vec![row("a", 1, 4.0, 4.0, 20.0)]
        );
    }

    #[test]
    fn tab_separated_file_with_header_and_named_columns() {
        let (_dir, path) = file(
            "tx.tsv",
            "user\twhen\tspend\nu1\t2024-01-01\t3\nu1\t2024-01-03\t4\n",
        );
        let format = TransactionFormat {
            delimiter: Delimiter::Tab,
            customer_col: ColumnRef::Name("user".into()),
            date_col: ColumnRef::Name("When".into()),
            amount_col: Some(ColumnRef::Name("spend".into())),
            ..Default::default()
        };
        assert_eq!(
            rfm(&path, &format, &days(TimeUnit::Day)),
            vec![row("u1", 1, 2.0, 2.0, 4.0)]
        );
    }

    #[test]
    fn headerless_csv_with_positional_columns() {
        let (_dir, path) = file(
            "tx.csv",
            "x,2024-01-01,c1,5\nx,2024-01-02,c1,7\nx,2024-01-02,c2,1\n",
        );
        let format = TransactionFormat {
            has_header: false,
            customer_col: ColumnRef::Position(3),
            date_col: ColumnRef::Position(2),
            amount_col: Some(ColumnRef::Position(4)),
            ..Default::default()
        };
        assert_eq!(
            rfm(&path, &format, &days(TimeUnit::Day)),
            vec![row("c1", 1, 1.0, 1.0, 7.0), row("c2", 0, 0.0, 0.0, 0.0)]
        );
    }

    #[test]
    fn amount_column_named_amount_is_used_when_not_given() {
        let (_dir, path) = file(
            "tx.csv",
            "date,Amount,customer_id\n2024-01-01,1,a\n2024-01-02,2,a\n",
        );
        assert_eq!(
            rfm(&path, &TransactionFormat::default(), &days(TimeUnit::Day)),
            vec![row("a", 1, 1.0, 1.0, 2.0)]
        );
    }

    #[test]
    fn iso_date_times_count_by_the_calendar_date_as_written() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\na,2024-01-01T23:59:59Z,1\na,2024-01-01 08:00:00,2\na,2024-01-03T00:30:00.250+09:00,3\na,20240104,4\n",
        );
        assert_eq!(
            rfm(&path, &TransactionFormat::default(), &days(TimeUnit::Day)),
            vec![row("a", 2, 3.0, 3.0, 3.5)]
        );
    }

    #[test]
    fn custom_date_format_is_used_for_every_row() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date\na,31/01/2024\na,02/02/2024 10:00\n",
        );
        let format = TransactionFormat {
            date_format: Some("%d/%m/%Y".into()),
            ..Default::default()
        };
        // The second row has a time, which the date-only pattern rejects.
        let err = summarize_file(&path, &format, &days(TimeUnit::Day), &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        std::fs::write(&path, "customer_id,date\na,31/01/2024\na,02/02/2024\n").unwrap();
        assert_eq!(
            rfm(&path, &format, &days(TimeUnit::Day)),
            vec![row("a", 1, 2.0, 2.0, 0.0)]
        );
    }

    #[test]
    fn whitespace_separated_lines_with_leading_spaces_and_crlf() {
        let (_dir, path) = file("tx.txt", " 1 0001 19970101  2   29.33\r\n 1 0001 19970118  2   29.73\r\n\r\n 2 0002 19970102 1 5\r\n");
        let format = TransactionFormat {
            delimiter: Delimiter::Whitespace,
            has_header: false,
            customer_col: ColumnRef::Position(2),
            date_col: ColumnRef::Position(3),
            amount_col: Some(ColumnRef::Position(5)),
            ..Default::default()
        };
        assert_eq!(
            rfm(&path, &format, &days(TimeUnit::Day)),
            vec![
                row("0001", 1, 17.0, 17.0, 29.73),
                row("0002", 0, 0.0, 16.0, 0.0)
            ]
        );
    }

    #[test]
    fn progress_reports_the_bytes_read_at_the_end() {
        let content = "customer_id,date\na,2024-01-01\n";
        let (_dir, path) = file("tx.csv", content);
        let mut seen = Vec::new();
        summarize_file(
            &path,
            &TransactionFormat::default(),
            &SummaryOptions::default(),
            &mut |b| seen.push(b),
        )
        .unwrap();
        assert_eq!(seen.last(), Some(&(content.len() as u64)));
    }

    /// Summaries computed directly from every customer's full day list: the reference the
    /// streaming implementation must match.
    fn reference(
        rows: &[(String, i32, f64)],
        obs: Option<i32>,
        cal: Option<i32>,
        unit: f64,
    ) -> (Vec<String>, HashMap<String, [f64; 8]>) {
        let kept: Vec<_> = rows
            .iter()
            .filter(|r| !matches!(obs, Some(o) if r.1 > o))
            .collect();
        let o = obs.unwrap_or_else(|| kept.iter().map(|r| r.1).max().unwrap());
        let split = cal.unwrap_or(i32::MAX);
        let mut order = Vec::new();
        let mut per: HashMap<String, BTreeMap<i32, f64>> = HashMap::new();
        for (id, day, amount) in kept {
            if !per.contains_key(id) {
                order.push(id.clone());
            }
            *per.entry(id.clone()).or_default().entry(*day).or_default() += amount;
        }
        let mut out = HashMap::new();
        for (id, days) in &per {
            let cal_days: Vec<_> = days.iter().filter(|(d, _)| **d <= split).collect();
            let hold: Vec<_> = days.iter().filter(|(d, _)| **d > split).collect();
            if cal_days.is_empty() {
                continue;
            }
            let first = *cal_days[0].0;
            let last = *cal_days[cal_days.len() - 1].0;
            let f = (cal_days.len() - 1) as f64;
            let repeat: f64 = cal_days[1..].iter().map(|(_, a)| **a).sum();
            let hold_total: f64 = hold.iter().map(|(_, a)| **a).sum();
            let end = cal.unwrap_or(o);
            out.insert(
                id.clone(),
                [
                    f,
                    f64::from(last - first) / unit,
                    f64::from(end - first) / unit,
                    if f > 0.0 { repeat / f } else { 0.0 },
                    hold.len() as f64,
                    if hold.is_empty() {
                        0.0
                    } else {
                        hold_total / hold.len() as f64
                    },
                    f64::from(o - end) / unit,
                    0.0,
                ],
            );
        }
        order.retain(|id| out.contains_key(id));
        (order, out)
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn summarize_rows(
        rows: &[(String, i32, f64)],
        options: &SummaryOptions,
    ) -> (Vec<String>, HashMap<String, [f64; 8]>, usize) {
        let mut text = String::from("customer_id,date,amount\n");
        for (id, day, amount) in rows {
            text.push_str(&format!("{id},{},{amount}\n", date::show_day(*day)));
        }
        let (_dir, path) = file("tx.csv", &text);
        let mut passes = 0;
        let total = text.len() as u64;
        let summary = summarize_file(&path, &TransactionFormat::default(), options, &mut |b| {
            if b == total {
                passes += 1;
            }
        })
        .unwrap();
        let mut order = Vec::new();
        let mut map = HashMap::new();
        match summary {
            Summary::Rfm(rows) => {
                for r in rows {
                    order.push(r.customer_id.clone());
                    map.insert(
                        r.customer_id,
                        [
                            r.frequency as f64,
                            r.recency,
                            r.t,
                            r.monetary_value,
                            0.0,
                            0.0,
                            0.0,
                            0.0,
                        ],
                    );
                }
            }
            Summary::CalibrationHoldout(rows) => {
                for r in rows {
                    order.push(r.customer_id.clone());
                    map.insert(
                        r.customer_id,
                        [
                            r.frequency_cal as f64,
                            r.recency_cal,
                            r.t_cal,
                            r.monetary_value_cal,
                            r.frequency_holdout as f64,
                            r.monetary_value_holdout,
                            r.duration_holdout,
                            0.0,
                        ],
                    );
                }
            }
        }
        (order, map, passes)
    }

    fn assert_matches_reference(rows: &[(String, i32, f64)], options: &SummaryOptions) -> usize {
        let unit = options.time_unit.days();
        let (order, got, passes) = summarize_rows(rows, options);
        let (ref_order, want) = reference(
            rows,
            options.observation_end.map(date::day_number),
            options.calibration_end.map(date::day_number),
            unit,
        );
        assert_eq!(order, ref_order, "customer order");
        for (id, w) in &want {
            let g = &got[id];
            // Holdout fields are only meaningful with calibration.
            let n = if options.calibration_end.is_some() {
                7
            } else {
                4
            };
            for k in 0..n {
                assert!(
                    (g[k] - w[k]).abs() < 1e-9,
                    "customer {id} field {k}: got {} want {}",
                    g[k],
                    w[k]
                );
            }
        }
        passes
    }

    #[test]
    fn unsorted_input_gives_the_same_summary_as_sorted_input() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let base = date::day_number(d("2024-01-01"));
        let mut second_passes = 0;
        for case in 0..60 {
            let customers = 1 + rng.below(12);
            let mut rows: Vec<(String, i32, f64)> = Vec::new();
            for _ in 0..(5 + rng.below(60)) {
                let id = format!("c{}", rng.below(customers));
                let day = base + rng.below(40) as i32;
                let amount = rng.below(10_000) as f64 / 100.0;
                rows.push((id, day, amount));
            }
            // Sorted by date, then shuffled in several ways.
            rows.sort_by_key(|r| r.1);
            let mut variants = vec![rows.clone()];
            let mut reversed = rows.clone();
            reversed.reverse();
            variants.push(reversed);
            let mut shuffled = rows.clone();
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i as u64 + 1) as usize);
            }
            variants.push(shuffled);
            let mut few_swaps = rows.clone();
            for _ in 0..3 {
                let (i, j) = (
                    rng.below(rows.len() as u64) as usize,
                    rng.below(rows.len() as u64) as usize,
                );
                few_swaps.swap(i, j);
            }
            variants.push(few_swaps);

            let options = [
                days(TimeUnit::Week),
                SummaryOptions {
                    observation_end: Some(d("2024-01-30")),
                    ..days(TimeUnit::Day)
                },
                SummaryOptions {
                    observation_end: Some(d("2024-02-09")),
                    calibration_end: Some(d("2024-01-20")),
                    time_unit: TimeUnit::Day,
                },
            ];
            for variant in &variants {
                for opts in &options {
                    if opts.calibration_end.is_some() && !variant.iter().any(|r| r.1 <= base + 19) {
                        continue;
                    }
                    if opts.observation_end.is_some() && !variant.iter().any(|r| r.1 <= base + 29) {
                        continue;
                    }
                    let passes = assert_matches_reference(variant, opts);
                    assert!(passes == 1 || passes == 2, "case {case}: {passes} passes");
                    second_passes += usize::from(passes == 2);
                }
            }
        }
        assert!(
            second_passes > 0,
            "the second-pass fallback was never exercised"
        );
    }

    /// Summarizes with the default format in days; also returns how many times the whole file
    /// was read (progress reaching the file's length).
    fn summarize_in_days_counting_reads(path: &std::path::Path) -> (Vec<RfmRow>, usize) {
        let mut reads = 0;
        let len = std::fs::metadata(path).unwrap().len();
        let summary = summarize_file(
            path,
            &TransactionFormat::default(),
            &days(TimeUnit::Day),
            &mut |b| reads += usize::from(b == len),
        )
        .unwrap();
        let Summary::Rfm(rows) = summary else {
            panic!("no calibration split was requested")
        };
        (rows, reads)
    }

    #[test]
    fn an_earlier_date_after_later_ones_is_merged_without_rereading_when_unambiguous() {
        // b's third row is earlier than its first: a new first day; the old first becomes a repeat day.
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\nb,2024-01-05,10\nb,2024-01-09,20\nb,2024-01-01,7\nb,2024-01-05,1\n",
        );
        let (rows, finals) = summarize_in_days_counting_reads(&path);
        assert_eq!(rows, vec![row("b", 2, 8.0, 8.0, 15.5)]);
        assert_eq!(finals, 1, "read once");
    }

    #[test]
    fn an_out_of_order_date_between_unknown_days_is_resolved_by_a_second_read() {
        // After 01-01, 01-03, 01-05, 01-07 the running statistics cannot tell whether 01-03 is
        // a known day (it is) or 01-04 is (it is not).
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\nc,2024-01-01,1\nc,2024-01-03,2\nc,2024-01-05,4\nc,2024-01-07,8\nc,2024-01-03,16\nc,2024-01-04,32\n",
        );
        let (rows, finals) = summarize_in_days_counting_reads(&path);
        // Days 01-01 (1), 01-03 (18), 01-04 (32), 01-05 (4), 01-07 (8): 4 repeat days, total 62.
        assert_eq!(rows, vec![row("c", 4, 6.0, 6.0, 15.5)]);
        assert_eq!(finals, 2, "read twice");
    }

    // --- The parallel block parser against the record reader ---------------------------------

    /// Block sizes the block parser is run with: smaller than a line, a few lines, many lines,
    /// and the default.
    const BLOCK_SIZES: [Option<usize>; 4] = [Some(1), Some(29), Some(700), None];

    /// Summarizes `content` with the record reader and with the block parser at every block
    /// size, asserts that all agree (rows, or the error with its line, column and message) and
    /// that progress ends at the file size, and returns the result.
    fn summarize_every_way(
        content: &[u8],
        format: &TransactionFormat,
        options: &SummaryOptions,
    ) -> Result<Summary, Box<InputError>> {
        let (_dir, path) = file("tx.csv", content);
        let run = |blocks: Option<Option<usize>>| {
            let mut last = None;
            let mut go = || summarize_file(&path, format, options, &mut |b| last = Some(b));
            let result = match blocks {
                Some(blocks) => crate::scan::tests::with_blocks(blocks, &mut go),
                None => go(),
            };
            let result = result.map_err(|e| match e {
                DataError::Input(e) => e,
                other => panic!("expected an input error, got {other:?}"),
            });
            if result.is_ok() {
                assert_eq!(
                    last,
                    Some(content.len() as u64),
                    "progress ends at the size"
                );
            }
            result
        };
        let reference = run(Some(None));
        for blocks in BLOCK_SIZES {
            let got = run(blocks.map(Some));
            assert_eq!(got, reference, "blocks of {blocks:?} bytes");
        }
        reference
    }

    /// A random purchase log as text, with the physical line of each data row.
    struct Log {
        text: Vec<u8>,
        lines: Vec<u64>,
    }

    /// Writes `rows` (id, day, amount as written) as a log with a header, `crlf` line ends,
    /// `delimiter`, blank lines here and there, and maybe no final newline.
    fn write_log(
        rows: &[(String, i32, String)],
        delimiter: u8,
        crlf: bool,
        rng: &mut XorShift,
    ) -> Log {
        let end: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let d = char::from(delimiter);
        let mut text = format!("customer_id{d}date{d}amount").into_bytes();
        text.extend_from_slice(end);
        let mut line = 2;
        let mut lines = Vec::new();
        for (i, (id, day, amount)) in rows.iter().enumerate() {
            if rng.below(25) == 0 {
                let blank: &[u8] = [b"".as_slice(), b"   "][rng.below(2) as usize];
                text.extend_from_slice(blank);
                text.extend_from_slice(end);
                line += 1;
            }
            let date = match rng.below(6) {
                0 => date::show_day(*day).replace('-', ""),
                1 => format!("{}T10:11:12Z", date::show_day(*day)),
                _ => date::show_day(*day),
            };
            text.extend_from_slice(format!("{id}{d}{date}{d}{amount}").as_bytes());
            lines.push(line);
            line += 1;
            if i + 1 < rows.len() || rng.below(2) == 0 {
                text.extend_from_slice(end);
            }
        }
        Log { text, lines }
    }

    /// Random rows: ids short and long (around the 15 bytes kept inline), some not ASCII,
    /// amounts in the forms people write.
    fn random_rows(rng: &mut XorShift, n: usize, customers: u64) -> Vec<(String, i32, String)> {
        let base = date::day_number(d("2023-11-20"));
        (0..n)
            .map(|_| {
                let c = rng.below(customers);
                let id = match c % 6 {
                    0 => format!("{c}"),
                    1 => format!("cust-{c:010}"),
                    2 => format!("customer-{c:07}"),
                    3 => format!("{c:08}-aaaa-bbbb-cccc-0123456789ab"),
                    4 => format!("José {c}"),
                    _ => format!("  c{c}  "),
                };
                let amount = match rng.below(12) {
                    0 => "12".to_string(),
                    1 => format!("{}.{:02}", rng.below(500), rng.below(100)),
                    2 => "0.10".to_string(),
                    3 => "1e2".to_string(),
                    4 => ".5".to_string(),
                    5 => "5.".to_string(),
                    6 => "+7.25".to_string(),
                    7 => "123456789012345678".to_string(),
                    8 => " 8.25 ".to_string(),
                    9 => format!("-{}.5", rng.below(20)),
                    _ => format!("{}.{}", rng.below(100_000), rng.below(1000)),
                };
                (id, base + rng.below(90) as i32, amount)
            })
            .collect()
    }

    #[test]
    fn block_parser_agrees_with_the_record_reader_on_generated_logs() {
        let mut rng = XorShift(0x5DEE_CE66_D1CE_4E5B);
        for case in 0..24 {
            let customers = [1, 7, 60, 400][case % 4];
            let mut rows = random_rows(&mut rng, 150 + (case * 37) % 250, customers);
            match case % 3 {
                0 => rows.sort_by(|a, b| a.0.cmp(&b.0)),
                1 => rows.sort_by_key(|r| r.1),
                _ => {}
            }
            let delimiter = if case % 5 == 0 { b'\t' } else { b',' };
            let log = write_log(&rows, delimiter, case % 2 == 0, &mut rng);
            let format = TransactionFormat {
                delimiter: if delimiter == b'\t' {
                    Delimiter::Tab
                } else {
                    Delimiter::Comma
                },
                negative_amounts: if case % 4 == 3 {
                    NegativeAmounts::Drop
                } else {
                    NegativeAmounts::Keep
                },
                ..Default::default()
            };
            let options = [
                days(TimeUnit::Week),
                SummaryOptions {
                    observation_end: Some(d("2024-01-31")),
                    calibration_end: Some(d("2023-12-31")),
                    time_unit: TimeUnit::Day,
                },
            ];
            for options in &options {
                let summary = summarize_every_way(&log.text, &format, options);
                assert!(summary.is_ok(), "case {case}: {summary:?}");
            }
        }
    }

    #[test]
    fn block_parser_reports_each_kind_of_error_on_the_line_the_record_reader_does() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let broken: [(&[u8], InputErrorKind); 6] = [
            (b"a,2024-13-01,1", InputErrorKind::InvalidDate),
            (b"a,2024-01-01,$3", InputErrorKind::InvalidNumber),
            (b"a,2024-01-01,1,extra", InputErrorKind::RaggedRow),
            (b"  ,2024-01-01,1", InputErrorKind::EmptyCustomerId),
            (b"Jos\xe9,2024-01-01,1", InputErrorKind::InvalidUtf8),
            (b"a,2024-01-01,-2.5", InputErrorKind::NegativeAmount),
        ];
        for case in 0..36 {
            let rows = random_rows(&mut rng, 80 + (case * 37) % 200, 50);
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(id, day, amount)| (id, day, amount.replace('-', "")))
                .collect();
            let log = write_log(&rows, b',', case % 2 == 1, &mut rng);
            // Replace one data line by a broken one.
            let (bad, kind) = broken[case % broken.len()];
            let victim = rng.below(rows.len() as u64) as usize;
            let want_line = log.lines[victim];
            let mut lines: Vec<&[u8]> = log.text.split(|&b| b == b'\n').collect();
            let crlf = lines[0].ends_with(b"\r");
            let mut replaced = bad.to_vec();
            if crlf {
                replaced.push(b'\r');
            }
            lines[want_line as usize - 1] = &replaced;
            let text = lines.join(&b'\n');
            let err =
                summarize_every_way(&text, &TransactionFormat::default(), &days(TimeUnit::Day))
                    .expect_err("the broken line is an error");
            assert_eq!(err.kind, kind, "case {case}: {err}");
            assert_eq!(err.line, Some(want_line), "case {case}: {err}");
        }
    }

    #[test]
    fn block_parser_hands_over_to_the_record_reader_at_quotes_and_stray_carriage_returns() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let specials: [&[u8]; 5] = [
            // A quoted id holding the delimiter and a line break: one record over two lines.
            b"\"multi,\nline\",2024-01-02,3",
            b"\"quoted\",2024-01-03,4",
            // A carriage return alone ends a record for the CSV reader.
            b"a,2024-01-04,5\rb,2024-01-05,6",
            b"c,\"2024-01-06\",\"7.5\"",
            // An escaped quote.
            b"\"say \"\"hi\"\"\",2024-01-07,1",
        ];
        for case in 0..30 {
            let rows = random_rows(&mut rng, 60 + (case * 37) % 150, 30);
            let log = write_log(&rows, b',', case % 2 == 0, &mut rng);
            let mut lines: Vec<Vec<u8>> = log
                .text
                .split(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            let at = 1 + rng.below(lines.len() as u64 - 1) as usize;
            lines.insert(at, specials[case % specials.len()].to_vec());
            if case % 3 == 0 {
                // And an error further on: its line must still be right.
                let later = (at + 1 + rng.below(20) as usize).min(lines.len());
                lines.insert(later, b"bad,2024-02-30,1".to_vec());
            }
            let text = lines.join(&b'\n');
            let format = TransactionFormat {
                negative_amounts: NegativeAmounts::Keep,
                ..Default::default()
            };
            let result = summarize_every_way(&text, &format, &days(TimeUnit::Day));
            if case % 3 == 0 {
                let err = result.expect_err("the bad date is an error");
                assert_eq!(err.kind, InputErrorKind::InvalidDate, "case {case}: {err}");
            } else {
                assert!(result.is_ok(), "case {case}: {result:?}");
            }
        }
    }

    #[test]
    fn block_parser_handles_headerless_files_positional_columns_and_a_first_row_alone() {
        for content in [
            "x,2024-01-01,c1,5\nx,2024-01-02,c1,7\nx,2024-01-02,c2,1\n".as_bytes(),
            b"x,2024-01-01,c1,5",
            b"x,2024-01-01,c1,5\r\n\r\nx,2024-01-09,c1,2",
            b"\xEF\xBB\xBFx,2024-01-01,c1,5\ny,2024-01-03,c1,6\n",
        ] {
            let format = TransactionFormat {
                has_header: false,
                customer_col: ColumnRef::Position(3),
                date_col: ColumnRef::Position(2),
                amount_col: Some(ColumnRef::Position(4)),
                ..Default::default()
            };
            let summary = summarize_every_way(content, &format, &days(TimeUnit::Day));
            assert!(summary.is_ok(), "{summary:?}");
        }
    }

    #[test]
    fn out_of_order_dates_across_blocks_take_the_same_second_read() {
        // Customer c's out-of-order rows are far apart, in different blocks; its days cannot be
        // merged from the running statistics, so the file is read again, with blocks too.
        let mut text = String::from("customer_id,date,amount\n");
        for day in ["01", "03", "05", "07"] {
            text.push_str(&format!("c,2024-01-{day},1\n"));
        }
        for i in 0..300 {
            text.push_str(&format!("filler{i},2024-01-02,2\n"));
        }
        text.push_str("c,2024-01-03,16\nc,2024-01-04,32\n");
        let Ok(Summary::Rfm(rows)) = summarize_every_way(
            text.as_bytes(),
            &TransactionFormat::default(),
            &days(TimeUnit::Day),
        ) else {
            panic!()
        };
        // Days 01-01 (1), 01-03 (17), 01-04 (32), 01-05 (1), 01-07 (1).
        assert_eq!(rows[0], row("c", 4, 6.0, 6.0, 12.75));
    }
}
