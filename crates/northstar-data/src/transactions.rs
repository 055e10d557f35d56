//! Raw purchase rows: the same reader, column resolution, date parsing, negative-amount policy
//! and error messages as [`summarize_file`](crate::summarize_file), with each valid row handed
//! to the caller instead of being summarized (for example to store it).

use std::path::Path;

use chrono::NaiveDate;

use crate::date;
use crate::error::DataError;
use crate::format::TransactionFormat;
use crate::scan::scan_here;

/// Reads the purchase log at `path` and calls `each(customer_id, date, amount)` for every kept
/// row, in file order, on the calling thread. Returns the number of rows handed to `each`.
///
/// Rows are checked exactly as [`summarize_file`](crate::summarize_file) checks them: the
/// customer id is trimmed and must not be empty, the date is read as a calendar date (with
/// `format.date_format` when given), the amount is 0 without an amount column, and a negative
/// amount is an error, skipped, or kept according to `format.negative_amounts`. The first bad
/// row stops the read with an [`InputError`](crate::InputError) naming the file, line, column
/// and value; an error returned by `each` stops it too and is returned as it is.
///
/// ```
/// use northstar_data::{for_each_transaction, NegativeAmounts, TransactionFormat};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tx.csv");
/// std::fs::write(&path, "customer_id,date,amount\na,2024-01-01,10\n b ,2024-01-02T10:00:00Z,-3\n").unwrap();
/// let format = TransactionFormat { negative_amounts: NegativeAmounts::Drop, ..Default::default() };
/// let mut seen = Vec::new();
/// let kept = for_each_transaction(&path, &format, |id, day, amount| {
///     seen.push((id.to_string(), day.to_string(), amount));
///     Ok(())
/// })?;
/// assert_eq!(kept, 1); // b's negative amount is dropped
/// assert_eq!(seen, [("a".to_string(), "2024-01-01".to_string(), 10.0)]);
/// # Ok::<(), northstar_data::DataError>(())
/// ```
pub fn for_each_transaction(
    path: &Path,
    format: &TransactionFormat,
    mut each: impl FnMut(&str, NaiveDate, f64) -> Result<(), DataError>,
) -> Result<u64, DataError> {
    let (stats, ()) = scan_here(path, format, &mut |_| {}, (), |(), rows| {
        for row in rows.rows() {
            // Ids were checked to be UTF-8 when read; days come from calendar dates.
            let id = std::str::from_utf8(rows.id(row))
                .map_err(|_| DataError::Internal("a checked customer id is not UTF-8".into()))?;
            let day = date::to_date(row.day)
                .ok_or_else(|| DataError::Internal("a checked date is out of range".into()))?;
            each(id, day, row.amount)?;
        }
        Ok(())
    })?;
    Ok(stats.kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SummaryOptions;
    use crate::format::{ColumnRef, Delimiter, TimeUnit};
    use crate::summary::{summarize_file, summarize_records, Summary};
    use crate::test_util::file;

    fn collect(path: &Path, format: &TransactionFormat) -> Vec<(String, NaiveDate, f64)> {
        let mut rows = Vec::new();
        for_each_transaction(path, format, |id, day, amount| {
            rows.push((id.to_string(), day, amount));
            Ok(())
        })
        .unwrap();
        rows
    }

    fn summarize_collected(
        rows: &[(String, NaiveDate, f64)],
        options: &SummaryOptions,
    ) -> Result<Summary, DataError> {
        summarize_records::<DataError>(
            &mut |each| {
                for (id, day, amount) in rows {
                    each(id, *day, *amount);
                }
                Ok(())
            },
            options,
        )
    }

    fn cdnow_format() -> TransactionFormat {
        // data/CDNOW_sample.txt: whitespace-separated, no header: customer id (all ids),
        // customer id (sample), date YYYYMMDD, quantity, amount.
        TransactionFormat {
            delimiter: Delimiter::Whitespace,
            has_header: false,
            customer_col: ColumnRef::Position(2),
            date_col: ColumnRef::Position(3),
            amount_col: Some(ColumnRef::Position(5)),
            ..Default::default()
        }
    }

    #[test]
    fn rows_are_trimmed_dated_and_counted_in_file_order() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\n  x ,2024-01-02,3.5\ny,20240101,0\n\nx,2024-01-01T23:00:00Z,1\n",
        );
        let rows = collect(&path, &TransactionFormat::default());
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            rows,
            vec![
                ("x".into(), d("2024-01-02"), 3.5),
                ("y".into(), d("2024-01-01"), 0.0),
                ("x".into(), d("2024-01-01"), 1.0),
            ]
        );
    }

    #[test]
    fn a_bad_row_is_the_same_error_as_summarize_gives_after_earlier_rows_were_handed_out() {
        let (_dir, path) = file(
            "tx.csv",
            "customer_id,date,amount\na,2024-01-01,1\na,2024-02-30,2\n",
        );
        let mut handed = 0;
        let err = for_each_transaction(&path, &TransactionFormat::default(), |_, _, _| {
            handed += 1;
            Ok(())
        })
        .unwrap_err();
        let summary_err = summarize_file(
            &path,
            &TransactionFormat::default(),
            &SummaryOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(err.to_string(), summary_err.to_string());
        let input = err.input().unwrap();
        assert_eq!(
            (input.line, input.value.as_deref()),
            (Some(3), Some("2024-02-30"))
        );
        assert_eq!(handed, 1, "the good row before the bad one was handed out");
    }

    #[test]
    fn an_error_from_the_callback_stops_the_read() {
        let (_dir, path) = file("tx.csv", "customer_id,date\na,2024-01-01\nb,2024-01-02\n");
        let mut calls = 0;
        let err = for_each_transaction(&path, &TransactionFormat::default(), |_, _, _| {
            calls += 1;
            Err(DataError::Internal("stop".into()))
        })
        .unwrap_err();
        assert_eq!(
            (calls, err.to_string().as_str()),
            (1, "internal error: stop")
        );
    }

    #[test]
    fn records_and_file_give_identical_rfm_rows_on_the_cdnow_sample() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/CDNOW_sample.txt");
        let format = cdnow_format();
        let rows = collect(&path, &format);
        // 6,919 purchase lines in the sample (wc -l data/CDNOW_sample.txt).
        assert_eq!(rows.len(), 6919);
        for options in [
            SummaryOptions {
                time_unit: TimeUnit::Week,
                ..Default::default()
            },
            SummaryOptions {
                observation_end: Some("1997-09-30".parse().unwrap()),
                time_unit: TimeUnit::Day,
                ..Default::default()
            },
            SummaryOptions {
                calibration_end: Some("1997-09-30".parse().unwrap()),
                observation_end: Some("1998-06-30".parse().unwrap()),
                time_unit: TimeUnit::Week,
            },
        ] {
            let from_file = summarize_file(&path, &format, &options, &mut |_| {}).unwrap();
            let from_records = summarize_collected(&rows, &options).unwrap();
            assert_eq!(from_records, from_file, "{options:?}");
        }
        let Summary::Rfm(rfm) = summarize_collected(&rows, &SummaryOptions::default()).unwrap()
        else {
            panic!("no calibration split was asked for")
        };
        // The CDNOW sample has 2,357 customers (Fader, Hardie and Lee 2005).
        assert_eq!(rfm.len(), 2357);
    }

    #[test]
    fn records_with_ambiguous_out_of_order_dates_are_read_twice_like_the_file() {
        // As in summary.rs: after 01-01, 01-03, 01-05, 01-07 the running statistics cannot
        // place 01-03 and 01-04, so the source is asked again.
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let rows: Vec<(String, NaiveDate, f64)> = [
            ("01", 1.0),
            ("03", 2.0),
            ("05", 4.0),
            ("07", 8.0),
            ("03", 16.0),
            ("04", 32.0),
        ]
        .iter()
        .map(|(day, amount)| ("c".to_string(), d(&format!("2024-01-{day}")), *amount))
        .collect();
        let mut reads = 0;
        let summary = summarize_records::<DataError>(
            &mut |each| {
                reads += 1;
                for (id, day, amount) in &rows {
                    each(id, *day, *amount);
                }
                Ok(())
            },
            &SummaryOptions {
                time_unit: TimeUnit::Day,
                ..Default::default()
            },
        )
        .unwrap();
        let Summary::Rfm(rfm) = summary else { panic!() };
        // Days 01-01 (1), 01-03 (18), 01-04 (32), 01-05 (4), 01-07 (8): 4 repeat days, total 62.
        assert_eq!(
            (
                rfm[0].frequency,
                rfm[0].recency,
                rfm[0].t,
                rfm[0].monetary_value
            ),
            (4, 6.0, 6.0, 15.5)
        );
        assert_eq!(reads, 2);
    }

    #[test]
    fn records_errors_name_the_records_and_the_source_error_comes_back_as_is() {
        let empty = summarize_records::<DataError>(&mut |_| Ok(()), &SummaryOptions::default())
            .unwrap_err();
        assert_eq!(
            empty.to_string(),
            "purchase records: there are no purchase records; expected at least one"
        );
        #[derive(Debug, PartialEq)]
        enum Mine {
            Store,
            Data,
        }
        impl From<DataError> for Mine {
            fn from(_: DataError) -> Mine {
                Mine::Data
            }
        }
        let err = summarize_records::<Mine>(&mut |_| Err(Mine::Store), &SummaryOptions::default())
            .unwrap_err();
        assert_eq!(err, Mine::Store);
    }
}
