//! Validation of one data file: a pure, single-threaded function from a
//! classified file to its report. The parallel driver only maps it.

use super::continuity::{Continuity, Deferred, Sequence};
use super::record::{self, At};
use super::sink::Sink;
use super::Options;
use crate::format::frames::{self, ByteOrder};
use crate::format::json::JsonErrorKind;
use crate::format::reader::{Damage, FileBytes, Piece};
use crate::format::{lines, sniff_json_version, Format, RecordError};
use crate::report::{Finding, Kind, Severity};
use crate::store::layout::{DataFile, Layout};
use crate::store::naming::FileName;
use crate::time::{self, HOUR};
use rayon::prelude::*;
use std::path::Path;

/// Bytes at the start of a file that content sniffing looks at.
const SNIFF_BYTES: usize = 64 << 10;
/// Release mapped pages after this many bytes, to bound resident memory.
const RELEASE_EVERY: u64 = 16 << 20;

/// What validating one file found.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub file: DataFile,
    /// The record format it was read as (none if it holds no tick data).
    pub format: Option<Format>,
    /// Records that decoded.
    pub records: u64,
    /// Earliest ts.
    pub first_ts: Option<i64>,
    /// Latest ts.
    pub last_ts: Option<i64>,
    /// Gaps longer than the maximum inside the file.
    pub gaps: u64,
    /// Findings, in file order per kind.
    pub findings: Vec<Finding>,
    /// Bytes of the (decompressed) content that was read.
    pub decoded_bytes: u64,
}

/// Validates one file. `abs` is its path on disk.
pub fn validate_file(abs: &Path, file: DataFile, opts: &Options) -> FileReport {
    let mut rep = FileReport {
        file,
        format: None,
        records: 0,
        first_ts: None,
        last_ts: None,
        gaps: 0,
        findings: Vec::new(),
        decoded_bytes: 0,
    };
    let rel = rep.file.rel.clone();
    let mut sink = Sink::with_cap(opts.max_per_kind);
    if rep.file.size == 0 {
        file_checks(
            &rep.file,
            rep.file.layout_format().is_some_and(Format::is_v3),
            &mut sink,
        );
        rep.format = rep.file.layout_format();
        let f = Finding::new(Kind::EmptyFile, &rel, "file is empty (0 bytes)")
            .at(0, None)
            .len(0);
        return ended(rep, sink, f);
    }
    let bytes = match FileBytes::open(abs, rep.file.ext.compression) {
        Ok(b) => b,
        Err(e) => {
            let kind = if matches!(e, crate::format::reader::OpenError::Io(_)) {
                Kind::Unreadable
            } else {
                Kind::Compression
            };
            return ended(rep, sink, Finding::new(kind, &rel, e.to_string()));
        }
    };
    let buf = bytes.bytes();
    rep.decoded_bytes = buf.len() as u64;
    if buf.is_empty() {
        let f = Finding::new(Kind::EmptyFile, &rel, "file decompresses to 0 bytes")
            .at(0, None)
            .len(0);
        return ended(rep, sink, f);
    }
    let Some(format) = choose_format(&rep.file, buf, &mut sink) else {
        return ended(
            rep,
            sink,
            Finding::new(
                Kind::NotTickData,
                &rel,
                "file holds no IB-Stream tick records (not v2 or v3 JSON/protobuf); skipped",
            ),
        );
    };
    rep.format = Some(format);
    if format.is_v3() {
        // v3 records under a v2-era folder (a converter target `{root}/json`)
        // still carry v3 names: read the name as v3 when it is one.
        if let Some(n) = FileName::parse_v3(&rep.file.stem) {
            rep.file.name = n;
        }
    }
    file_checks(&rep.file, format.is_v3(), &mut sink);
    let mut cont = Continuity::default();
    let mut released = 0u64;
    let chunks = if format.is_json() && rayon::current_num_threads() > 1 {
        chunk_bounds(buf, opts.split_bytes)
    } else {
        Vec::new()
    };
    if chunks.len() > 1 {
        validate_chunks(
            buf,
            &bytes,
            &chunks,
            format,
            &rep.file,
            opts,
            &mut cont,
            &mut rep.records,
            &mut sink,
        );
    } else {
        let mut on_piece = |p: Piece<'_>| {
            let end = piece(
                p,
                format,
                &rep.file,
                opts,
                &mut cont,
                &mut rep.records,
                &mut sink,
            );
            if end >= released + RELEASE_EVERY {
                bytes.release(end as usize);
                released = end;
            }
        };
        format.walk(buf, &mut on_piece);
    }
    rep.first_ts = cont.min_ts;
    rep.last_ts = cont.max_ts();
    rep.gaps = cont.gaps;
    let locate = |ordinal: usize| -> Option<(u64, u64)> {
        let mut n = 0usize;
        let mut found = None;
        format.walk(buf, |p| {
            if let (
                None,
                Piece::Record {
                    offset,
                    index,
                    bytes,
                    ..
                },
            ) = (found, p)
            {
                if format.decode(bytes).is_ok() {
                    if n == ordinal {
                        found = Some((offset, index));
                    }
                    n += 1;
                }
            }
        });
        found
    };
    cont.finish(&rel, locate, &mut |f| sink.push(f));
    if rep.records == 0 && rep.file.layout == Layout::Unplaced && !sink.has(Kind::TruncatedTail) {
        let mut s = Sink::default();
        s.push(Finding::new(
            Kind::NotTickData,
            &rel,
            "file holds no decodable tick records; skipped",
        ));
        rep.findings = s.finish(&rel);
        return rep;
    }
    rep.findings = sink.finish(&rel);
    rep
}

/// Splits a JSONL buffer into parts of about `size` bytes that end after a
/// newline (none when the buffer is not larger than `size`).
fn chunk_bounds(buf: &[u8], size: u64) -> Vec<(usize, usize)> {
    let size = size.max(1) as usize;
    if buf.len() <= size {
        return Vec::new();
    }
    let mut ends = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        let nominal = start + size;
        let end = if nominal >= buf.len() {
            buf.len()
        } else {
            memchr::memchr(b'\n', &buf[nominal..]).map_or(buf.len(), |i| nominal + i + 1)
        };
        ends.push((start, end));
        start = end;
    }
    ends
}

/// Decodes and checks the parts of a large JSONL file in parallel, a wave of
/// one part per thread at a time (so memory stays bounded), then replays time
/// continuity over the wave's records in file order.
#[allow(clippy::too_many_arguments)]
fn validate_chunks(
    buf: &[u8],
    bytes: &FileBytes,
    chunks: &[(usize, usize)],
    format: Format,
    file: &DataFile,
    opts: &Options,
    cont: &mut Continuity,
    records: &mut u64,
    sink: &mut Sink,
) {
    let rel = file.rel.as_str();
    let mut lines_before = 0u64;
    for wave in chunks.chunks(rayon::current_num_threads()) {
        let counts: Vec<u64> = wave
            .par_iter()
            .map(|&(s, e)| memchr::memchr_iter(b'\n', &buf[s..e]).count() as u64)
            .collect();
        let mut bases = Vec::with_capacity(wave.len());
        for n in &counts {
            bases.push(lines_before);
            lines_before += n;
        }
        let parts: Vec<(Sink, Deferred, u64)> = wave
            .par_iter()
            .zip(bases)
            .map(|(&(s, e), base)| {
                let mut part_sink = Sink::with_cap(opts.max_per_kind);
                let mut seq = Deferred::default();
                let mut n = 0u64;
                lines::walk_from(&buf[s..e], s as u64, base, |p| {
                    piece(p, format, file, opts, &mut seq, &mut n, &mut part_sink);
                });
                bytes.release_range(s, e);
                (part_sink, seq, n)
            })
            .collect();
        for (part_sink, seq, n) in parts {
            *records += n;
            for (ts, key, offset, index) in seq.0 {
                cont.push_raw(ts, key, offset, index, opts.max_gap_us, rel, &mut |f| {
                    sink.push(f)
                });
            }
            sink.absorb(part_sink);
        }
    }
}

/// Ends a file's validation early with one last finding.
fn ended(mut rep: FileReport, mut sink: Sink, last: Finding) -> FileReport {
    sink.push(last);
    rep.findings = sink.finish(&rep.file.rel);
    rep
}

fn order_of(format: Format) -> ByteOrder {
    if format.is_v3() {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    }
}

/// File-level checks of name and partition.
fn file_checks(f: &DataFile, v3: bool, sink: &mut Sink) {
    let Some(hour) = f.hour else { return };
    if hour < HOUR * 24 * 366 {
        sink.push(Finding::new(Kind::BadPartition, &f.rel, "partition in 1970: a record time was probably written in seconds instead of µs (spec §2.3)"));
    }
    match (&f.name, f.layout) {
        (FileName::V3 { t, .. }, _) if v3 => {
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
fn choose_format(f: &DataFile, buf: &[u8], sink: &mut Sink) -> Option<Format> {
    let expected = f.layout_format();
    let sniffed = if f.ext.json {
        sniff_json(buf)
    } else {
        sniff_pb(buf)
    };
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

fn sniff_json(buf: &[u8]) -> Option<Format> {
    let mut found = None;
    let mut seen = 0;
    lines::walk(&buf[..buf.len().min(SNIFF_BYTES)], |p| {
        if let (None, Piece::Record { bytes, .. }) = (found, p) {
            if seen < 8 {
                seen += 1;
                found =
                    sniff_json_version(bytes)
                        .map(|v3| if v3 { Format::V3Json } else { Format::V2Json });
            }
        }
    });
    found
}

fn sniff_pb(buf: &[u8]) -> Option<Format> {
    [Format::V3Pb, Format::V2Pb].into_iter().find(|&fmt| {
        let mut ok = false;
        let mut first = true;
        frames::walk(
            &buf[..buf.len().min(1 << 20)],
            order_of(fmt),
            |_| false,
            |p| {
                if let (true, Piece::Record { bytes, .. }) = (first, p) {
                    ok = fmt.decode(bytes).is_ok();
                }
                first = false;
            },
        );
        ok
    })
}

#[allow(clippy::too_many_arguments)]
fn piece(
    p: Piece<'_>,
    format: Format,
    file: &DataFile,
    opts: &Options,
    cont: &mut impl Sequence,
    records: &mut u64,
    sink: &mut Sink,
) -> u64 {
    let rel = file.rel.as_str();
    match p {
        Piece::Record {
            offset,
            len,
            index,
            bytes,
            crlf,
            terminated,
        } => {
            let at = At {
                file: rel,
                offset,
                index,
                len,
            };
            match format.decode(bytes) {
                Ok(d) => {
                    *records += 1;
                    if crlf {
                        sink.push(
                            Finding::new(Kind::Crlf, rel, "line ends in CRLF")
                                .at(offset, Some(index)),
                        );
                    }
                    if !terminated {
                        sink.push(Finding::new(Kind::MissingNewline, rel, "last line has no newline: the record decodes, but the write may have been cut").at(offset, Some(index)).len(len));
                    }
                    record::check(&d.tick, d.notes, file, format.is_v3(), at, &mut |f| {
                        sink.push(f)
                    });
                    cont.record(&d.tick, offset, index, opts.max_gap_us, rel, &mut |f| {
                        sink.push(f)
                    });
                }
                Err(e) if !terminated => {
                    sink.push(Finding::new(Kind::TruncatedTail, rel, format!("last line is cut short ({len} dangling bytes without a newline): {e}")).at(offset, Some(index)).len(len));
                }
                Err(e) => sink.push(record_error(&e, format, at, len)),
            }
            offset + len
        }
        Piece::Blank { offset, len, index } => {
            sink.push(
                Finding::new(Kind::BlankLine, rel, "blank line")
                    .at(offset, Some(index))
                    .len(len),
            );
            offset + len
        }
        Piece::Damage {
            offset,
            len,
            index,
            kind,
        } => {
            let (k, msg) = match kind {
                Damage::NulRun => (
                    Kind::NulRun,
                    format!(
                        "{len} bytes of a line up to and including a NUL run (zero-filled blocks)"
                    ),
                ),
                Damage::TrailingNul => (
                    Kind::TrailingNul,
                    format!("{len} NUL bytes at the end of the file"),
                ),
                Damage::PartialPrefix => (
                    Kind::TruncatedTail,
                    format!("partial length prefix: {len} dangling bytes at the end of the file"),
                ),
                Damage::PartialBody => (
                    Kind::TruncatedTail,
                    format!(
                        "partial frame: the length prefix promises more than the {len} bytes left"
                    ),
                ),
                Damage::BadPrefix => (
                    Kind::BadPrefix,
                    format!(
                        "corrupt length prefix: {len} bytes skipped before the next valid frame"
                    ),
                ),
                Damage::Unframed => (
                    Kind::Unframed,
                    format!(
                        "corrupt length prefix: no valid frame follows in the last {len} bytes"
                    ),
                ),
            };
            sink.push(Finding::new(k, rel, msg).at(offset, index).len(len));
            offset + len
        }
    }
}

fn record_error(e: &RecordError, format: Format, at: At<'_>, len: u64) -> Finding {
    let kind = match e {
        RecordError::Json(j) if j.kind == JsonErrorKind::Utf8 => Kind::InvalidUtf8,
        RecordError::Json(_) => Kind::InvalidJson,
        RecordError::Wire(_) => Kind::InvalidProtobuf,
        RecordError::MissingField(_) => Kind::MissingField,
        RecordError::WrongType { .. } => Kind::WrongType,
        RecordError::BadValue { .. } => Kind::InvalidValue,
        RecordError::UnknownTickType(_) => Kind::UnknownTickType,
        RecordError::NotTick(_) => Kind::NotTickRecord,
    };
    let what = if format.is_json() { "line" } else { "frame" };
    let f = Finding::new(kind, at.file, format!("{what} {}: {e}", at.index))
        .at(at.offset, Some(at.index))
        .len(len);
    if matches!(e, RecordError::NotTick(why) if why.contains("message type")) {
        f.severity(Severity::Warning)
    } else {
        f
    }
}
