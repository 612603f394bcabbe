//! Opening a data file as bytes (memory-mapped, or zstd-decompressed) and
//! the framing output shared by every format: [`Piece`]s with byte offsets.

use super::Compression;
use memmap2::Mmap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Largest decompressed size accepted for one `.zst` file.
pub const MAX_DECOMPRESSED: u64 = 4 << 30;

/// Framing damage found while splitting a file into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// An empty or whitespace-only line.
    Blank {
        /// Byte offset.
        offset: u64,
        /// Length including the terminator.
        len: u64,
        /// 1-based line number.
        index: u64,
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
            Piece::Blank { offset, len, index } => format!("blank@{offset}+{len}#{index}"),
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

/// A file's (decompressed) bytes.
#[derive(Debug)]
pub enum FileBytes {
    /// Memory-mapped plain file.
    Mapped(Mmap),
    /// Decompressed in memory, or empty.
    Owned(Vec<u8>),
}

/// Why a file's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Open/read/map failed.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// The zstd stream is corrupt or truncated.
    #[error("zstd stream does not decompress after {decoded} bytes: {source}")]
    Zstd {
        /// Decompressed bytes produced before the failure.
        decoded: u64,
        /// The decoder's error.
        source: io::Error,
    },
    /// Decompressed data beyond [`MAX_DECOMPRESSED`].
    #[error("decompresses to more than {MAX_DECOMPRESSED} bytes")]
    TooLarge,
}

/// Decompresses a zstd stream (from a file, or bytes already read), up to
/// [`MAX_DECOMPRESSED`] bytes.
pub fn decompress(src: impl Read) -> Result<Vec<u8>, OpenError> {
    let mut out = Vec::new();
    let dec = zstd::stream::read::Decoder::new(src)?;
    let mut limited = dec.take(MAX_DECOMPRESSED + 1);
    if let Err(source) = limited.read_to_end(&mut out) {
        return Err(OpenError::Zstd {
            decoded: out.len() as u64,
            source,
        });
    }
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(OpenError::TooLarge);
    }
    Ok(out)
}

impl FileBytes {
    /// Opens `path`. Plain files are mapped read-only; `.zst` files are
    /// decompressed into memory.
    ///
    /// Mapping is sound as long as no other process truncates the file while
    /// it is mapped; the recorder only appends, and ibstore itself never
    /// rewrites a file in place (it writes a new file and renames it).
    pub fn open(path: &Path, compression: Compression) -> Result<Self, OpenError> {
        let file = File::open(path)?;
        match compression {
            Compression::None => {
                if file.metadata()?.len() == 0 {
                    return Ok(Self::Owned(Vec::new()));
                }
                // SAFETY: read-only shared mapping of a file that ibstore never
                // truncates or writes in place; see the doc comment above.
                let map = unsafe { Mmap::map(&file)? };
                Ok(Self::Mapped(map))
            }
            Compression::Zstd => decompress(file).map(Self::Owned),
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Owned(v) => v,
        }
    }

    /// Drops the pages of `start..end` of a mapping from this process's
    /// resident set (a part of a file validated in parallel).
    pub fn release_range(&self, start: usize, end: usize) {
        if let Self::Mapped(m) = self {
            let page = 4096;
            let (s, e) = (start.div_ceil(page) * page, end / page * page);
            if e > s {
                // SAFETY: MADV_DONTNEED on a read-only shared file mapping only
                // drops our page-table entries; later reads fault the same file
                // contents back in, so slices into the range stay valid and
                // keep their contents (the file is not modified in place).
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, s, e - s)
                };
            }
        }
    }

    /// Drops already-processed pages of a mapping from this process's
    /// resident set, so memory does not grow with file size.
    pub fn release(&self, upto: usize) {
        self.release_range(0, upto);
    }
}
