//! CSV output of the summaries, with the column names lifetimes uses.

use std::io::Write;

use crate::error::DataError;
use crate::summary::{CalibrationHoldoutRow, RfmRow};

fn write_error(e: csv::Error) -> DataError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => DataError::Write(io),
        other => DataError::Write(std::io::Error::other(format!("{other:?}"))),
    }
}

/// Formats numbers into a reusable buffer: integers plainly, floats in the shortest form that
/// reads back to the same value.
struct Fields {
    float: ryu::Buffer,
    integer: itoa::Buffer,
}

impl Fields {
    fn new() -> Self {
        Self {
            float: ryu::Buffer::new(),
            integer: itoa::Buffer::new(),
        }
    }

    fn u64(&mut self, v: u64) -> &[u8] {
        self.integer.format(v).as_bytes()
    }

    fn f64(&mut self, v: f64) -> &[u8] {
        let text = self.float.format(v);
        text.strip_suffix(".0").unwrap_or(text).as_bytes()
    }
}

/// Writes RFM rows as CSV with the header `customer_id,frequency,recency,T,monetary_value`.
///
/// ```
/// use northstar_data::{write_rfm_csv, RfmRow};
/// let rows = [RfmRow { customer_id: "a".into(), frequency: 2, recency: 1.5, t: 4.0, monetary_value: 10.25 }];
/// let mut out = Vec::new();
/// write_rfm_csv(&rows, &mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), "customer_id,frequency,recency,T,monetary_value\na,2,1.5,4,10.25\n");
/// ```
pub fn write_rfm_csv<W: Write>(rows: &[RfmRow], out: W) -> Result<(), DataError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["customer_id", "frequency", "recency", "T", "monetary_value"])
        .map_err(write_error)?;
    let mut f = Fields::new();
    for r in rows {
        w.write_field(&r.customer_id).map_err(write_error)?;
        w.write_field(f.u64(r.frequency)).map_err(write_error)?;
        w.write_field(f.f64(r.recency)).map_err(write_error)?;
        w.write_field(f.f64(r.t)).map_err(write_error)?;
        w.write_field(f.f64(r.monetary_value))
            .map_err(write_error)?;
        w.write_record(None::<&[u8]>).map_err(write_error)?;
    }
    w.flush().map_err(DataError::Write)
}

/// Writes calibration/holdout rows as CSV with the header
/// `customer_id,frequency_cal,recency_cal,T_cal,monetary_value_cal,frequency_holdout,monetary_value_holdout,duration_holdout`.
///
/// ```
/// use northstar_data::{write_calibration_holdout_csv, CalibrationHoldoutRow};
/// let rows = [CalibrationHoldoutRow {
///     customer_id: "a".into(), frequency_cal: 1, recency_cal: 1.0, t_cal: 2.0, monetary_value_cal: 5.0,
///     frequency_holdout: 0, monetary_value_holdout: 0.0, duration_holdout: 3.0,
/// }];
/// let mut out = Vec::new();
/// write_calibration_holdout_csv(&rows, &mut out).unwrap();
/// let text = String::from_utf8(out).unwrap();
/// assert_eq!(text.lines().nth(1), Some("a,1,1,2,5,0,0,3"));
/// ```
pub fn write_calibration_holdout_csv<W: Write>(
    rows: &[CalibrationHoldoutRow],
    out: W,
) -> Result<(), DataError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "customer_id",
        "frequency_cal",
        "recency_cal",
        "T_cal",
        "monetary_value_cal",
        "frequency_holdout",
        "monetary_value_holdout",
        "duration_holdout",
    ])
    .map_err(write_error)?;
    let mut f = Fields::new();
    for r in rows {
        w.write_field(&r.customer_id).map_err(write_error)?;
        w.write_field(f.u64(r.frequency_cal)).map_err(write_error)?;
        w.write_field(f.f64(r.recency_cal)).map_err(write_error)?;
        w.write_field(f.f64(r.t_cal)).map_err(write_error)?;
        w.write_field(f.f64(r.monetary_value_cal))
            .map_err(write_error)?;
        w.write_field(f.u64(r.frequency_holdout))
            .map_err(write_error)?;
        w.write_field(f.f64(r.monetary_value_holdout))
            .map_err(write_error)?;
        w.write_field(f.f64(r.duration_holdout))
            .map_err(write_error)?;
        w.write_record(None::<&[u8]>).map_err(write_error)?;
    }
    w.flush().map_err(DataError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_rfm_csv;
    use crate::test_util::file;

    #[test]
    fn rfm_csv_round_trips_through_read_rfm_csv_exactly() {
        let rows = vec![
            RfmRow {
                customer_id: "a, \"quoted\"".into(),
                frequency: 3,
                recency: 30.428571428571427,
                t: 38.857142857142854,
                monetary_value: 22.345,
            },
            RfmRow {
                customer_id: "0001".into(),
                frequency: 0,
                recency: 0.0,
                t: 1e-3,
                monetary_value: 0.0,
            },
        ];
        let mut out = Vec::new();
        write_rfm_csv(&rows, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "customer_id,frequency,recency,T,monetary_value\n\"a, \"\"quoted\"\"\",3,"
            ),
            "{text}"
        );
        let (_dir, path) = file("rfm.csv", &text);
        let back = read_rfm_csv(&path, "customer_id").unwrap();
        assert_eq!(back.len(), 2);
        for (r, b) in rows.iter().zip(&back) {
            assert_eq!(r.customer_id, b.customer_id);
            assert_eq!(r.frequency as f64, b.frequency);
            assert_eq!(
                (r.recency, r.t, Some(r.monetary_value)),
                (b.recency, b.t, b.monetary_value)
            );
        }
    }

    #[test]
    fn calibration_holdout_csv_has_the_lifetimes_header() {
        let mut out = Vec::new();
        write_calibration_holdout_csv(&[], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "customer_id,frequency_cal,recency_cal,T_cal,monetary_value_cal,frequency_holdout,monetary_value_holdout,duration_holdout\n"
        );
    }

    #[test]
    fn write_failure_is_reported_as_a_write_error() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let rows = [RfmRow {
            customer_id: "a".into(),
            frequency: 0,
            recency: 0.0,
            t: 0.0,
            monetary_value: 0.0,
        }];
        let err = write_rfm_csv(&rows, Broken).unwrap_err();
        assert!(matches!(err, DataError::Write(_)));
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
