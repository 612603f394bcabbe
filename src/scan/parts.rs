//! Large plain JSONL files scanned in parallel parts: the file is split at
//! newlines into parts of about [`super::ScanOptions::split_bytes`], a wave of
//! one part per thread is read (positional reads on the one open handle) and
//! scanned at a time, so memory stays bounded, and continuity is replayed
//! over each wave's records in file order. The result equals a whole-file
//! scan.

use super::continuity::{Continuity, Deferred, Sequence as _};
use super::sink::Sink;
use super::worker::Worker;
use super::{Loc, ScanOptions, Span, StrayRun, Visit};
use crate::format::lines::{Lines, MAX_LINE};
use crate::format::source::{ReadError, Source};
use crate::format::Format;
use crate::store::layout::DataFile;
use rayon::prelude::*;

/// The facts of all parts of a file, in order.
pub(super) struct Merged<V> {
    pub records: u64,
    pub spans: Vec<Span>,
    pub strays: Vec<StrayRun>,
    pub unterminated: Option<Loc>,
    pub crlf: u64,
    pub visits: Vec<V>,
}

impl<V> Default for Merged<V> {
    fn default() -> Self {
        Self {
            records: 0,
            spans: Vec::new(),
            strays: Vec::new(),
            unterminated: None,
            crlf: 0,
            visits: Vec::new(),
        }
    }
}

impl<V: Visit> Merged<V> {
    /// The facts of a whole-file worker.
    pub fn from_worker<S>(w: Worker<'_, S, V>) -> Self {
        Self {
            records: w.records,
            spans: w.spans,
            strays: w.strays,
            unterminated: w.unterminated,
            crlf: w.crlf,
            visits: vec![w.visit],
        }
    }

    fn absorb<S>(&mut self, w: Worker<'_, S, V>) {
        self.records += w.records;
        for s in w.spans {
            match self.spans.last_mut() {
                Some(l) if l.kind == s.kind && l.offset + l.len == s.offset => {
                    l.len += s.len;
                    l.records += s.records;
                }
                _ => self.spans.push(s),
            }
        }
        for s in w.strays {
            match self.strays.last_mut() {
                Some(l) if l.stray == s.stray && l.offset + l.len == s.offset => {
                    l.len += s.len;
                    l.records += s.records;
                }
                _ => self.strays.push(s),
            }
        }
        self.unterminated = w.unterminated.or(self.unterminated);
        self.crlf += w.crlf;
        self.visits.push(w.visit);
    }
}

/// The parts of a plain JSONL file, when it splits into several parts of
/// bounded size (a file with megabytes without a newline does not: it is
/// read in windows instead).
pub(super) fn bounds(src: &Source, split_bytes: u64) -> Option<Vec<(u64, u64)>> {
    let b = part_bounds(src, src.stat().size, split_bytes);
    let most = split_bytes + 4 * MAX_LINE as u64;
    (b.len() > 1 && b.iter().all(|(s, e)| e - s <= most)).then_some(b)
}

/// Scans a plain JSONL file in the parallel parts of [`bounds`].
#[allow(clippy::too_many_arguments)]
pub(super) fn scan_parts<V: Visit>(
    file: &DataFile,
    format: Format,
    opts: &ScanOptions,
    src: &mut Source,
    bounds: Vec<(u64, u64)>,
    cont: &mut Continuity,
    sink: &mut Sink,
    new_visit: &(dyn Fn() -> V + Sync),
) -> Merged<V> {
    let size = src.stat().size;
    let threads = rayon::current_num_threads().max(1);
    let mut merged = Merged::default();
    let mut lines_before = 0u64;
    let mut crc = opts.crc.then(crc32fast::Hasher::new);
    let mut problem = None;
    let mut pos = 0u64;
    let rel = file.rel.as_str();
    for wave in bounds.chunks(threads) {
        let reader: &Source = src;
        let bufs: Vec<Result<Vec<u8>, ReadError>> = wave
            .par_iter()
            .map(|&(s, e)| reader.read_range(s, e))
            .collect();
        let mut parts = Vec::with_capacity(wave.len());
        for (&(s, e), b) in wave.iter().zip(bufs) {
            match b {
                Ok(b) => parts.push((s, e, b)),
                Err(err) => {
                    problem = Some(err);
                    break;
                }
            }
        }
        let counts: Vec<u64> = parts
            .par_iter()
            .map(|(_, _, b)| memchr::memchr_iter(b'\n', b).count() as u64)
            .collect();
        let mut bases = Vec::with_capacity(parts.len());
        for n in &counts {
            bases.push(lines_before);
            lines_before += n;
        }
        let workers: Vec<Worker<'_, Deferred, V>> = parts
            .par_iter()
            .zip(bases)
            .map(|((s, e, b), base)| {
                let mut w = Worker::new(file, format, opts, Deferred::default(), new_visit());
                Lines::after(base).feed(b, *s, *e == size, &mut |p| w.piece(p));
                w
            })
            .collect();
        for ((_, e, b), mut w) in parts.iter().zip(workers) {
            if let Some(h) = &mut crc {
                let mut part = crc32fast::Hasher::new();
                part.update(b);
                h.combine(&part);
            }
            pos = *e;
            for entry in std::mem::take(&mut w.seq.0) {
                cont.record(entry, opts.max_gap_us, rel, &mut |f| sink.push(f));
            }
            sink.absorb(std::mem::take(&mut w.sink));
            merged.absorb(w);
        }
        if problem.is_some() {
            break;
        }
    }
    src.finish_external(pos, crc, problem);
    merged
}

/// Part boundaries: every `size`-th byte moved to just after the next
/// newline (a boundary with no newline within a long stretch is dropped).
fn part_bounds(src: &Source, len: u64, size: u64) -> Vec<(u64, u64)> {
    let size = size.max(1);
    let mut cuts = vec![0u64];
    let mut nominal = size;
    while nominal < len {
        let from = nominal.max(*cuts.last().unwrap_or(&0));
        match next_newline(src, from, len) {
            Some(b) if b < len => cuts.push(b),
            _ => break,
        }
        nominal = cuts.last().copied().unwrap_or(len) + size;
    }
    cuts.push(len);
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The offset just after the first `\n` at or after `from`, looked for in
/// the next `2 * MAX_LINE` bytes.
fn next_newline(src: &Source, from: u64, len: u64) -> Option<u64> {
    const STEP: u64 = 64 << 10;
    let mut at = from;
    while at < len && at - from < 2 * MAX_LINE as u64 {
        let end = (at + STEP).min(len);
        let b = src.read_range(at, end).ok()?;
        if let Some(i) = memchr::memchr(b'\n', &b) {
            return Some(at + i as u64 + 1);
        }
        at = end;
    }
    None
}
