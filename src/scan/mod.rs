//! The one scan of a data file. A file is opened once and read once, in
//! windows, into a [`FileScan`] of typed facts: which format it holds, which
//! byte ranges are not good records and why ([`Span`]), which records belong
//! in another file ([`StrayRun`]), which are duplicates ([`Loc`]s, each
//! confirmed field by field), its time range and continuity, and the
//! findings of the record checks. `validate` prints the findings; `repair`,
//! `convert`, `index` and `compare` act on the facts, never on messages.
//! A [`Visit`] sees every good record on the way, for commands that need
//! the records themselves.
//!
//! Large plain JSONL files are scanned in parallel parts (split at newlines);
//! the result is the same as a whole-file scan (a property test checks it).

pub mod continuity;
mod parts;
pub mod record;
pub mod sink;
mod worker;

use crate::format::piece::Piece;
use crate::format::source::{ReadError, Source, Stat, Window};
use crate::format::{Compression, Format, Version};
use crate::report::{Finding, Kind};
use crate::store::discover::Found;
use crate::store::layout::{DataFile, Layout};
use crate::store::naming::FileName;
use crate::tick::Tick;
use crate::time::{self, HOUR};
use continuity::{Candidate, Continuity};
use record::Stray;
use sink::Sink;
use worker::Worker;

/// Default maximum silence inside a file before a `gap` is reported.
pub const DEFAULT_MAX_GAP_S: i64 = 300;

/// Default size above which a plain JSONL file is scanned in parallel parts.
pub const DEFAULT_SPLIT_BYTES: u64 = 16 << 20;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Silence inside a file longer than this (µs) is a `gap`.
    pub max_gap_us: i64,
    /// Occurrences of one finding kind listed per file.
    pub max_per_kind: u64,
    /// Plain JSONL files larger than this are scanned in parallel parts.
    pub split_bytes: u64,
    /// Compute the CRC-32 of the file's bytes on disk.
    pub crc: bool,
    /// Largest decompressed size read from a `.zst` file.
    pub decompressed_limit: u64,
    /// Run validate's checks of each good record: its values, payload and
    /// place (against the file's name and hour: strays) and continuity
    /// (first/last `ts`, gaps, order, repeats, duplicates). Readers that
    /// need only the records and the damage (convert and its
    /// verification) turn them off: those findings are not made, and
    /// `first_ts`, `last_ts`, `gaps`, `repeats`, `duplicates` and `strays`
    /// stay empty. Damage (spans) is found either way.
    pub record_checks: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            max_gap_us: DEFAULT_MAX_GAP_S * time::US,
            max_per_kind: sink::MAX_PER_KIND,
            split_bytes: DEFAULT_SPLIT_BYTES,
            crc: false,
            decompressed_limit: crate::format::source::MAX_DECOMPRESSED,
            record_checks: true,
        }
    }
}

/// Where a record lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    /// Byte offset (in decompressed bytes for `.zst` files).
    pub offset: u64,
    /// Bytes, terminator or length prefix included.
    pub len: u64,
    /// 1-based line or frame number.
    pub index: u64,
}

/// A byte range that holds no good record: framing damage, or records that
/// do not decode. Adjacent ranges of one kind are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Byte offset.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// Line or frame number of its start.
    pub index: Option<u64>,
    /// What it is (a damage or record-error kind).
    pub kind: Kind,
    /// Records (or partial records) it covers.
    pub records: u64,
}

/// A run of adjacent records that all belong in one other file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrayRun {
    /// Byte offset of the first.
    pub offset: u64,
    /// Bytes of the run.
    pub len: u64,
    /// Line or frame number of the first.
    pub index: u64,
    /// Records in the run.
    pub records: u64,
    /// Where they belong.
    pub stray: Stray,
}

/// Why a file could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadProblem {
    /// It could not be opened or read.
    Unreadable,
    /// Its zstd stream is corrupt or truncated.
    Compression,
    /// It decompresses to more than the limit.
    TooLarge,
    /// It shrank while it was read.
    Shrank,
}

/// Everything one scan of one file found.
#[derive(Debug, Clone)]
pub struct FileScan {
    /// The file (its name read as v3 when the content is v3).
    pub file: DataFile,
    /// The record format it holds (none if no tick data).
    pub format: Option<Format>,
    /// What the file was when opened.
    pub stat: Option<Stat>,
    /// (Decompressed) bytes read.
    pub decoded_bytes: u64,
    /// CRC-32 of the bytes on disk ([`ScanOptions::crc`]).
    pub crc32: Option<u32>,
    /// Records that decoded.
    pub records: u64,
    /// Earliest ts.
    pub first_ts: Option<i64>,
    /// Latest ts.
    pub last_ts: Option<i64>,
    /// Gaps longer than the maximum inside the file.
    pub gaps: u64,
    /// Byte ranges that are not good records, in file order.
    pub spans: Vec<Span>,
    /// Records that belong in another file, in file order.
    pub strays: Vec<StrayRun>,
    /// Confirmed duplicates (later copies), in file order.
    pub duplicates: Vec<Loc>,
    /// The last record, when it decodes but lacks its newline.
    pub unterminated: Option<Loc>,
    /// Records whose line ends in CRLF.
    pub crlf_lines: u64,
    /// Records equal to their predecessor except for `st` (same-second repeats).
    pub repeats: u64,
    /// Whether the records are in `(ts, st)` order.
    pub arrival_sorted: bool,
    /// Why reading stopped early, if it did.
    pub read_problem: Option<ReadProblem>,
    /// Findings, in file order per kind.
    pub findings: Vec<Finding>,
}

impl FileScan {
    fn new(file: DataFile) -> Self {
        Self {
            file,
            format: None,
            stat: None,
            decoded_bytes: 0,
            crc32: None,
            records: 0,
            first_ts: None,
            last_ts: None,
            gaps: 0,
            spans: Vec::new(),
            strays: Vec::new(),
            duplicates: Vec::new(),
            unterminated: None,
            crlf_lines: 0,
            repeats: 0,
            arrival_sorted: true,
            read_problem: None,
            findings: Vec::new(),
        }
    }

    /// Whether the file is empty (0 bytes, or a compressed stream of nothing).
    pub fn is_empty(&self) -> bool {
        self.decoded_bytes == 0 && self.read_problem.is_none()
    }
}

/// A good record, as a [`Visit`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Good<'a> {
    /// Byte offset.
    pub offset: u64,
    /// Bytes, terminator or prefix included.
    pub len: u64,
    /// Line or frame number.
    pub index: u64,
    /// The record's bytes (line without terminator, or frame body).
    pub bytes: &'a [u8],
    /// The decoded record.
    pub tick: &'a Tick,
    /// v2 JSON: what the record holds that no v3 field carries.
    pub extras: crate::format::v2_side::Extras,
}

/// Something that sees every good record of a scan, in file order. A file
/// scanned in parallel parts gets one visitor per part, in order.
pub trait Visit: Send {
    /// One good record.
    fn record(&mut self, r: &Good<'_>);
}

impl Visit for () {
    fn record(&mut self, _: &Good<'_>) {}
}

/// What [`scan_with`] returns: the facts, the visitors, and the open file
/// (for a command that goes on to rewrite it from the same handle).
#[derive(Debug)]
pub struct Scanned<V> {
    /// The facts.
    pub scan: FileScan,
    /// One visitor per part, in file order.
    pub visits: Vec<V>,
    /// The file, still open (none when it could not be opened).
    pub source: Option<Source>,
}

/// Scans one file.
pub fn scan(found: &Found, opts: &ScanOptions) -> FileScan {
    scan_with(found, opts, &|| ()).scan
}

/// Scans one file, showing every good record to a visitor.
pub fn scan_with<V: Visit>(
    found: &Found,
    opts: &ScanOptions,
    new_visit: &(dyn Fn() -> V + Sync),
) -> Scanned<V> {
    let mut out = Scanned {
        scan: FileScan::new(found.file.clone()),
        visits: Vec::new(),
        source: None,
    };
    let rel = found.file.rel.clone();
    let mut sink = Sink::with_cap(opts.max_per_kind);
    let mut src = match Source::open(&found.abs, found.file.ext.compression, opts.crc) {
        Ok(s) => s.with_limit(opts.decompressed_limit),
        Err(e) => {
            out.scan.read_problem = Some(ReadProblem::Unreadable);
            sink.push(Finding::new(Kind::Unreadable, &rel, e.to_string()));
            out.scan.findings = sink.finish(&rel);
            return out;
        }
    };
    out.scan.stat = Some(*src.stat());
    let mut win = Window::default();
    win.fill(&mut src);
    if win.data().is_empty() {
        let scan = &mut out.scan;
        file_checks(
            &scan.file,
            scan.file.layout.version().unwrap_or(Version::V2),
            &mut sink,
        );
        scan.format = scan.file.layout_format();
        // A 0-byte file is empty whatever its extension (a 0-byte `.zst`
        // holds no frame, which the decoder calls incomplete).
        if let Some(p) = src.problem().filter(|_| src.stat().size > 0) {
            sink.push(problem_finding(p, &rel, scan));
        } else {
            let why = if src.stat().size == 0 {
                "file is empty (0 bytes)"
            } else {
                "file decompresses to 0 bytes"
            };
            sink.push(Finding::new(Kind::EmptyFile, &rel, why).at(0, None).len(0));
        }
        scan.crc32 = src.crc32();
        scan.findings = sink.finish(&rel);
        out.source = Some(src);
        return out;
    }
    let Some(format) = choose_format(&out.scan.file, win.data(), &mut sink) else {
        sink.push(Finding::new(
            Kind::NotTickData,
            &rel,
            "file holds no IB-Stream tick records (not v2 or v3 JSON/protobuf); skipped",
        ));
        out.scan.findings = sink.finish(&rel);
        out.scan.decoded_bytes = src.stat().size;
        out.source = Some(src);
        return out;
    };
    out.scan.format = Some(format);
    if format.is_v3() {
        // v3 records under a v2-era folder (a converter target `{root}/json`)
        // still carry v3 names: read the name as v3 when it is one.
        if let Some(n) = FileName::parse_v3(&out.scan.file.stem) {
            out.scan.file.name = n;
        }
    }
    file_checks(&out.scan.file, format.version(), &mut sink);
    let file = out.scan.file.clone();
    let mut cont = Continuity::default();
    let parts = if format.is_json()
        && src.compression() == Compression::None
        && src.stat().size > opts.split_bytes
        && rayon::current_num_threads() > 1
    {
        parts::bounds(&src, opts.split_bytes)
    } else {
        None
    };
    let worker = if let Some(bounds) = parts {
        parts::scan_parts(
            &file, format, opts, &mut src, bounds, &mut cont, &mut sink, new_visit,
        )
    } else {
        let mut w = Worker::new(&file, format, opts, &mut cont, new_visit());
        w.sink = std::mem::replace(&mut sink, Sink::with_cap(opts.max_per_kind));
        read_sequential(&mut src, &mut win, |p| w.piece(p), format);
        sink = std::mem::take(&mut w.sink);
        parts::Merged::from_worker(w)
    };
    let scan = &mut out.scan;
    scan.records = worker.records;
    scan.spans = worker.spans;
    scan.strays = worker.strays;
    scan.unterminated = worker.unterminated;
    scan.crlf_lines = worker.crlf;
    out.visits = worker.visits;
    scan.decoded_bytes = src.position();
    if let Some(p) = src.problem() {
        let f = problem_finding(p, &rel, scan);
        sink.push(f);
    }
    scan.first_ts = cont.min_ts;
    scan.last_ts = cont.max_ts();
    scan.gaps = cont.gaps;
    scan.arrival_sorted = cont.arrival_sorted;
    scan.repeats = cont.repeats;
    scan.crc32 = src.crc32();
    let candidates = cont.candidates();
    if !candidates.is_empty() {
        scan.duplicates = confirm(&mut src, format, &candidates);
        if let Some(first) = scan.duplicates.first() {
            let mut f = Finding::new(
                Kind::Duplicate,
                &rel,
                "record repeats an earlier record exactly, or belongs to a repeated block of records (st aside)",
            )
            .at(first.offset, Some(first.index));
            f.count = scan.duplicates.len() as u64;
            sink.push(f);
        }
    }
    if scan.records == 0
        && scan.file.layout == Layout::Unplaced
        && !scan.spans.iter().any(|s| s.kind == Kind::TruncatedTail)
    {
        let mut s = Sink::default();
        s.push(Finding::new(
            Kind::NotTickData,
            &rel,
            "file holds no decodable tick records; skipped",
        ));
        scan.format = None;
        scan.spans.clear();
        scan.findings = s.finish(&rel);
    } else {
        scan.findings = sink.finish(&rel);
    }
    if let Some(raw) = &scan.file.raw {
        for f in &mut scan.findings {
            f.file_bytes = Some(raw.clone());
        }
    }
    out.source = Some(src);
    out
}

/// Reads the rest of a file through the format's framer, starting with the
/// bytes already in `win`.
fn read_sequential(
    src: &mut Source,
    win: &mut Window,
    mut on: impl FnMut(Piece<'_>),
    format: Format,
) {
    let mut framer = format.framer();
    loop {
        let eof = src.at_end();
        // A read that stopped early (the file shrank, a zstd stream broke)
        // did not reach the file's end: its partial last piece is not a
        // truncated tail, and the read problem's finding covers it.
        let last = eof && src.problem().is_none();
        let used = framer.feed(win.data(), win.base(), last, &mut on);
        if eof {
            return;
        }
        win.consume(used);
        win.fill(src);
    }
}

/// The finding for a read that ended early.
fn problem_finding(p: &ReadError, rel: &str, scan: &mut FileScan) -> Finding {
    let (problem, kind) = match p {
        ReadError::Io(_) => (ReadProblem::Unreadable, Kind::Unreadable),
        ReadError::Zstd { .. } => (ReadProblem::Compression, Kind::Compression),
        ReadError::TooLarge { .. } => (ReadProblem::TooLarge, Kind::Compression),
        ReadError::Shrank { .. } => (ReadProblem::Shrank, Kind::ChangedDuringRun),
    };
    scan.read_problem = Some(problem);
    Finding::new(kind, rel, p.to_string())
}

/// Confirms duplicate candidates field by field: a second pass over the file
/// from the same handle, keeping only the records the candidates name (the
/// first pass keeps 16 bytes per record instead of every record).
fn confirm(src: &mut Source, format: Format, candidates: &[Candidate]) -> Vec<Loc> {
    use std::collections::HashMap;
    let mut wanted: HashMap<u32, Option<(Tick, Loc)>> = HashMap::new();
    for c in candidates {
        wanted.insert(c.dup, None);
        wanted.insert(c.orig, None);
    }
    if src.rewind().is_err() {
        return Vec::new();
    }
    let mut ordinal = 0u32;
    let mut win = Window::default();
    win.fill(src);
    read_sequential(
        src,
        &mut win,
        |p| {
            if let Piece::Record {
                offset,
                len,
                index,
                bytes,
                ..
            } = p
            {
                if let Ok(d) = format.decode(bytes) {
                    if let Some(slot) = wanted.get_mut(&ordinal) {
                        *slot = Some((d.tick, Loc { offset, len, index }));
                    }
                    ordinal += 1;
                }
            }
        },
        format,
    );
    let mut out: Vec<Loc> = candidates
        .iter()
        .filter_map(|c| {
            let (dup, loc) = wanted.get(&c.dup)?.as_ref()?;
            let (orig, _) = wanted.get(&c.orig)?.as_ref()?;
            c.confirmed_by(dup, orig).then_some(*loc)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// File-level checks of name and partition.
fn file_checks(f: &DataFile, version: Version, sink: &mut Sink) {
    if let Some(where_) = &f.misfiled {
        sink.push(Finding::new(
            Kind::BadPartition,
            &f.rel,
            format!("a data file {where_}, not inside a YYYY/MM/DD/HH partition folder; read all the same"),
        ));
        if version == Version::V3 && f.name == FileName::Other {
            sink.push(Finding::new(
                Kind::BadFileName,
                &f.rel,
                "v3 file name is not {contract}_{tick_type}_{epoch seconds}",
            ));
        }
    }
    if f.wrong_family {
        let (is, belongs) = if f.ext.json {
            (".jsonl", ".pb")
        } else {
            (".pb", ".jsonl")
        };
        sink.push(
            Finding::new(
                Kind::FormatMismatch,
                &f.rel,
                format!("a file named {is} in the {} folder, where {belongs} files belong: the recorder's readers of that folder skip it", f.base),
            )
            .severity(crate::report::Severity::Warning),
        );
    }
    let Some(hour) = f.hour else { return };
    if hour < HOUR * 24 * 366 {
        sink.push(Finding::new(Kind::BadPartition, &f.rel, "partition in 1970: a record time was probably written in seconds instead of µs (spec §2.3)"));
    }
    match (&f.name, f.layout) {
        (FileName::V3 { t, .. }, _) if version == Version::V3 => {
            let want = t - t.rem_euclid(HOUR);
            if want != hour {
                sink.push(Finding::new(
                    Kind::BadPartition,
                    &f.rel,
                    format!(
                        "file name time {t} belongs in folder {}, not {}",
                        time::hour_folder(want),
                        time::hour_folder(hour)
                    ),
                ));
            }
        }
        (_, Layout::V3) => sink.push(Finding::new(
            Kind::BadFileName,
            &f.rel,
            "v3 file name is not {contract}_{tick_type}_{epoch seconds}",
        )),
        _ => {}
    }
}

/// Picks the record format: the layout's, corrected by the content (JSON
/// version sniffing; protobuf byte-order heuristic of spec §7.1).
fn choose_format(f: &DataFile, head: &[u8], sink: &mut Sink) -> Option<Format> {
    let expected = f.layout_format();
    let head = &head[..head.len().min(SNIFF_BYTES)];
    let sniffed = Format::sniff(f.ext.json, head);
    if sniffed.is_none() {
        // The content is the other family (protobuf under a `.jsonl` name,
        // JSON Lines under `.pb`): read it as what it is.
        if let Some(s) = Format::sniff(!f.ext.json, head) {
            let named = if f.ext.json { "JSON Lines" } else { "protobuf" };
            sink.push(
                Finding::new(
                    Kind::FormatMismatch,
                    &f.rel,
                    format!("the name says {named}, but the content is {s}; read as {s} (rename the file)"),
                )
                .severity(crate::report::Severity::Warning),
            );
            return Some(s);
        }
    }
    match (expected, sniffed) {
        (Some(e), Some(s)) if e != s => {
            sink.push(Finding::new(
                Kind::FormatMismatch,
                &f.rel,
                format!(
                    "the {} layout implies {e}, but the content is {s}; read as {s}",
                    f.layout.name()
                ),
            ));
            Some(s)
        }
        (Some(e), _) => Some(e),
        (None, s) => s,
    }
}

/// Bytes at the start of a file that content sniffing looks at.
const SNIFF_BYTES: usize = 1 << 20;
