//! What framing yields: a file split into [`Piece`]s in file order, each
//! with its byte offset, length and 1-based line or frame number. Records
//! are handed on for decoding; everything else is typed [`Damage`] or a run
//! of blank lines.

/// Framing damage found while splitting a file into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Damage {
    /// A run of NUL bytes inside a line (zero-filled blocks).
    NulRun,
    /// NUL bytes up to the end of the file.
    TrailingNul,
    /// Fewer than 4 bytes left for a length prefix at the end of the file.
    PartialPrefix,
    /// A length prefix whose body runs past the end of the file.
    PartialBody,
    /// A corrupt length prefix (or corrupt bytes) before a resynchronisation point.
    BadPrefix,
    /// Bytes after a corrupt prefix from which no valid frame chain resumes.
    Unframed,
    /// A line longer than [`super::lines::MAX_LINE`] bytes: not a record of any
    /// IB-Stream writer, skipped without being held in memory.
    Overlong,
}

impl Damage {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::NulRun => "nul_run",
            Self::TrailingNul => "trailing_nul",
            Self::PartialPrefix => "partial_prefix",
            Self::PartialBody => "partial_body",
            Self::BadPrefix => "bad_prefix",
            Self::Unframed => "unframed",
            Self::Overlong => "overlong_line",
        }
    }
}

/// One unit of a framed file, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A record's bytes: a line without its terminator, or a frame body.
    Record {
        /// Byte offset of the record (line start, or frame prefix start).
        offset: u64,
        /// Bytes it occupies in the file, terminator or prefix included.
        len: u64,
        /// 1-based line or frame number.
        index: u64,
        /// The record bytes to decode.
        bytes: &'a [u8],
        /// JSONL only: the line ended in `\r\n`.
        crlf: bool,
        /// JSONL only: false for a last line without `\n`.
        terminated: bool,
    },
    /// A run of empty or whitespace-only lines.
    Blank {
        /// Byte offset of the first.
        offset: u64,
        /// Length of the run, terminators included.
        len: u64,
        /// 1-based line number of the first.
        index: u64,
        /// Number of lines in the run.
        lines: u64,
    },
    /// Bytes that are not records.
    Damage {
        /// Byte offset.
        offset: u64,
        /// Number of bytes affected.
        len: u64,
        /// Line or frame number where it applies.
        index: Option<u64>,
        /// What it is.
        kind: Damage,
    },
}

impl Piece<'_> {
    /// Byte offset and length.
    pub fn span(&self) -> (u64, u64) {
        match *self {
            Piece::Record { offset, len, .. }
            | Piece::Blank { offset, len, .. }
            | Piece::Damage { offset, len, .. } => (offset, len),
        }
    }

    /// Compact text form, for tests and debugging.
    pub fn describe(&self) -> String {
        match *self {
            Piece::Record {
                offset,
                len,
                index,
                bytes,
                crlf,
                terminated,
            } => format!(
                "record@{offset}+{len}#{index} {}{}{}",
                String::from_utf8_lossy(bytes),
                if crlf { " crlf" } else { "" },
                if terminated { "" } else { " unterminated" }
            ),
            Piece::Blank {
                offset,
                len,
                index,
                lines: 1,
            } => format!("blank@{offset}+{len}#{index}"),
            Piece::Blank {
                offset,
                len,
                index,
                lines,
            } => format!("blank@{offset}+{len}#{index}x{lines}"),
            Piece::Damage {
                offset,
                len,
                index: Some(i),
                kind,
            } => format!("{}@{offset}+{len}#{i}", kind.name()),
            Piece::Damage {
                offset,
                len,
                index: None,
                kind,
            } => format!("{}@{offset}+{len}", kind.name()),
        }
    }
}
