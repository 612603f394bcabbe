//! Copies one file into a backup: a real copy (never a hard link: the
//! recorder appends to live files in place), through a durable temp file
//! beside the final name (fsynced; the caller renames it and fsyncs the
//! folders once all files are in). The source is read once, up to the size it had
//! when the copy began; a source that changed meanwhile (size or mtime) is
//! copied again, up to [`ATTEMPTS`] times, and the caller cuts a last copy
//! that still changed at its last complete record.

use crate::error::{Error, Result};
use crate::fsutil::Durable;
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Copies of a changing source before the last one is kept as it is.
pub const ATTEMPTS: u32 = 3;

/// What a copy did.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The temp file holding the copy (fsynced, not yet renamed).
    pub temp: PathBuf,
    /// Bytes copied.
    pub size: u64,
    /// CRC-32 of the bytes copied.
    pub crc32: u32,
    /// The source changed during at least one attempt.
    pub changed: bool,
    /// The source changed during the last attempt too (the copy is a
    /// prefix of a file still being written).
    pub still_changing: bool,
    /// The source's size after the last attempt.
    pub source_size: u64,
}

fn stamp(f: &File, path: &Path) -> Result<(u64, Option<std::time::SystemTime>)> {
    let m = f.metadata().map_err(|e| Error::path(path, e))?;
    Ok((m.len(), m.modified().ok()))
}

/// Copies `src` to a temp file beside `dst`; `between` runs after each
/// attempt's bytes are read (tests use it to append to the source).
pub fn copy_to_temp(src: &Path, dst: &Path, between: &dyn Fn(u32)) -> Result<Copied> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)
        .map_err(|e| Error::path(src, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut changed = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = stamp(&f, src)?;
        let out = Durable::temp_for(dst)?;
        let temp = out.path().to_owned();
        // A failed copy (a full disk…) leaves no temp file behind.
        let r = one(&f, src, out, before.0, &mut buf)
            .inspect_err(|_| drop(std::fs::remove_file(&temp)));
        let (temp, size, crc32, short) = r?;
        between(attempt);
        let after = stamp(&f, src)?;
        let moved = short || after != before;
        changed |= moved;
        if !moved || attempt == ATTEMPTS {
            return Ok(Copied {
                temp,
                size,
                crc32,
                changed,
                still_changing: moved,
                source_size: after.0,
            });
        }
    }
}

/// Copies `size` bytes of `f` into `out` and fsyncs it; the last field says
/// the source ended early (it shrank).
fn one(
    f: &File,
    src: &Path,
    mut out: Durable,
    size: u64,
    buf: &mut [u8],
) -> Result<(PathBuf, u64, u32, bool)> {
    {
        let mut left = size;
        let mut pos = 0u64;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = std::os::unix::fs::FileExt::read_at(f, &mut buf[..want], pos).map_err(
                |source| Error::Io {
                    path: src.to_owned(),
                    what: "read",
                    source,
                },
            )?;
            if n == 0 {
                break; // it shrank
            }
            out.write_all(&buf[..n]).map_err(|source| Error::Io {
                path: out.path().to_owned(),
                what: "write",
                source,
            })?;
            pos += n as u64;
            left -= n as u64;
        }
        let (temp, len, crc) = out.finish_file()?;
        Ok((temp, len, crc, left > 0))
    }
}
