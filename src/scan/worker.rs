//! What the scan does with each piece of a file: decode records, run the
//! record checks, feed continuity, and keep the typed facts (bad byte ranges,
//! records that belong elsewhere) that repair and the later commands act on.

use super::continuity::{Entry, Sequence};
use super::record::{self, At, Stray};
use super::sink::Sink;
use super::{Good, Loc, ScanOptions, Span, StrayRun, Visit};
use crate::format::json::JsonErrorKind;
use crate::format::piece::{Damage, Piece};
use crate::format::{Decoded, Format, Note, RecordError};
use crate::report::{Finding, Kind, Severity};
use crate::store::layout::DataFile;

/// The scan state of one file (or one part of a file scanned in parallel).
pub(super) struct Worker<'a, S, V> {
    pub file: &'a DataFile,
    pub format: Format,
    pub opts: &'a ScanOptions,
    pub records: u64,
    pub sink: Sink,
    pub seq: S,
    pub visit: V,
    pub spans: Vec<Span>,
    pub strays: Vec<StrayRun>,
    pub unterminated: Option<Loc>,
    pub crlf: u64,
    /// The record being decoded (reused: the hot path copies no record).
    decoded: Decoded,
    /// What the file's name and folder promise, worked out once.
    expect: record::Expect,
}

impl<'a, S: Sequence, V: Visit> Worker<'a, S, V> {
    pub fn new(
        file: &'a DataFile,
        format: Format,
        opts: &'a ScanOptions,
        seq: S,
        visit: V,
    ) -> Self {
        Self {
            file,
            format,
            opts,
            records: 0,
            sink: Sink::with_cap(opts.max_per_kind),
            seq,
            visit,
            spans: Vec::new(),
            strays: Vec::new(),
            unterminated: None,
            crlf: 0,
            decoded: Decoded::default(),
            expect: record::Expect::of(file, format.version()),
        }
    }

    /// Takes one piece of the file.
    pub fn piece(&mut self, p: Piece<'_>) {
        let rel = self.file.rel.as_str();
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
                match self.format.decode_into(bytes, &mut self.decoded) {
                    Ok(()) => {
                        let d = &self.decoded;
                        self.records += 1;
                        if crlf {
                            self.crlf += 1;
                            self.sink.push(
                                Finding::new(Kind::Crlf, rel, "line ends in CRLF")
                                    .at(offset, Some(index)),
                            );
                        }
                        if !terminated {
                            self.unterminated = Some(Loc { offset, len, index });
                            self.sink.push(Finding::new(Kind::MissingNewline, rel, "last line has no newline: the record decodes, but the write may have been cut").at(offset, Some(index)).len(len));
                        }
                        let sink = &mut self.sink;
                        if self.opts.record_checks {
                            let stray = record::check_expecting(
                                &self.expect,
                                &d.tick,
                                d.notes,
                                self.file,
                                self.format.version(),
                                at,
                                &mut |f| sink.push(f),
                            );
                            if let Some(s) = stray {
                                push_stray(&mut self.strays, offset, len, index, s);
                            }
                        }
                        if d.notes.has(Note::UnknownKey) {
                            let what = self
                                .format
                                .unknown_key(bytes)
                                .map_or_else(String::new, |k| format!(": {k}"));
                            self.sink.push(
                                Finding::new(
                                    Kind::UnknownKey,
                                    rel,
                                    format!("record has a key or field the format does not define{what}"),
                                )
                                .at(offset, Some(index))
                                .len(len),
                            );
                        }
                        if self.opts.record_checks {
                            let sink = &mut self.sink;
                            self.seq.record(
                                Entry::of(&d.tick, offset, index),
                                self.opts.max_gap_us,
                                rel,
                                &mut |f| sink.push(f),
                            );
                        }
                        self.visit.record(&Good {
                            offset,
                            len,
                            index,
                            bytes,
                            tick: &d.tick,
                            extras: d.extras,
                        });
                    }
                    Err(e) if !terminated => {
                        self.span(offset, len, Some(index), Kind::TruncatedTail, 1);
                        self.sink.push(Finding::new(Kind::TruncatedTail, rel, format!("last line is cut short ({len} dangling bytes without a newline): {e}")).at(offset, Some(index)).len(len));
                    }
                    Err(RecordError::OtherMessage) => {
                        // The recorder's readers skip it: no damage (a
                        // warning), but no tick either (repair moves it out).
                        self.span(offset, len, Some(index), Kind::NotTickRecord, 1);
                        self.sink.push(
                            record_error(&RecordError::OtherMessage, self.format, at)
                                .severity(Severity::Warning),
                        );
                    }
                    Err(e) => {
                        let f = record_error(&e, self.format, at);
                        self.span(offset, len, Some(index), f.kind, 1);
                        self.sink.push(f);
                    }
                }
            }
            Piece::Blank {
                offset,
                len,
                index,
                lines,
            } => {
                let mut f = Finding::new(Kind::BlankLine, rel, "blank line")
                    .at(offset, Some(index))
                    .len(len);
                f.count = lines;
                self.sink.push(f);
            }
            Piece::Damage {
                offset,
                len,
                index,
                kind,
            } => {
                let (k, msg) = damage_finding(kind, len);
                self.span(offset, len, index, k, u64::from(kind == Damage::Overlong));
                self.sink
                    .push(Finding::new(k, rel, msg).at(offset, index).len(len));
            }
        }
    }

    /// Records a bad byte range, merged with the previous one when adjacent
    /// and of the same kind.
    fn span(&mut self, offset: u64, len: u64, index: Option<u64>, kind: Kind, records: u64) {
        if let Some(last) = self.spans.last_mut() {
            if last.kind == kind && last.offset + last.len == offset {
                last.len += len;
                last.records += records;
                return;
            }
        }
        self.spans.push(Span {
            offset,
            len,
            index,
            kind,
            records,
        });
    }
}

/// Records a record that belongs elsewhere, merged into a run with the
/// previous one when adjacent and going to the same place.
fn push_stray(strays: &mut Vec<StrayRun>, offset: u64, len: u64, index: u64, stray: Stray) {
    if let Some(last) = strays.last_mut() {
        if last.stray == stray && last.offset + last.len == offset {
            last.len += len;
            last.records += 1;
            return;
        }
    }
    strays.push(StrayRun {
        offset,
        len,
        index,
        records: 1,
        stray,
    });
}

/// The finding kind and message of a framing damage piece.
fn damage_finding(kind: Damage, len: u64) -> (Kind, String) {
    match kind {
        Damage::NulRun => (
            Kind::NulRun,
            format!("{len} bytes of a line up to and including a NUL run (zero-filled blocks)"),
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
            format!("partial frame: the length prefix promises more than the {len} bytes left"),
        ),
        Damage::BadPrefix => (
            Kind::BadPrefix,
            format!("corrupt length prefix: {len} bytes skipped before the next valid frame"),
        ),
        Damage::Unframed => (
            Kind::Unframed,
            format!("corrupt length prefix: no valid frame follows in the last {len} bytes"),
        ),
        Damage::Overlong => (
            Kind::OverlongLine,
            format!(
                "a line of {len} bytes, longer than any record ({} bytes at most); not parsed",
                crate::format::lines::MAX_LINE
            ),
        ),
    }
}

/// The finding for a record that does not decode.
fn record_error(e: &RecordError, format: Format, at: At<'_>) -> Finding {
    let kind = match e {
        RecordError::Json(j) if j.kind == JsonErrorKind::Utf8 => Kind::InvalidUtf8,
        RecordError::Json(_) => Kind::InvalidJson,
        RecordError::Wire(_) => Kind::InvalidProtobuf,
        RecordError::MissingField(_) => Kind::MissingField,
        RecordError::WrongType { .. } => Kind::WrongType,
        RecordError::BadValue { .. } => Kind::InvalidValue,
        RecordError::UnknownTickType(_) => Kind::UnknownTickType,
        RecordError::NotObject | RecordError::OtherMessage => Kind::NotTickRecord,
    };
    let stop = if format == Format::V2Pb && kind != Kind::NotTickRecord {
        " (the recorder's v2 protobuf reader stops at this frame: it cannot read the rest of the file until it is repaired)"
    } else {
        ""
    };
    Finding::new(kind, at.file, format!("{e}{stop}"))
        .at(at.offset, Some(at.index))
        .len(at.len)
}
