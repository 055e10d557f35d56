//! The parallel path for plain CSV and TSV.
//!
//! Worker threads take turns reading the file in blocks of whole lines, then each parses its
//! block: splits the lines, checks the rows ([`Rules::check`]) and hashes the customer ids. The
//! calling thread takes the parsed blocks in file order and hands their rows to the consumer,
//! so the consumer sees exactly what a one-record-at-a-time scan would give: the same rows in
//! the same order, and the first error in the file with its physical line number. (Reading on
//! the workers keeps a block's bytes in the cache of the core that parses them, and leaves the
//! calling thread, whose consumer work cannot be split, nothing else to do.)
//!
//! A block is parsed only up to its first line that is not plain: a line with a quote or a
//! carriage return other than the one before the newline (where a CSV record may span lines, or
//! `\r` ends a record). From that line on, the rest of the file goes through the general record
//! reader ([`Records`]), starting from the bytes already read into memory.
//!
//! A fixed number of block buffers circulates between the workers and the calling thread, so at
//! most that many blocks are in flight and memory does not grow with the file.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use crate::error::DataError;
use crate::records::{trim, Input, Progress, Record, Records};
use crate::scan::{scan_records, Checked, Row, Rows, Rules, ScanStats};

/// Bytes per block (a block grows when a single line is longer).
pub(crate) const BLOCK: usize = 1 << 18;

/// At most this many parser threads.
const MAX_WORKERS: usize = 8;

/// A block of whole lines to parse: `data[..len]`, the `seq`-th block of the file.
struct Job {
    seq: u64,
    data: Vec<u8>,
    len: usize,
    /// A reusable row buffer.
    rows: Vec<Row>,
    /// Bytes read from the file once this block was read.
    read_to: u64,
}

/// Why the parse of a block stopped before its end.
enum Stop {
    /// A user error (its line counts from 1 at the block's first line), or a read error.
    Error(DataError),
    /// The line starting at `offset`, the block's `line`-th, is not plain.
    NotPlain { offset: usize, line: u64 },
}

/// A parsed block: its kept rows (ids are ranges of the block's bytes), its statistics, and the
/// number of newlines it holds (up to the stop, if any).
struct Parsed {
    seq: u64,
    rows: Rows,
    len: usize,
    newlines: u64,
    stats: ScanStats,
    stop: Option<Stop>,
    read_to: u64,
}

impl Parsed {
    /// Block `seq` could not be parsed (or read): `error` is reported when its turn comes.
    fn failed(seq: u64, error: DataError) -> Self {
        Parsed {
            seq,
            rows: Rows::default(),
            len: 0,
            newlines: 0,
            stats: ScanStats::new(),
            stop: Some(Stop::Error(error)),
            read_to: 0,
        }
    }

    /// The block's buffers, for reuse.
    fn into_buffers(self) -> (Vec<u8>, Vec<Row>) {
        (self.rows.bytes, self.rows.rows)
    }
}

fn parse_job(rules: &Rules, delimiter: u8, job: Job) -> Parsed {
    let Job {
        seq,
        data,
        len,
        mut rows,
        read_to,
    } = job;
    rows.clear();
    let mut stats = ScanStats::new();
    let (newlines, stop) = parse_block(rules, delimiter, &data[..len], &mut stats, &mut rows);
    Parsed {
        seq,
        rows: Rows { bytes: data, rows },
        len,
        newlines,
        stats,
        stop,
        read_to,
    }
}

/// The position of the first byte that the plain-line path cannot take: a quote, or a carriage
/// return not followed by a newline. `data.len()` if there is none.
fn first_special(data: &[u8]) -> usize {
    let quote = memchr::memchr(b'"', data).unwrap_or(data.len());
    memchr::memchr_iter(b'\r', &data[..quote])
        .find(|&cr| data.get(cr + 1) != Some(&b'\n'))
        .unwrap_or(quote)
}

/// Parses the lines of `data` (whole lines; only the file's last line may lack its newline),
/// pushing the kept rows. Returns the number of newlines passed and why it stopped early, if it
/// did. Rows, statistics and newlines cover exactly the lines before the stop.
fn parse_block(
    rules: &Rules,
    delimiter: u8,
    data: &[u8],
    stats: &mut ScanStats,
    rows: &mut Vec<Row>,
) -> (u64, Option<Stop>) {
    if u32::try_from(data.len()).is_err() {
        // Row ids are at most 4 GiB long; leave such a block to the record reader.
        return (0, Some(Stop::NotPlain { offset: 0, line: 1 }));
    }
    let special = first_special(data);
    let ascii = data.is_ascii();
    let wanted = [
        rules.customer,
        rules.date,
        rules.amount.unwrap_or(usize::MAX),
    ];
    // Where the wanted fields of the current line are.
    let mut spans = [(0usize, 0usize); 3];
    let mut fields = 0usize;
    let mut field_start = 0usize;
    let mut line_start = 0usize;
    let mut newlines = 0u64;

    let mut end_line =
        |line: u64, fields: usize, last: (usize, usize), spans: &[(usize, usize); 3]| {
            // A single field of only whitespace is a blank line.
            if fields == 1 && trim(&data[last.0..last.1]).is_empty() {
                return Ok(());
            }
            stats.rows += 1;
            let field = |i: usize| {
                let (s, e) = if i == wanted[0] {
                    spans[0]
                } else if i == wanted[1] {
                    spans[1]
                } else {
                    spans[2]
                };
                &data[s..e]
            };
            match rules.check(line, fields, field, ascii)? {
                Checked::Keep { id, day, amount } => {
                    stats.keep(day);
                    let id_start = id.as_ptr() as usize - data.as_ptr() as usize;
                    let row = Row::new(data, id_start, id.len(), day, amount, rows.last());
                    rows.push(row);
                }
                Checked::Drop => {}
            }
            Ok::<(), DataError>(())
        };

    for pos in memchr::memchr2_iter(delimiter, b'\n', data) {
        let newline = data[pos] == b'\n';
        // The field ends here; a line's last field loses the `\r` of a `\r\n` line end.
        let end = if newline && pos > field_start && data[pos - 1] == b'\r' {
            pos - 1
        } else {
            pos
        };
        for (span, &w) in spans.iter_mut().zip(&wanted) {
            if fields == w {
                *span = (field_start, end);
            }
        }
        fields += 1;
        let last = (field_start, end);
        field_start = pos + 1;
        if !newline {
            continue;
        }
        if special <= pos {
            let stop = Stop::NotPlain {
                offset: line_start,
                line: newlines + 1,
            };
            return (newlines, Some(stop));
        }
        newlines += 1;
        if let Err(e) = end_line(newlines, fields, last, &spans) {
            return (newlines, Some(Stop::Error(e)));
        }
        fields = 0;
        line_start = pos + 1;
    }
    if line_start < data.len() {
        // The file's last line, without a newline.
        if special < data.len() {
            let stop = Stop::NotPlain {
                offset: line_start,
                line: newlines + 1,
            };
            return (newlines, Some(stop));
        }
        let end = data.len();
        for (span, &w) in spans.iter_mut().zip(&wanted) {
            if fields == w {
                *span = (field_start, end);
            }
        }
        if let Err(e) = end_line(newlines + 1, fields + 1, (field_start, end), &spans) {
            return (newlines, Some(Stop::Error(e)));
        }
    }
    (newlines, None)
}

/// Reads the file in blocks that end at a line end.
struct BlockReader {
    input: Input,
    /// Bytes read after the last block's final newline.
    carry: Vec<u8>,
    size: usize,
    eof: bool,
}

impl BlockReader {
    /// Fills `data` with the next block and returns its length (0 at the end). Every block ends
    /// with a newline, except the file's last block when the file does not.
    fn next(&mut self, data: &mut Vec<u8>) -> io::Result<usize> {
        let want = self.size.max(1) + self.carry.len();
        if data.len() < want {
            data.resize(want, 0);
        }
        let mut len = self.carry.len();
        data[..len].copy_from_slice(&self.carry);
        self.carry.clear();
        loop {
            while !self.eof && len < data.len() {
                match self.input.read(&mut data[len..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => len += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.eof {
                return Ok(len);
            }
            if let Some(last) = memchr::memrchr(b'\n', &data[..len]) {
                self.carry.extend_from_slice(&data[last + 1..len]);
                return Ok(last + 1);
            }
            // A line longer than the block: read on.
            let grown = 2 * data.len();
            data.resize(grown, 0);
        }
    }

    /// The next block as a job, reusing `buffers`; `None` at the end of the file.
    fn job(&mut self, seq: u64, (mut data, rows): (Vec<u8>, Vec<Row>)) -> io::Result<Option<Job>> {
        let len = self.next(&mut data)?;
        Ok((len > 0).then(|| Job {
            seq,
            data,
            len,
            rows,
            read_to: self.input.bytes_read(),
        }))
    }
}

/// The consumer side: takes parsed blocks in file order.
struct InOrder<'r, 's, 'e, 'p> {
    rules: &'r Rules<'r>,
    delimiter: u8,
    stats: &'s mut ScanStats,
    each: &'e mut dyn FnMut(&Rows) -> Result<(), DataError>,
    progress: Progress<'p>,
    /// Line number of the next block's first line.
    line: u64,
}

/// What to do after a block.
enum Next {
    /// Go on with the next block; here are the block's buffers for reuse.
    Continue(Vec<u8>, Vec<Row>),
    /// Go on with the record reader, from `rest` (the bytes from the first line that is not
    /// plain to the end of the block), starting at line `line`.
    Records { rest: Vec<u8>, line: u64 },
}

impl InOrder<'_, '_, '_, '_> {
    fn take(&mut self, parsed: Parsed) -> Result<Next, DataError> {
        self.progress.update(parsed.read_to);
        self.stats.add(&parsed.stats);
        (self.each)(&parsed.rows)?;
        let first = self.line;
        self.line += parsed.newlines;
        match parsed.stop {
            None => {
                let (data, rows) = parsed.into_buffers();
                Ok(Next::Continue(data, rows))
            }
            Some(Stop::Error(mut e)) => {
                if let DataError::Input(e) = &mut e {
                    if let Some(line) = &mut e.line {
                        *line += first - 1;
                    }
                }
                Err(e)
            }
            Some(Stop::NotPlain { offset, line }) => Ok(Next::Records {
                rest: parsed.rows.bytes[offset..parsed.len].to_vec(),
                line: first + line - 1,
            }),
        }
    }

    /// Reads the rest of the file with the record reader: `rest`, then the reader's carried
    /// bytes and the rest of its input, starting at line `line`.
    fn records(self, mut rest: Vec<u8>, reader: BlockReader, line: u64) -> Result<(), DataError> {
        let BlockReader {
            mut input,
            mut carry,
            ..
        } = reader;
        rest.append(&mut carry);
        input.unread(rest);
        let mut records = Records::resume(
            self.rules.path,
            self.delimiter,
            input,
            self.progress,
            line - 1,
        );
        let each = self.each;
        scan_records(
            self.rules,
            &mut records,
            &mut Record::new(),
            None,
            self.stats,
            |rows| each(rows),
        )
    }
}

fn io_error(rules: &Rules, source: io::Error) -> DataError {
    DataError::Io {
        path: rules.path.to_path_buf(),
        source,
    }
}

/// Scans the rest of a plain CSV file from `input`, whose first byte starts line
/// `newlines + 1`, handing the kept rows to `each` in file order. Adds to `stats`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_blocks(
    rules: &Rules,
    delimiter: u8,
    input: Input,
    progress: Progress,
    newlines: u64,
    block_size: usize,
    stats: &mut ScanStats,
    each: &mut dyn FnMut(&Rows) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut reader = BlockReader {
        input,
        carry: Vec::new(),
        size: block_size,
        eof: false,
    };
    let order = InOrder {
        rules,
        delimiter,
        stats,
        each,
        progress,
        line: newlines + 1,
    };
    let first = reader
        .job(0, Default::default())
        .map_err(|e| io_error(rules, e))?;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WORKERS);
    match first {
        // The whole rest of the file is one block, or there is one core: parse here.
        Some(first) if !reader.eof && workers > 1 => in_parallel(reader, order, first, workers),
        first => in_turn(reader, order, first),
    }
}

/// Parses and takes the blocks one after the other on this thread.
fn in_turn(
    mut reader: BlockReader,
    mut order: InOrder,
    mut job: Option<Job>,
) -> Result<(), DataError> {
    let rules = order.rules;
    let mut seq = 0;
    while let Some(current) = job {
        let parsed = parse_job(rules, order.delimiter, current);
        match order.take(parsed)? {
            Next::Continue(data, rows) => {
                seq += 1;
                job = reader
                    .job(seq, (data, rows))
                    .map_err(|e| io_error(rules, e))?;
            }
            Next::Records { rest, line } => return order.records(rest, reader, line),
        }
    }
    order.progress.finish(reader.input.bytes_read());
    Ok(())
}

/// What the workers share: the reader, the number of the next block, and the free buffers.
struct Source {
    reader: BlockReader,
    seq: u64,
    done: bool,
    free: mpsc::Receiver<(Vec<u8>, Vec<Row>)>,
}

/// One worker: takes a free buffer, reads the next block into it, parses it and sends it on,
/// until the end of the file or until `stop`.
fn work(
    rules: &Rules,
    delimiter: u8,
    source: &Mutex<Source>,
    stop: &AtomicBool,
    parsed: mpsc::Sender<Parsed>,
) {
    loop {
        let job = {
            let Ok(mut source) = source.lock() else {
                return;
            };
            if source.done || stop.load(Ordering::Relaxed) {
                return;
            }
            // Waiting for a free buffer holds the others back too, as they would wait as well.
            let Ok(buffers) = source.free.recv() else {
                return;
            };
            let seq = source.seq;
            source.seq += 1;
            match source.reader.job(seq, buffers) {
                Ok(Some(job)) => {
                    source.done = source.reader.eof;
                    job
                }
                Ok(None) => {
                    source.done = true;
                    return;
                }
                Err(e) => {
                    source.done = true;
                    let _ = parsed.send(Parsed::failed(seq, io_error(rules, e)));
                    return;
                }
            }
        };
        let seq = job.seq;
        // A panic would be a bug; report it instead of leaving the consumer waiting.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parse_job(rules, delimiter, job)
        }))
        .unwrap_or_else(|_| {
            Parsed::failed(seq, DataError::Internal("a parser thread panicked".into()))
        });
        if parsed.send(result).is_err() {
            return;
        }
    }
}

/// Has `workers` threads read and parse the blocks after `first` (which is parsed here) and
/// takes them in order.
fn in_parallel(
    reader: BlockReader,
    mut order: InOrder,
    first: Job,
    workers: usize,
) -> Result<(), DataError> {
    let rules = order.rules;
    let delimiter = order.delimiter;
    let (free_tx, free_rx) = mpsc::channel();
    // Buffers in flight, besides the first block's.
    for _ in 0..2 * workers + 1 {
        let _ = free_tx.send(Default::default());
    }
    let source = Mutex::new(Source {
        reader,
        seq: 1,
        done: false,
        free: free_rx,
    });
    let stop = AtomicBool::new(false);
    let (parsed_tx, parsed_rx) = mpsc::channel::<Parsed>();
    let lost = || DataError::Internal("a parser thread stopped".into());

    // Takes the blocks in order; returns where the record reader must take over, if it must,
    // with the blocks read after that point.
    let taken = std::thread::scope(|scope| {
        for _ in 0..workers {
            let parsed_tx = parsed_tx.clone();
            let (source, stop) = (&source, &stop);
            scope.spawn(move || work(rules, delimiter, source, stop, parsed_tx));
        }
        drop(parsed_tx);
        // Block 0 is parsed here while the workers read on.
        let mut pending: VecDeque<Option<Parsed>> = VecDeque::new();
        pending.push_back(Some(parse_job(rules, delimiter, first)));
        let mut next = 0u64;
        let result = loop {
            let parsed = loop {
                if let Some(parsed) = pending.front_mut().and_then(Option::take) {
                    pending.pop_front();
                    break Some(parsed);
                }
                match parsed_rx.recv() {
                    Ok(parsed) => place(&mut pending, next, parsed),
                    // Every worker stopped: the end of the file.
                    Err(_) => break None,
                }
            };
            let Some(parsed) = parsed else {
                break if pending.is_empty() {
                    Ok(None)
                } else {
                    Err(lost())
                };
            };
            next += 1;
            match order.take(parsed) {
                Ok(Next::Continue(data, rows)) => {
                    // The workers may be gone already (at the end of the file).
                    let _ = free_tx.send((data, rows));
                }
                Ok(Next::Records { mut rest, line }) => {
                    stop.store(true, Ordering::Relaxed);
                    drop(free_tx);
                    // Every block read after this one, in order.
                    while let Ok(parsed) = parsed_rx.recv() {
                        place(&mut pending, next, parsed);
                    }
                    for parsed in pending.into_iter().flatten() {
                        rest.extend_from_slice(&parsed.rows.bytes[..parsed.len]);
                    }
                    break Ok(Some((rest, line)));
                }
                Err(e) => break Err(e),
            }
        };
        // On every way out, let the workers stop (they also stop when `parsed_rx` is dropped).
        stop.store(true, Ordering::Relaxed);
        result
    });
    let reader = source
        .into_inner()
        .map_err(|_| DataError::Internal("a parser thread panicked".into()))?
        .reader;
    match taken? {
        Some((rest, line)) => order.records(rest, reader, line),
        None => {
            order.progress.finish(reader.input.bytes_read());
            Ok(())
        }
    }
}

/// Puts a parsed block into its place among the pending ones (the front is block `next`).
fn place(pending: &mut VecDeque<Option<Parsed>>, next: u64, parsed: Parsed) {
    let k = (parsed.seq - next) as usize;
    if pending.len() <= k {
        pending.resize_with(k + 1, || None);
    }
    pending[k] = Some(parsed);
}
