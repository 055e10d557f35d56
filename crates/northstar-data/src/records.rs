//! Streaming record sources: CSV/TSV through `csv-core`, whitespace-separated lines by hand.
//!
//! Both fill a reusable [`Record`] and report the 1-based physical line where each record
//! starts. Lines are counted here rather than taken from the `csv` crate, whose record positions
//! do not account for skipped blank lines or `\r\n` line ends.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Index;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::format::Delimiter;

/// How often progress is reported, in bytes.
const PROGRESS_STEP: u64 = 1 << 20;
const BUFFER: usize = 1 << 18;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reports how many bytes of the file were read: about every megabyte, and at the end.
pub(crate) struct Progress<'a> {
    on_progress: &'a mut dyn FnMut(u64),
    next_report: u64,
}

impl<'a> Progress<'a> {
    pub(crate) fn new(on_progress: &'a mut dyn FnMut(u64)) -> Self {
        Progress {
            on_progress,
            next_report: PROGRESS_STEP,
        }
    }

    /// `bytes` have been read so far; reports it if a megabyte passed since the last report.
    #[inline]
    pub(crate) fn update(&mut self, bytes: u64) {
        if bytes >= self.next_report {
            (self.on_progress)(bytes);
            self.next_report = bytes + PROGRESS_STEP;
        }
    }

    /// Reports the final count.
    pub(crate) fn finish(&mut self, bytes: u64) {
        (self.on_progress)(bytes);
    }
}

/// The rest of a file: bytes already read into memory first, then the file itself. Counts the
/// bytes read from the file.
pub(crate) struct Input {
    prefix: Vec<u8>,
    pos: usize,
    file: File,
    read: u64,
}

impl Input {
    fn new(file: File) -> Self {
        Input {
            prefix: Vec::new(),
            pos: 0,
            file,
            read: 0,
        }
    }

    /// Puts `bytes` in front of what is left to read.
    pub(crate) fn unread(&mut self, mut bytes: Vec<u8>) {
        bytes.extend_from_slice(&self.prefix[self.pos..]);
        self.prefix = bytes;
        self.pos = 0;
    }

    /// Bytes read from the file so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.prefix[self.pos..];
        if rest.is_empty() {
            let n = self.file.read(buf)?;
            self.read += n as u64;
            return Ok(n);
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        if self.pos == self.prefix.len() {
            self.prefix = Vec::new();
            self.pos = 0;
        }
        Ok(n)
    }
}

/// An [`Input`] that reports its progress as it is read.
pub(crate) struct Reporting<'a> {
    input: Input,
    progress: Progress<'a>,
}

impl Read for Reporting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        self.progress.update(self.input.read);
        Ok(n)
    }
}

/// One record: the bytes of all fields back to back and the end offset of each field.
#[derive(Debug, Default)]
pub(crate) struct Record {
    data: Vec<u8>,
    ends: Vec<usize>,
    len: usize,
}

impl Record {
    pub(crate) fn new() -> Self {
        Record {
            data: vec![0; 1024],
            ends: vec![0; 32],
            len: 0,
        }
    }

    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The fields in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len).map(move |i| &self[i])
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn push_field(&mut self, field: &[u8]) {
        let start = if self.len == 0 {
            0
        } else {
            self.ends[self.len - 1]
        };
        let end = start + field.len();
        if self.data.len() < end {
            self.data.resize(end.max(2 * self.data.len()), 0);
        }
        self.data[start..end].copy_from_slice(field);
        if self.ends.len() <= self.len {
            self.ends.resize(2 * self.ends.len() + 1, 0);
        }
        self.ends[self.len] = end;
        self.len += 1;
    }
}

impl Index<usize> for Record {
    type Output = [u8];

    /// The field at `i`; panics if `i >= len()`, so callers check the width first.
    fn index(&self, i: usize) -> &[u8] {
        assert!(
            i < self.len,
            "field {i} of a record with {} fields",
            self.len
        );
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }
}

enum Inner<'a> {
    Csv {
        core: Box<csv_core::Reader>,
        reader: BufReader<Reporting<'a>>,
        delimiter: u8,
        newlines: u64,
        /// Whether `csv-core` read any record (otherwise every line so far was plain).
        used_core: bool,
    },
    Whitespace {
        reader: BufReader<Reporting<'a>>,
        line: Vec<u8>,
        line_no: u64,
    },
}

/// What is left of a file after its first records: see [`Records::into_rest`].
pub(crate) enum Rest<'a> {
    /// Plain CSV so far: the unread rest of the file, whose first byte starts line
    /// `newlines + 1`, and its progress reporter.
    Plain {
        input: Input,
        progress: Progress<'a>,
        newlines: u64,
    },
    /// The records, to be read on one at a time.
    Records(Records<'a>),
}

/// A source of records from one file; skips blank lines and a leading UTF-8 byte-order mark.
pub(crate) struct Records<'a> {
    inner: Inner<'a>,
    path: PathBuf,
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl<'a> Records<'a> {
    /// Opens `path` for reading with the given delimiter.
    pub(crate) fn open(
        path: &Path,
        delimiter: Delimiter,
        on_progress: &'a mut dyn FnMut(u64),
    ) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = BufReader::with_capacity(
            BUFFER,
            Reporting {
                input: Input::new(file),
                progress: Progress::new(on_progress),
            },
        );
        let inner = match delimiter {
            Delimiter::Comma | Delimiter::Tab => {
                let byte = if delimiter == Delimiter::Tab {
                    b'\t'
                } else {
                    b','
                };
                let core = Box::new(csv_core::ReaderBuilder::new().delimiter(byte).build());
                let mut reader = reader;
                // A byte-order mark is not part of the first field.
                if reader
                    .fill_buf()
                    .map_err(|source| DataError::Io {
                        path: path.to_path_buf(),
                        source,
                    })?
                    .starts_with(UTF8_BOM)
                {
                    reader.consume(UTF8_BOM.len());
                }
                Inner::Csv {
                    core,
                    reader,
                    delimiter: byte,
                    newlines: 0,
                    used_core: false,
                }
            }
            Delimiter::Whitespace => Inner::Whitespace {
                reader,
                line: Vec::with_capacity(256),
                line_no: 0,
            },
        };
        Ok(Records {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// Continues reading CSV from `input`, whose first byte starts line `newlines + 1` (which
    /// must be at least 2: a byte-order mark is only skipped on line 1).
    pub(crate) fn resume(
        path: &Path,
        delimiter: u8,
        input: Input,
        progress: Progress<'a>,
        newlines: u64,
    ) -> Self {
        let core = Box::new(csv_core::ReaderBuilder::new().delimiter(delimiter).build());
        Records {
            inner: Inner::Csv {
                core,
                reader: BufReader::with_capacity(BUFFER, Reporting { input, progress }),
                delimiter,
                newlines,
                used_core: false,
            },
            path: path.to_path_buf(),
        }
    }

    /// For CSV read so far only by the plain-line path: the unread rest of the file, its
    /// progress reporter, and the number of newlines read. Otherwise gives the records back.
    pub(crate) fn into_rest(self) -> Rest<'a> {
        match self.inner {
            Inner::Csv {
                reader,
                newlines,
                used_core: false,
                ..
            } => {
                let buffered = reader.buffer().to_vec();
                let Reporting {
                    mut input,
                    progress,
                } = reader.into_inner();
                input.unread(buffered);
                Rest::Plain {
                    input,
                    progress,
                    newlines,
                }
            }
            inner => Rest::Records(Records {
                inner,
                path: self.path,
            }),
        }
    }

    fn io_error(&self, source: io::Error) -> DataError {
        DataError::Io {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Reads the next non-blank record into `record`; returns its 1-based line, or `None` at the end.
    pub(crate) fn next(&mut self, record: &mut Record) -> Result<Option<u64>, DataError> {
        loop {
            let read = match &mut self.inner {
                Inner::Csv {
                    core,
                    reader,
                    delimiter,
                    newlines,
                    used_core,
                } => match read_plain_line(reader, *delimiter, newlines, record) {
                    Ok(Some(line)) => Ok(Some(line)),
                    Ok(None) => {
                        *used_core = true;
                        read_csv(core, reader, newlines, record)
                    }
                    Err(e) => Err(e),
                },
                Inner::Whitespace {
                    reader,
                    line,
                    line_no,
                } => read_whitespace(reader, line, line_no, record),
            };
            match read {
                Ok(Some(_)) if is_blank(record) => continue,
                Ok(other) => return Ok(other),
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    /// Reports the final byte count to the progress callback.
    pub(crate) fn finish(&mut self) {
        match &mut self.inner {
            Inner::Csv { reader, .. } | Inner::Whitespace { reader, .. } => {
                let r = reader.get_mut();
                r.progress.finish(r.input.read);
            }
        }
    }
}

/// The fast path for the usual CSV line: if the buffer holds a whole line without quotes or
/// stray carriage returns, splits it on the delimiter and returns its line number. Otherwise
/// returns `None` without consuming anything, and the record is left to `csv-core`.
#[inline]
fn read_plain_line(
    reader: &mut BufReader<Reporting<'_>>,
    delimiter: u8,
    newlines: &mut u64,
    record: &mut Record,
) -> io::Result<Option<u64>> {
    let buf = reader.fill_buf()?;
    let Some(end) = memchr::memchr(b'\n', buf) else {
        return Ok(None);
    };
    let mut line = &buf[..end];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    if memchr::memchr2(b'"', b'\r', line).is_some() {
        return Ok(None);
    }
    record.clear();
    let mut start = 0;
    for i in memchr::memchr_iter(delimiter, line) {
        record.push_field(&line[start..i]);
        start = i + 1;
    }
    record.push_field(&line[start..]);
    *newlines += 1;
    reader.consume(end + 1);
    Ok(Some(*newlines))
}

/// Reads one CSV record, counting the newlines consumed to know the record's first line.
fn read_csv(
    core: &mut csv_core::Reader,
    reader: &mut BufReader<Reporting<'_>>,
    newlines: &mut u64,
    record: &mut Record,
) -> io::Result<Option<u64>> {
    use csv_core::ReadRecordResult as R;
    record.clear();
    let (mut outlen, mut endlen) = (0, 0);
    let mut line = None;
    loop {
        let input = reader.fill_buf()?;
        let at_start = *newlines == 0 && line.is_none();
        let (res, nin, nout, nend) = core.read_record(
            input,
            &mut record.data[outlen..],
            &mut record.ends[endlen..],
        );
        let mut consumed = &input[..nin];
        if line.is_none() {
            // Blank lines and the previous record's line end come before this record's content.
            if at_start {
                consumed = consumed.strip_prefix(UTF8_BOM).unwrap_or(consumed);
            }
            let lead = consumed
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            *newlines += count_newlines(&consumed[..lead]);
            consumed = &consumed[lead..];
            if !consumed.is_empty() {
                line = Some(*newlines + 1);
            }
        }
        *newlines += count_newlines(consumed);
        reader.consume(nin);
        outlen += nout;
        endlen += nend;
        match res {
            R::InputEmpty => {}
            R::OutputFull => {
                let n = record.data.len();
                record.data.resize(2 * n.max(1), 0);
            }
            R::OutputEndsFull => {
                let n = record.ends.len();
                record.ends.resize(2 * n.max(1), 0);
            }
            R::Record => {
                record.len = endlen;
                return Ok(Some(line.unwrap_or(*newlines + 1)));
            }
            R::End => return Ok(None),
        }
    }
}

/// Reads one line and splits it on runs of ASCII whitespace.
fn read_whitespace(
    reader: &mut BufReader<Reporting<'_>>,
    line: &mut Vec<u8>,
    line_no: &mut u64,
    record: &mut Record,
) -> io::Result<Option<u64>> {
    line.clear();
    if reader.read_until(b'\n', line)? == 0 {
        return Ok(None);
    }
    *line_no += 1;
    record.clear();
    let mut bytes: &[u8] = line;
    if *line_no == 1 {
        bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    }
    for field in bytes
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
    {
        record.push_field(field);
    }
    Ok(Some(*line_no))
}

/// A record with no fields, or a single field of only whitespace.
fn is_blank(record: &Record) -> bool {
    match record.len() {
        0 => true,
        1 => trim(&record[0]).is_empty(),
        _ => false,
    }
}

/// Trims ASCII whitespace from both ends.
#[inline]
pub(crate) fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::file;

    fn read_all(content: &[u8], delimiter: Delimiter) -> Vec<(u64, Vec<String>)> {
        let (_dir, path) = file("r.txt", content);
        let mut progress = |_| {};
        let mut records = Records::open(&path, delimiter, &mut progress).unwrap();
        let mut record = Record::new();
        let mut out = Vec::new();
        while let Some(line) = records.next(&mut record).unwrap() {
            out.push((
                line,
                record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            ));
        }
        out
    }

    #[test]
    fn csv_records_report_physical_lines_with_crlf_blank_lines_and_quoted_newlines() {
        let got = read_all(
            b"\xEF\xBB\xBFh,d\r\n\r\n\"a\r\nb\",1\r\n  \r\nc,\"x\"\"y\"\r\nlast,2",
            Delimiter::Comma,
        );
        let want = vec![
            (1, vec!["h".to_string(), "d".to_string()]),
            (3, vec!["a\r\nb".to_string(), "1".to_string()]),
            (6, vec!["c".to_string(), "x\"y".to_string()]),
            (7, vec!["last".to_string(), "2".to_string()]),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn long_fields_and_many_fields_grow_the_record_buffers() {
        let long = "x".repeat(5000);
        let many = (0..100)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\t");
        let got = read_all(format!("{long}\ty\n{many}\n").as_bytes(), Delimiter::Tab);
        assert_eq!(got[0], (1, vec![long, "y".to_string()]));
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1.len(), 100);
        assert_eq!(got[1].1[99], "99");
    }

    #[test]
    fn whitespace_records_split_on_runs_and_skip_blank_lines() {
        let got = read_all(b" a  b\t c \r\n\n \t\nd e", Delimiter::Whitespace);
        assert_eq!(
            got,
            vec![
                (1, vec!["a".to_string(), "b".to_string(), "c".to_string()]),
                (4, vec!["d".to_string(), "e".to_string()]),
            ]
        );
    }

    #[test]
    fn fast_path_and_csv_core_agree_with_generated_records_across_buffer_boundaries() {
        // Random records (some quoted with delimiters, quotes and line breaks inside), with LF
        // or CRLF endings and blank lines, in a file several buffers long. The expected fields
        // and starting lines are known from the generation.
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut rand = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut line = 1u64;
        while text.len() < 3 * BUFFER {
            if rand(10) == 0 {
                text.push('\n');
                line += 1;
                continue;
            }
            let mut fields = Vec::new();
            for _ in 0..(2 + rand(3)) {
                let value: String = if rand(8) == 0 {
                    let inner =
                        ["a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", "x"][rand(5) as usize];
                    text.push('"');
                    text.push_str(&inner.replace('"', "\"\""));
                    text.push('"');
                    inner.to_string()
                } else {
                    let v = format!("v{}", rand(1_000_000));
                    text.push_str(&v);
                    v
                };
                fields.push(value);
                text.push(',');
            }
            text.pop();
            expected.push((line, fields.clone()));
            line += fields
                .iter()
                .map(|f| f.matches('\n').count() as u64)
                .sum::<u64>()
                + 1;
            text.push_str(if rand(2) == 0 { "\r\n" } else { "\n" });
        }
        let got = read_all(text.as_bytes(), Delimiter::Comma);
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g, e);
        }
    }
}
