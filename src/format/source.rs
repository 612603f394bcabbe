//! Reading a data file: one open handle, read in windows into a reused
//! buffer (plain files by positional reads, `.zst` files through a streaming
//! decoder), so memory never follows a file's size and a file that another
//! process truncates mid-run is a finding rather than a `SIGBUS`.
//!
//! A plain file is read up to its size when it was opened: bytes the
//! recorder appends meanwhile belong to the next run. A file that shrinks
//! under the reader ends early and says so ([`ReadError::Shrank`]).

use super::Compression;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::Path;
use std::time::SystemTime;

/// Default largest decompressed size read from one `.zst` file (far beyond
/// any real hour file; a decompression bomb stops here with a finding).
pub const MAX_DECOMPRESSED: u64 = 64 << 30;

/// Bytes read per window.
pub const WINDOW: usize = 1 << 20;

/// What a file was when it was opened: enough to tell later whether it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Size on disk.
    pub size: u64,
    /// Modification time.
    pub mtime: Option<SystemTime>,
    /// Device and inode: the same path may later name another file.
    pub dev_ino: (u64, u64),
}

impl Stat {
    /// Reads the identity of an open file.
    pub fn of(file: &File) -> io::Result<Self> {
        let m = file.metadata()?;
        Ok(Self {
            size: m.len(),
            mtime: m.modified().ok(),
            dev_ino: (m.dev(), m.ino()),
        })
    }

    /// The same for a path, without following a final symbolic link.
    pub fn of_path(path: &Path) -> io::Result<Self> {
        let m = std::fs::symlink_metadata(path)?;
        Ok(Self {
            size: m.len(),
            mtime: m.modified().ok(),
            dev_ino: (m.dev(), m.ino()),
        })
    }
}

/// Why a file's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Open or read failed.
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
    /// More decompressed data than the limit.
    #[error("decompresses to more than {limit} bytes; read stopped there")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The file became shorter than it was when opened.
    #[error("the file shrank from {was} to {now} bytes while it was read (truncated by another process); read stopped at byte {now}")]
    Shrank {
        /// Size when opened.
        was: u64,
        /// Bytes that could be read.
        now: u64,
    },
}

/// A CRC-32 of every byte that passes through.
#[derive(Debug)]
struct Crc<R> {
    inner: R,
    crc: Option<crc32fast::Hasher>,
}

impl<R: Read> Read for Crc<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.crc {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Reads a file from a position of its own with positional reads, so
/// several readers share one handle without disturbing each other.
#[derive(Debug)]
struct At<'f> {
    file: &'f File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let take = buf.len().min(left);
        let n = self.file.read_at(&mut buf[..take], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// An owned handle read the same way (the zstd decoder keeps its reader).
#[derive(Debug)]
struct OwnedAt {
    file: File,
    pos: u64,
}

impl Read for OwnedAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

enum Inner {
    Plain,
    Parked,
    Zstd(Box<zstd::stream::read::Decoder<'static, BufReader<Crc<OwnedAt>>>>),
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Inner::Plain => "Plain",
            Inner::Parked => "Parked",
            Inner::Zstd(_) => "Zstd",
        })
    }
}

/// An open data file, read front to back in windows (and again, from the
/// same handle, by [`Source::rewind`]).
#[derive(Debug)]
pub struct Source {
    file: File,
    stat: Stat,
    compression: Compression,
    inner: Inner,
    /// (Decompressed) bytes handed out so far.
    pos: u64,
    limit: u64,
    crc: Option<crc32fast::Hasher>,
    done: bool,
    problem: Option<ReadError>,
    parked_crc: Option<u32>,
}

impl Source {
    /// Opens `path` for reading. `crc` asks for a CRC-32 of the bytes on disk
    /// ([`Source::crc32`], once read to the end).
    pub fn open(path: &Path, compression: Compression, crc: bool) -> Result<Self, ReadError> {
        trace_open(path);
        let file = File::open(path)?;
        let stat = Stat::of(&file)?;
        let mut s = Self {
            file,
            stat,
            compression,
            inner: Inner::Plain,
            pos: 0,
            limit: MAX_DECOMPRESSED,
            crc: crc.then(crc32fast::Hasher::new),
            done: false,
            problem: None,
            parked_crc: None,
        };
        s.start()?;
        Ok(s)
    }

    /// Lowers the decompressed-size limit (tests).
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }

    fn start(&mut self) -> Result<(), ReadError> {
        self.pos = 0;
        self.done = false;
        self.problem = None;
        if self.compression == Compression::Zstd {
            let crc = Crc {
                inner: OwnedAt {
                    file: self.file.try_clone()?,
                    pos: 0,
                },
                crc: self.crc.is_some().then(crc32fast::Hasher::new),
            };
            let dec = zstd::stream::read::Decoder::with_buffer(BufReader::new(crc))?;
            self.inner = Inner::Zstd(Box::new(dec));
        } else if let Some(h) = &mut self.crc {
            *h = crc32fast::Hasher::new();
        }
        Ok(())
    }

    /// Frees the decoder's buffers of a file kept open for later
    /// (a [`Source::rewind`] starts it again).
    pub fn park(&mut self) {
        if let Inner::Zstd(_) = self.inner {
            if let Some(crc) = self.crc32() {
                self.parked_crc = Some(crc);
            }
            self.inner = Inner::Parked;
        }
    }

    /// Starts reading again from the first byte, on the same handle.
    pub fn rewind(&mut self) -> Result<(), ReadError> {
        self.start()
    }

    /// The file as it was when opened.
    pub fn stat(&self) -> &Stat {
        &self.stat
    }

    /// The open handle (positional reads of plain files, in parallel parts).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Whether the file is zstd-compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// (Decompressed) bytes read so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether the end was reached.
    pub fn at_end(&self) -> bool {
        self.done
    }

    /// CRC-32 of the on-disk bytes, once the whole file was read with `crc`.
    pub fn crc32(&self) -> Option<u32> {
        if !self.done || self.problem.is_some() {
            return None;
        }
        match &self.inner {
            Inner::Plain => self.crc.clone().map(crc32fast::Hasher::finalize),
            Inner::Parked => self.parked_crc,
            Inner::Zstd(d) => d.get_ref().get_ref().crc.clone().map(|h| h.finalize()),
        }
    }

    /// Reads up to `out.len()` more bytes into `out`; returns how many (0 at
    /// the end). A read that fails part-way hands out the bytes it got and
    /// ends the file; [`Source::problem`] then says why.
    pub fn read_slice(&mut self, out: &mut [u8]) -> usize {
        if self.done {
            return 0;
        }
        let (n, problem) = self.fill(out);
        let plain_end = matches!(self.inner, Inner::Plain) && self.pos >= self.stat.size;
        if problem.is_some() || n == 0 || plain_end {
            self.done = true;
            self.problem = problem;
        }
        n
    }

    /// Appends up to `want` more bytes to `buf`; returns how many.
    pub fn read_into(&mut self, buf: &mut Vec<u8>, want: usize) -> usize {
        let old = buf.len();
        buf.resize(old + want, 0);
        let n = self.read_slice(&mut buf[old..]);
        buf.truncate(old + n);
        n
    }

    /// Why reading ended before the end of the file, if it did.
    pub fn problem(&self) -> Option<&ReadError> {
        self.problem.as_ref()
    }

    fn fill(&mut self, out: &mut [u8]) -> (usize, Option<ReadError>) {
        match &mut self.inner {
            Inner::Parked => (0, None),
            Inner::Plain => {
                let left = self.stat.size - self.pos;
                let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let mut got = 0;
                let mut err = None;
                while got < want {
                    match self
                        .file
                        .read_at(&mut out[got..want], self.pos + got as u64)
                    {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            err = Some(e.into());
                            break;
                        }
                    }
                }
                if let Some(h) = &mut self.crc {
                    h.update(&out[..got]);
                }
                self.pos += got as u64;
                test_hook_shrink(&self.file, self.pos);
                if err.is_none() && got < want {
                    err = Some(ReadError::Shrank {
                        was: self.stat.size,
                        now: self.pos,
                    });
                }
                (got, err)
            }
            Inner::Zstd(dec) => {
                let mut got = 0;
                let mut err = None;
                while got < out.len() {
                    match dec.read(&mut out[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(source) => {
                            // A stream cut short because the file shrank
                            // under the reader is a change, not corruption.
                            let now = self.file.metadata().map_or(self.stat.size, |m| m.len());
                            err = Some(if now < self.stat.size {
                                ReadError::Shrank {
                                    was: self.stat.size,
                                    now,
                                }
                            } else {
                                ReadError::Zstd {
                                    decoded: self.pos + got as u64,
                                    source,
                                }
                            });
                            break;
                        }
                    }
                }
                test_hook_shrink(&self.file, self.pos + got as u64);
                if err.is_none() && self.pos + got as u64 > self.limit {
                    got = (self.limit - self.pos.min(self.limit)) as usize;
                    err = Some(ReadError::TooLarge { limit: self.limit });
                }
                self.pos += got as u64;
                (got, err)
            }
        }
    }

    /// Reads bytes `start..end` of a plain file with positional reads (the
    /// handle is shared by parallel parts; the window position is untouched).
    pub fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>, ReadError> {
        let mut out = vec![0u8; usize::try_from(end - start).unwrap_or(usize::MAX)];
        let mut got = 0;
        while got < out.len() {
            match self.file.read_at(&mut out[got..], start + got as u64) {
                Ok(0) => {
                    return Err(ReadError::Shrank {
                        was: self.stat.size,
                        now: start + got as u64,
                    })
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        test_hook_shrink(&self.file, end);
        Ok(out)
    }

    /// Records the end of a read done by [`Source::read_range`] parts: the
    /// bytes read, their CRC, and why it stopped early if it did.
    pub fn finish_external(
        &mut self,
        pos: u64,
        crc: Option<crc32fast::Hasher>,
        problem: Option<ReadError>,
    ) {
        self.pos = pos;
        self.done = true;
        if crc.is_some() {
            self.crc = crc;
        }
        self.problem = problem;
    }

    /// Copies the file's bytes on disk (compressed as they are), as they were
    /// when it was opened, into `w`; returns their CRC-32.
    pub fn copy_disk(&self, w: &mut impl Write) -> io::Result<u32> {
        let mut r = Crc {
            inner: At {
                file: &self.file,
                pos: 0,
                end: self.stat.size,
            },
            crc: Some(crc32fast::Hasher::new()),
        };
        let n = io::copy(&mut r, w)?;
        if n < self.stat.size {
            return Err(io::Error::other(format!(
                "the file shrank from {} to {n} bytes",
                self.stat.size
            )));
        }
        Ok(r.crc.map_or(0, crc32fast::Hasher::finalize))
    }

    /// The whole (decompressed) content from the first byte, without
    /// disturbing the window position.
    pub fn read_all_from_start(&self) -> Result<Vec<u8>, ReadError> {
        match self.compression {
            Compression::None => self.read_range(0, self.stat.size),
            Compression::Zstd => {
                let at = At {
                    file: &self.file,
                    pos: 0,
                    end: self.stat.size,
                };
                let dec = zstd::stream::read::Decoder::new(at)?;
                let mut out = Vec::new();
                dec.take(self.limit + 1)
                    .read_to_end(&mut out)
                    .map_err(|source| ReadError::Zstd {
                        decoded: out.len() as u64,
                        source,
                    })?;
                if out.len() as u64 > self.limit {
                    return Err(ReadError::TooLarge { limit: self.limit });
                }
                Ok(out)
            }
        }
    }

    /// Reads everything left (opt-in whole-file rewrites, small files).
    pub fn read_all(&mut self) -> Result<Vec<u8>, ReadError> {
        let mut buf = Vec::new();
        while self.read_into(&mut buf, WINDOW) > 0 {}
        match self.problem.take() {
            Some(e) => Err(e),
            None => Ok(buf),
        }
    }
}

/// A reading window over a [`Source`]: bytes not yet consumed stay at the
/// front, new bytes are read behind them into a buffer that is allocated
/// (and zeroed) once per thread and reused for every file, so a scan copies
/// nothing but the short carried tail.
#[derive(Debug)]
pub struct Window {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    base: u64,
}

thread_local! {
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Default for Window {
    fn default() -> Self {
        Self {
            buf: SPARE.with(std::cell::Cell::take),
            start: 0,
            end: 0,
            base: 0,
        }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // Keep a buffer of at most a few windows for the thread's next file.
        if self.buf.len() <= 4 * WINDOW {
            SPARE.with(|s| s.set(std::mem::take(&mut self.buf)));
        }
    }
}

impl Window {
    /// Reads up to [`WINDOW`] more bytes; returns how many (0 at the end).
    pub fn fill(&mut self, src: &mut Source) -> usize {
        // A small plain file needs no more than its size (+1 to see the end).
        let want = match src.inner {
            Inner::Plain => WINDOW
                .min(usize::try_from(src.stat.size.saturating_sub(src.pos)).unwrap_or(WINDOW) + 1),
            _ => WINDOW,
        };
        if self.buf.len() - self.end < want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < want {
                self.buf.resize(self.end + want, 0);
            }
        }
        let n = src.read_slice(&mut self.buf[self.end..self.end + want]);
        self.end += n;
        n
    }

    /// The bytes read and not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// File offset of the first byte of [`Window::data`].
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Marks the first `n` bytes of [`Window::data`] consumed.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        self.base += n as u64;
    }
}

/// Debug builds only: `IBSTORE_TRACE_OPENS=FILE` appends every data file
/// opened for reading to FILE, so a test can count opens per file.
fn trace_open(path: &Path) {
    if cfg!(debug_assertions) {
        if let Some(log) = std::env::var_os("IBSTORE_TRACE_OPENS") {
            use std::io::Write as _;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(log)
            {
                // One write per line: with O_APPEND, lines written by
                // parallel threads never interleave.
                let _ = f.write_all(format!("{}\n", path.display()).as_bytes());
            }
        }
    }
}

/// Debug builds only: `IBSTORE_TEST_SHRINK=N` truncates the file being read
/// to N bytes after its first window, as another process might.
fn test_hook_shrink(file: &File, pos: u64) {
    if cfg!(debug_assertions) {
        if let Some(n) = std::env::var("IBSTORE_TEST_SHRINK")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            if pos > n {
                if let Ok(w) = std::fs::OpenOptions::new().write(true).open(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(file)
                )) {
                    let _ = w.set_len(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_zstd_read_the_same_bytes_in_windows_with_a_crc() {
        let d = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let plain = d.path().join("a.pb");
        std::fs::write(&plain, &data).unwrap();
        let z = d.path().join("a.pb.zst");
        let zbytes = zstd::encode_all(data.as_slice(), 3).unwrap();
        std::fs::write(&z, &zbytes).unwrap();
        for (p, c, disk) in [
            (&plain, Compression::None, &data),
            (&z, Compression::Zstd, &zbytes),
        ] {
            let mut s = Source::open(p, c, true).unwrap();
            let mut buf = Vec::new();
            while s.read_into(&mut buf, 1000) > 0 {}
            assert!(s.problem().is_none());
            assert_eq!(buf, data);
            assert_eq!(s.crc32(), Some(crc32fast::hash(disk)));
            s.rewind().unwrap();
            assert_eq!(s.read_all().unwrap(), data);
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let z = d.path().join("b.jsonl.zst");
        std::fs::write(&z, zstd::encode_all(&vec![b'\n'; 1 << 20][..], 19).unwrap()).unwrap();
        let mut s = Source::open(&z, Compression::Zstd, false)
            .unwrap()
            .with_limit(1000);
        let mut buf = Vec::new();
        while s.read_into(&mut buf, 512) > 0 {}
        assert_eq!(buf.len(), 1000, "the bytes up to the limit are handed out");
        assert!(matches!(
            s.problem(),
            Some(ReadError::TooLarge { limit: 1000 })
        ));
    }
}
