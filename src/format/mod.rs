//! The four on-disk record formats (v2/v3 × JSONL/protobuf), their framing,
//! and the single dispatch from a format to its codec.
//!
//! Every codec decodes one record's bytes into the canonical [`Tick`] and
//! encodes a [`Tick`] back; framing (lines or length prefixes) is separate
//! and shared, so every command reads through the same code.

pub mod frames;
pub mod json;
pub mod lines;
pub mod piece;
pub mod source;
pub mod v2_json;
pub mod v2_pb;
pub mod v2_side;
pub mod v3_fast;
pub mod v3_json;
pub mod v3_pb;
pub mod zeros;

use crate::tick::Tick;
use std::fmt;
use std::path::Path;

/// The record version: the v2 envelope or the flat v3 record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// `{type, stream_id, timestamp, data, metadata}` / `StreamMessage`.
    V2,
    /// `{ts, st, cid, tt, rid, …}` / `TickMessage`.
    V3,
}

impl Version {
    /// The format of this version in the JSON or protobuf family.
    pub fn format(self, json: bool) -> Format {
        match (self, json) {
            (Self::V2, true) => Format::V2Json,
            (Self::V2, false) => Format::V2Pb,
            (Self::V3, true) => Format::V3Json,
            (Self::V3, false) => Format::V3Pb,
        }
    }
}

/// A record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// v2 envelope, JSON Lines.
    V2Json,
    /// v2 envelope, little-endian length-prefixed protobuf.
    V2Pb,
    /// v3 flat record, JSON Lines.
    V3Json,
    /// v3 flat record, big-endian length-prefixed protobuf.
    V3Pb,
}

impl Format {
    /// All formats.
    pub const ALL: [Format; 4] = [Self::V2Json, Self::V2Pb, Self::V3Json, Self::V3Pb];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::V2Json => "v2-json",
            Self::V2Pb => "v2-pb",
            Self::V3Json => "v3-json",
            Self::V3Pb => "v3-pb",
        }
    }

    /// Parses [`Format::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Whether records are JSON lines (else length-prefixed protobuf).
    pub fn is_json(self) -> bool {
        matches!(self, Self::V2Json | Self::V3Json)
    }

    /// Whether this is a v3 format.
    pub fn is_v3(self) -> bool {
        self.version() == Version::V3
    }

    /// The record version.
    pub fn version(self) -> Version {
        match self {
            Self::V2Json | Self::V2Pb => Version::V2,
            Self::V3Json | Self::V3Pb => Version::V3,
        }
    }

    /// The same version in the other encoding family.
    pub fn with_json(self, json: bool) -> Self {
        self.version().format(json)
    }

    /// File extension without compression (`jsonl` or `pb`).
    pub fn extension(self) -> &'static str {
        if self.is_json() {
            "jsonl"
        } else {
            "pb"
        }
    }

    /// Folder name of the family (`json` or `protobuf`).
    pub fn family_dir(self) -> &'static str {
        if self.is_json() {
            "json"
        } else {
            "protobuf"
        }
    }

    /// [`Format::decode`] into a caller's record, so the hot path copies no
    /// result (its contents are unspecified after an error).
    #[inline]
    pub fn decode_into(self, bytes: &[u8], out: &mut Decoded) -> Result<(), RecordError> {
        match self {
            Self::V3Json => v3_json::decode_into(bytes, out),
            Self::V3Pb => v3_pb::decode_into(bytes, out),
            Self::V2Json => v2_json::decode(bytes).map(|d| *out = d),
            Self::V2Pb => v2_pb::decode(bytes).map(|d| *out = d),
        }
    }

    /// Decodes one record (a line without its terminator, or a frame body).
    pub fn decode(self, bytes: &[u8]) -> Result<Decoded, RecordError> {
        match self {
            Self::V2Json => v2_json::decode(bytes),
            Self::V2Pb => v2_pb::decode(bytes),
            Self::V3Json => v3_json::decode(bytes),
            Self::V3Pb => v3_pb::decode(bytes),
        }
    }

    /// A streaming splitter for this format's framing (lines, or length
    /// prefixes in this version's byte order).
    pub fn framer(self) -> Framer {
        match self {
            Self::V2Json | Self::V3Json => Framer::Lines(lines::Lines::default()),
            Self::V2Pb => Framer::Frames(frames::Frames::new(frames::ByteOrder::Little), self),
            Self::V3Pb => Framer::Frames(frames::Frames::new(frames::ByteOrder::Big), self),
        }
    }

    /// Splits a whole buffer into records with this format's framing,
    /// calling `sink` for every piece in file order. Bodies are not decoded,
    /// except to find a resynchronisation point after a corrupt length prefix.
    pub fn walk(self, buf: &[u8], mut sink: impl FnMut(piece::Piece<'_>)) {
        self.framer().feed(buf, 0, true, &mut sink);
    }

    /// Names the first key (JSON) or field number (protobuf) of a record
    /// that the format does not define, for a message; `None` if there is none.
    pub fn unknown_key(self, bytes: &[u8]) -> Option<String> {
        const V3_KEYS: [&[u8]; 15] = [
            b"ts", b"st", b"cid", b"tt", b"rid", b"p", b"s", b"bp", b"bs", b"ap", b"as", b"mp",
            b"bpl", b"aph", b"upt",
        ];
        match self {
            Self::V3Json => {
                let mut sc = json::Scanner::new(bytes);
                if !sc.at_object() {
                    return None;
                }
                let mut found = None;
                let _ = sc.object(|s, k| -> Result<(), json::JsonError> {
                    if found.is_none() && !V3_KEYS.contains(&k) {
                        found = Some(format!("\"{}\"", String::from_utf8_lossy(k)));
                    }
                    s.value().map(|_| ())
                });
                found
            }
            Self::V3Pb => {
                let mut pos = 0;
                while pos < bytes.len() {
                    let key = v3_pb::varint(bytes, &mut pos).ok()?;
                    let field = key >> 3;
                    if !matches!(field, 1..=5 | 10..=16 | 20..=22) {
                        return Some(format!("field number {field}"));
                    }
                    v3_pb::skip(bytes, &mut pos, key & 7).ok()?;
                }
                None
            }
            Self::V2Json | Self::V2Pb => None,
        }
    }

    /// Decodes every record of `buf`: `(offset, result)` in file order.
    /// Framing damage is skipped; use [`Format::walk`] to see it.
    pub fn decode_all(self, buf: &[u8]) -> Vec<(u64, Result<Decoded, RecordError>)> {
        let mut out = Vec::new();
        self.walk(buf, |p| {
            if let piece::Piece::Record { offset, bytes, .. } = p {
                out.push((offset, self.decode(bytes)));
            }
        });
        out
    }

    /// Sniffs the record format of a file's first bytes: JSON lines by their
    /// keys (v3 `ts`, v2 `stream_id`/`data`), protobuf by which byte order
    /// gives a first frame that decodes (spec §7.1). `None` when neither.
    pub fn sniff(json: bool, head: &[u8]) -> Option<Self> {
        if json {
            head.split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .take(8)
                .find_map(sniff_json_version)
        } else {
            // The first frame must decode in the format's byte order.
            [Self::V3Pb, Self::V2Pb].into_iter().find(|&fmt| {
                let Some(p) = head.get(..4) else {
                    return false;
                };
                let p = [p[0], p[1], p[2], p[3]];
                let n = if fmt == Self::V3Pb {
                    u32::from_be_bytes(p)
                } else {
                    u32::from_le_bytes(p)
                } as usize;
                n > 0
                    && n <= frames::MAX_FRAME
                    && head
                        .get(4..4 + n)
                        .is_some_and(|body| fmt.decode(body).is_ok())
            })
        }
    }

    /// Appends one encoded record, including its framing, to `out`.
    pub fn encode(self, tick: &Tick, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::V2Json => v2_json::encode(tick, out)?,
            Self::V2Pb => {
                frames::write_frame(frames::ByteOrder::Little, &v2_pb::encode(tick)?, out)
            }
            Self::V3Json => v3_json::encode(tick, out)?,
            Self::V3Pb => frames::write_frame(frames::ByteOrder::Big, &v3_pb::encode(tick)?, out),
        }
        Ok(())
    }
}

/// A streaming splitter of one format's framing (see [`lines::Lines::feed`]).
#[derive(Debug)]
pub enum Framer {
    /// JSON Lines.
    Lines(lines::Lines),
    /// Length-prefixed frames of this format.
    Frames(frames::Frames, Format),
}

impl Framer {
    /// Splits `buf` (at file offset `base`); returns the bytes consumed.
    pub fn feed(
        &mut self,
        buf: &[u8],
        base: u64,
        eof: bool,
        sink: &mut impl FnMut(piece::Piece<'_>),
    ) -> usize {
        match self {
            Self::Lines(l) => l.feed(buf, base, eof, sink),
            Self::Frames(f, format) => {
                let format = *format;
                f.feed(buf, base, eof, &|b| format.decode(b).is_ok(), sink)
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whole-file compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// A zstd stream (`.zst` suffix).
    Zstd,
}

/// A data file's extension, read from its name: the encoding family and
/// compression. The version (v2/v3) comes from the layout or the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// JSON Lines (else protobuf).
    pub json: bool,
    /// Compression.
    pub compression: Compression,
}

impl Extension {
    /// Recognises `.jsonl`, `.pb`, `.jsonl.zst`, `.pb.zst` (whatever the
    /// rest of the name holds, UTF-8 or not).
    pub fn from_path(p: &Path) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt as _;
        let name = p.file_name()?.as_bytes();
        let (stem, compression) = match name.strip_suffix(b".zst") {
            Some(s) => (s, Compression::Zstd),
            None => (name, Compression::None),
        };
        if stem.ends_with(b".jsonl") {
            Some(Self {
                json: true,
                compression,
            })
        } else if stem.ends_with(b".pb") {
            Some(Self {
                json: false,
                compression,
            })
        } else {
            None
        }
    }

    /// File name stem without the data extensions.
    pub fn stem(name: &str) -> &str {
        let name = name.strip_suffix(".zst").unwrap_or(name);
        name.strip_suffix(".jsonl")
            .or_else(|| name.strip_suffix(".pb"))
            .unwrap_or(name)
    }
}

/// A successfully decoded record plus oddities noticed on the way.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Decoded {
    /// The record.
    pub tick: Tick,
    /// Bit set of [`Note`]s.
    pub notes: Notes,
    /// v2 JSON: the v2 data no v3 field carries (for convert's loss
    /// count); empty from the other decoders.
    pub extras: v2_side::Extras,
}

/// Oddities a codec notices in an otherwise valid record. They are not
/// corruption; the validator turns them into low-severity findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notes(u32);

/// One oddity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Note {
    /// A key or field the format does not define.
    UnknownKey = 1,
    /// An integer field written as an integral float.
    FloatInteger = 2,
    /// The tick type written in IB's PascalCase (`Last`, `AllLast`).
    PascalTickType = 4,
    /// v2: no `unix_time`; the event time is the envelope time.
    NoEventTime = 8,
    /// v2: `unix_time` in microseconds rather than seconds.
    MicrosUnixTime = 16,
    /// v2: envelope timestamp with the malformed `+00:00Z` suffix.
    OffsetZ = 32,
    /// A flag given as `0`, `1` or `null` instead of a boolean.
    NonBoolFlag = 64,
    /// v2: contract id or tick type taken from `data`, not `metadata`.
    IdsFromData = 128,
    /// v2-PB: the record carries no IB time at all (envelope time only).
    EnvelopeTimeOnly = 256,
}

impl Notes {
    /// Adds a note.
    pub fn add(&mut self, n: Note) {
        self.0 |= n as u32;
    }
    /// Whether a note is present.
    pub fn has(self, n: Note) -> bool {
        self.0 & n as u32 != 0
    }
}

/// Why one record could not be decoded into a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordError {
    /// Invalid JSON grammar at a byte position within the record.
    Json(json::JsonError),
    /// Protobuf wire data that does not parse.
    Wire(&'static str),
    /// A required field is absent.
    MissingField(&'static str),
    /// A field holds the wrong JSON/wire type.
    WrongType {
        /// The field.
        field: &'static str,
        /// What was found.
        found: &'static str,
    },
    /// A field holds a value outside its domain (not an integer, bad time…).
    BadValue {
        /// The field.
        field: &'static str,
        /// Why.
        why: &'static str,
    },
    /// A tick type outside the known set.
    UnknownTickType(String),
    /// A JSON line that is not an object.
    NotObject,
    /// A well-formed v2 message of another type than `tick` (`error`,
    /// `info`, `complete`): the recorder's readers skip it.
    OtherMessage,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(e) => match e.kind {
                json::JsonErrorKind::Syntax => write!(f, "invalid JSON at column {}", e.pos + 1),
                json::JsonErrorKind::Utf8 => write!(f, "invalid UTF-8 at column {}", e.pos + 1),
                json::JsonErrorKind::TooDeep => {
                    write!(
                        f,
                        "JSON nested deeper than {} levels at column {}",
                        json::MAX_DEPTH,
                        e.pos + 1
                    )
                }
            },
            Self::Wire(why) => write!(f, "protobuf does not decode: {why}"),
            Self::MissingField(k) => write!(f, "required field `{k}` is missing"),
            Self::WrongType { field, found } => write!(f, "field `{field}` holds a {found}"),
            Self::BadValue { field, why } => write!(f, "field `{field}` {why}"),
            Self::UnknownTickType(t) => write!(f, "unknown tick type {t:?}"),
            Self::NotObject => f.write_str("not a tick record: the line is not a JSON object"),
            Self::OtherMessage => f.write_str(
                "not a tick record: the v2 message type is not \"tick\" (the recorder's readers skip it)",
            ),
        }
    }
}

impl From<json::JsonError> for RecordError {
    fn from(e: json::JsonError) -> Self {
        Self::Json(e)
    }
}

/// A tick that cannot be represented in the target format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot encode tick: {0}")]
pub struct EncodeError(pub &'static str);

/// The error for a line that does not start with `{`: its JSON error if it
/// is not valid JSON (e.g. nested too deep), else "not a tick record".
pub(crate) fn not_an_object(line: &[u8]) -> RecordError {
    let mut sc = json::Scanner::new(line);
    match sc.value().and_then(|_| sc.finish()) {
        Err(e) => RecordError::Json(e),
        Ok(()) => RecordError::NotObject,
    }
}

/// Sniffs the record version of a JSON line: v3 (`ts` key), a v2 envelope
/// (`stream_id`/`data`), or `None` if neither.
pub fn sniff_json_version(line: &[u8]) -> Option<Format> {
    let mut sc = json::Scanner::new(line);
    if !sc.at_object() {
        return None;
    }
    let mut v3 = false;
    let mut v2 = false;
    let r: Result<(), json::JsonError> = sc.object(|s, k| {
        match k {
            b"ts" => v3 = true,
            b"stream_id" | b"data" => v2 = true,
            _ => {}
        }
        s.value().map(|_| ())
    });
    match (r, v3, v2) {
        (Ok(()), true, false) => Some(Format::V3Json),
        (Ok(()), false, true) => Some(Format::V2Json),
        _ => None,
    }
}
