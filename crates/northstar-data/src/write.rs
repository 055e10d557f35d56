//! CSV output of the summaries, with the column names lifetimes uses.
//!
//! The bytes are those of the `csv` crate's writer with its defaults (fields quoted only when
//! they hold a comma, a quote or a line break; quotes doubled; `\n` line ends). Large tables
//! are formatted in pieces on the rayon pool while the calling thread writes the pieces
//! already done, in order.

use std::io::Write;
use std::sync::mpsc;

use rayon::prelude::*;

use crate::error::DataError;
use crate::summary::{CalibrationHoldoutRow, RfmRow};

/// Rows per piece formatted by one task.
const PIECE: usize = 8192;
/// Formatted pieces waiting to be written.
const QUEUE: usize = 16;
/// Slots of the cache of formatted floats.
const CACHE: usize = 4096;

/// Formats fields into a buffer: text quoted when needed, integers plainly, floats in the
/// shortest form that reads back to the same value (without a trailing `.0`).
struct Fields {
    float: ryu::Buffer,
    integer: itoa::Buffer,
    /// Recently formatted times: (bits, length, text); length 0 marks an empty slot.
    cache: Vec<(u64, u8, [u8; 24])>,
}

impl Fields {
    fn new() -> Self {
        Self {
            float: ryu::Buffer::new(),
            integer: itoa::Buffer::new(),
            cache: vec![(0, 0, [0; 24]); CACHE],
        }
    }

    /// A text field, quoted as the `csv` crate quotes it.
    fn text(&mut self, out: &mut Vec<u8>, v: &str) {
        self.text_bytes(out, v.as_bytes());
    }

    /// [`text`](Self::text) for text already known to be UTF-8, as bytes.
    fn text_bytes(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        if bytes
            .iter()
            .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
        {
            out.push(b'"');
            for &b in bytes {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(bytes);
        }
    }

    fn u64(&mut self, out: &mut Vec<u8>, v: u64) {
        if v < 10 {
            out.push(b'0' + v as u8);
        } else {
            out.extend_from_slice(self.integer.format(v).as_bytes());
        }
    }

    fn f64(&mut self, out: &mut Vec<u8>, v: f64) {
        if v.to_bits() == 0 {
            // Positive zero, common (customers without repeat purchases): what ryu writes.
            out.push(b'0');
            return;
        }
        let text = self.float.format(v);
        out.extend_from_slice(text.strip_suffix(".0").unwrap_or(text).as_bytes());
    }

    /// Like [`f64`](Self::f64), for a column with few distinct values (such as whole days
    /// divided by the time unit): values are remembered and copied when they come again.
    fn time(&mut self, out: &mut Vec<u8>, v: f64) {
        let bits = v.to_bits();
        let slot = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % CACHE;
        let (key, len, text) = &mut self.cache[slot];
        if *len == 0 || *key != bits {
            let formatted = self.float.format(v);
            let formatted = formatted.strip_suffix(".0").unwrap_or(formatted).as_bytes();
            *key = bits;
            *len = formatted.len() as u8;
            text[..formatted.len()].copy_from_slice(formatted);
        }
        // A copy of fixed length is a few moves rather than a call; the excess is cut off.
        let end = out.len() + usize::from(*len);
        out.extend_from_slice(text);
        out.truncate(end);
    }
}

/// Writes `header`, then rows `0..rows` formatted by `row`, then flushes.
fn write_rows<W: Write>(
    rows: usize,
    mut out: W,
    header: &[u8],
    row: impl Fn(&mut Fields, &mut Vec<u8>, usize) + Sync,
) -> Result<(), DataError> {
    let piece = |fields: &mut Fields, range: std::ops::Range<usize>| {
        let mut text = Vec::with_capacity(range.len() * 64);
        for i in range {
            row(fields, &mut text, i);
        }
        text
    };
    out.write_all(header).map_err(DataError::Write)?;
    if rows <= PIECE {
        out.write_all(&piece(&mut Fields::new(), 0..rows))
            .map_err(DataError::Write)?;
    } else {
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
            scope.spawn(move || {
                for window in (0..rows).step_by(PIECE * QUEUE / 2) {
                    let end = (window + PIECE * QUEUE / 2).min(rows);
                    let pieces: Vec<Vec<u8>> = (window..end)
                        .into_par_iter()
                        .step_by(PIECE)
                        .map_init(Fields::new, |fields, start| {
                            piece(fields, start..(start + PIECE).min(end))
                        })
                        .collect();
                    for text in pieces {
                        // The receiver is gone only after a write error, reported below.
                        if tx.send(text).is_err() {
                            return;
                        }
                    }
                }
            });
            for text in rx {
                out.write_all(&text).map_err(DataError::Write)?;
            }
            Ok::<(), DataError>(())
        })?;
    }
    out.flush().map_err(DataError::Write)
}

/// Writes a CSV table of one text column and some number columns: the `header` line, then for
/// each row `i` in `0..rows` the text `id(i)` and the numbers `value(i, j)` for the columns `j`
/// in `0..header.len() - 1`. Bytes as the `csv` crate's writer gives them (text quoted only
/// when it holds a comma, a quote or a line break), numbers in the shortest form that reads back
/// to the same value, without a trailing `.0`. Rows are formatted in pieces on every core and
/// written in order.
///
/// ```
/// let mut out = Vec::new();
/// let (ids, x) = (["a", "b,c"], [1.0, 0.25]);
/// northstar_data::write_table_csv(&mut out, &["id", "x"], 2, |i| ids[i], |i, _| x[i]).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), "id,x\na,1\n\"b,c\",0.25\n");
/// ```
pub fn write_table_csv<'a, W: Write>(
    out: W,
    header: &[&str],
    rows: usize,
    id: impl Fn(usize) -> &'a str + Sync,
    value: impl Fn(usize, usize) -> f64 + Sync,
) -> Result<(), DataError> {
    let mut header_text = Vec::new();
    let mut fields = Fields::new();
    for (i, name) in header.iter().enumerate() {
        if i > 0 {
            header_text.push(b',');
        }
        fields.text(&mut header_text, name);
    }
    header_text.push(b'\n');
    let columns = header.len().saturating_sub(1);
    write_rows(rows, out, &header_text, |f, out, i| {
        f.text(out, id(i));
        for j in 0..columns {
            out.push(b',');
            f.f64(out, value(i, j));
        }
        out.push(b'\n');
    })
}

const RFM_HEADER: &[u8] = b"customer_id,frequency,recency,T,monetary_value\n";
const CALIBRATION_HOLDOUT_HEADER: &[u8] = b"customer_id,frequency_cal,recency_cal,T_cal,monetary_value_cal,frequency_holdout,monetary_value_holdout,duration_holdout\n";

/// One RFM line, with the id `id` (`r.customer_id` is not read).
#[inline]
fn rfm_line(f: &mut Fields, out: &mut Vec<u8>, id: &[u8], r: &RfmRow) {
    f.text_bytes(out, id);
    out.push(b',');
    f.u64(out, r.frequency);
    out.push(b',');
    f.time(out, r.recency);
    out.push(b',');
    f.time(out, r.t);
    out.push(b',');
    f.f64(out, r.monetary_value);
    out.push(b'\n');
}

/// One calibration/holdout line, with the id `id` (`r.customer_id` is not read).
#[inline]
fn calibration_holdout_line(
    f: &mut Fields,
    out: &mut Vec<u8>,
    id: &[u8],
    r: &CalibrationHoldoutRow,
) {
    f.text_bytes(out, id);
    out.push(b',');
    f.u64(out, r.frequency_cal);
    out.push(b',');
    f.time(out, r.recency_cal);
    out.push(b',');
    f.time(out, r.t_cal);
    out.push(b',');
    f.f64(out, r.monetary_value_cal);
    out.push(b',');
    f.u64(out, r.frequency_holdout);
    out.push(b',');
    f.f64(out, r.monetary_value_holdout);
    out.push(b',');
    f.time(out, r.duration_holdout);
    out.push(b'\n');
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
    write_rows(rows.len(), out, RFM_HEADER, |f, out, i| {
        rfm_line(f, out, rows[i].customer_id.as_bytes(), &rows[i]);
    })
}

/// Like [`write_rfm_csv`] for `rows` rows given by `row(i)`: the id (UTF-8) and the row
/// (whose `customer_id` is not read).
pub(crate) fn write_rfm_rows<'a, W: Write>(
    rows: usize,
    out: W,
    row: impl Fn(usize) -> (&'a [u8], RfmRow) + Sync,
) -> Result<(), DataError> {
    write_rows(rows, out, RFM_HEADER, |f, out, i| {
        let (id, r) = row(i);
        rfm_line(f, out, id, &r);
    })
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
    write_rows(rows.len(), out, CALIBRATION_HOLDOUT_HEADER, |f, out, i| {
        calibration_holdout_line(f, out, rows[i].customer_id.as_bytes(), &rows[i]);
    })
}

/// Like [`write_calibration_holdout_csv`] for `rows` candidate rows given by `row(i)`: `None`
/// writes nothing, else the id (UTF-8) and the row (whose `customer_id` is not read).
pub(crate) fn write_calibration_holdout_rows<'a, W: Write>(
    rows: usize,
    out: W,
    row: impl Fn(usize) -> Option<(&'a [u8], CalibrationHoldoutRow)> + Sync,
) -> Result<(), DataError> {
    write_rows(rows, out, CALIBRATION_HOLDOUT_HEADER, |f, out, i| {
        if let Some((id, r)) = row(i) {
            calibration_holdout_line(f, out, id, &r);
        }
    })
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
        for (r, b) in rows.iter().zip(back.rows()) {
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

    /// The writer this module replaced: the `csv` crate's, field by field.
    fn csv_crate(rows: &[CalibrationHoldoutRow]) -> (Vec<u8>, Vec<u8>) {
        fn float(buffer: &mut ryu::Buffer, v: f64) -> String {
            let text = buffer.format(v);
            text.strip_suffix(".0").unwrap_or(text).to_string()
        }
        let mut b = ryu::Buffer::new();
        let mut rfm = csv::Writer::from_writer(Vec::new());
        rfm.write_record(["customer_id", "frequency", "recency", "T", "monetary_value"])
            .unwrap();
        let mut cal = csv::Writer::from_writer(Vec::new());
        cal.write_record([
            "customer_id",
            "frequency_cal",
            "recency_cal",
            "T_cal",
            "monetary_value_cal",
            "frequency_holdout",
            "monetary_value_holdout",
            "duration_holdout",
        ])
        .unwrap();
        for r in rows {
            rfm.write_record([
                r.customer_id.clone(),
                r.frequency_cal.to_string(),
                float(&mut b, r.recency_cal),
                float(&mut b, r.t_cal),
                float(&mut b, r.monetary_value_cal),
            ])
            .unwrap();
            cal.write_record([
                r.customer_id.clone(),
                r.frequency_cal.to_string(),
                float(&mut b, r.recency_cal),
                float(&mut b, r.t_cal),
                float(&mut b, r.monetary_value_cal),
                r.frequency_holdout.to_string(),
                float(&mut b, r.monetary_value_holdout),
                float(&mut b, r.duration_holdout),
            ])
            .unwrap();
        }
        (rfm.into_inner().unwrap(), cal.into_inner().unwrap())
    }

    #[test]
    fn output_is_byte_for_byte_what_the_csv_crate_writes_for_awkward_ids_and_numbers() {
        let mut state = 0x853C_49E6_748F_EA9Bu64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let ids = [
            "a",
            "0001",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\rhere",
            "José",
            "",
            " x ",
            "#hash",
            "tab\there",
        ];
        let specials = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e-7,
            1e15,
            1e16,
            1.5e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            30.428571428571427,
        ];
        let number = |n: u64| -> f64 {
            match n % 4 {
                0 => specials[(n / 4) as usize % specials.len()],
                1 => (n % 1000) as f64 / 7.0,
                2 => f64::from_bits(n >> 2),
                _ => (n % 100_000) as f64 / 100.0,
            }
        };
        // Enough rows for the formatting to be split into pieces on several threads.
        let rows: Vec<CalibrationHoldoutRow> = (0..3 * PIECE + 17)
            .map(|i| CalibrationHoldoutRow {
                customer_id: match i {
                    0 => String::new(),
                    1 => "\"".to_string(),
                    _ => format!("{}{}", ids[i % ids.len()], i % 5000),
                },
                frequency_cal: next() % [1, 10, 1000, u64::MAX][i % 4],
                recency_cal: number(next()),
                t_cal: number(next()),
                monetary_value_cal: number(next()),
                frequency_holdout: next() % 12,
                monetary_value_holdout: number(next()),
                duration_holdout: number(next()),
            })
            .collect();
        let (want_rfm, want_cal) = csv_crate(&rows);
        let rfm_rows: Vec<RfmRow> = rows
            .iter()
            .map(|r| RfmRow {
                customer_id: r.customer_id.clone(),
                frequency: r.frequency_cal,
                recency: r.recency_cal,
                t: r.t_cal,
                monetary_value: r.monetary_value_cal,
            })
            .collect();
        for n in [0, 1, 5, PIECE, rows.len()] {
            let mut out = Vec::new();
            write_calibration_holdout_csv(&rows[..n], &mut out).unwrap();
            let (_, want) = csv_crate(&rows[..n]);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&want)
            );
        }
        let mut out = Vec::new();
        write_rfm_csv(&rfm_rows, &mut out).unwrap();
        assert!(out == want_rfm, "RFM output differs from the csv crate's");
        let mut out = Vec::new();
        write_calibration_holdout_csv(&rows, &mut out).unwrap();
        assert!(
            out == want_cal,
            "calibration output differs from the csv crate's"
        );
    }

    #[test]
    fn table_of_ids_and_numbers_is_byte_for_byte_what_the_csv_crate_writes() {
        // Expected bytes: the `csv` crate's writer, field by field, with ryu's shortest form
        // without ".0" (what `output::write_table` wrote before this function).
        let ids = [
            "a",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\rhere",
            "José",
            " x ",
            "",
        ];
        let values = [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e16,
            f64::NAN,
            f64::INFINITY,
            30.428571428571427,
        ];
        let rows = 3 * PIECE + 5;
        let id = |i: usize| ids[i % ids.len()];
        let value = |i: usize, j: usize| values[(i * 3 + j) % values.len()] * (i as f64 + 1.0);
        let mut want = csv::Writer::from_writer(Vec::new());
        want.write_record(["customer_id", "p_alive", "expected,purchases"])
            .unwrap();
        let mut b = ryu::Buffer::new();
        for i in 0..rows {
            let mut record = vec![id(i).to_string()];
            for j in 0..2 {
                let text = b.format(value(i, j));
                record.push(text.strip_suffix(".0").unwrap_or(text).to_string());
            }
            want.write_record(&record).unwrap();
        }
        let want = want.into_inner().unwrap();
        let mut out = Vec::new();
        write_table_csv(
            &mut out,
            &["customer_id", "p_alive", "expected,purchases"],
            rows,
            id,
            value,
        )
        .unwrap();
        assert!(out == want, "table output differs from the csv crate's");
    }

    #[test]
    fn write_failure_in_the_middle_of_a_large_table_is_reported() {
        struct FailsAfter(usize);
        impl Write for FailsAfter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.0 < buf.len() {
                    return Err(std::io::Error::other("disk full"));
                }
                self.0 -= buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let rows: Vec<RfmRow> = (0..5 * PIECE)
            .map(|i| RfmRow {
                customer_id: format!("c{i}"),
                frequency: 1,
                recency: 1.5,
                t: 2.0,
                monetary_value: 3.25,
            })
            .collect();
        let err = write_rfm_csv(&rows, FailsAfter(100_000)).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
