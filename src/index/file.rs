//! The on-disk shape of ibstore's index files: a sealed container (magic,
//! version, body length, CRC-32 of the body) around a little-endian body.
//! A per-file sparse time index ([`FileIndex`]) holds one [`Entry`] about
//! every [`STRIDE`] bytes of records plus what the file was when indexed.
//! Anything that does not open cleanly is [`Corrupt`]: never trusted.

use crate::format::{Compression, Format};
use crate::store::layout::Layout;

/// Magic of a per-file index.
pub const INDEX_MAGIC: [u8; 8] = *b"IBSIDX\0\0";
/// Magic of the store catalog.
pub const CATALOG_MAGIC: [u8; 8] = *b"IBSCAT\0\0";
/// Container version (2: ctime and inode of the data file, the streams
/// its records hold, a binary catalog with folder change stamps (ctime); version 1 files
/// are stale and rebuilt).
pub const VERSION: u32 = 2;
/// Most distinct (contract, tick type) pairs an index lists; a file with
/// more lists none and says so ([`FileIndex::streams_all`]).
pub const MAX_STREAMS: usize = 1024;
/// Bytes of records between two index entries (about).
pub const STRIDE: u64 = 4096;
const HEADER: usize = 8 + 4 + 8 + 4;

/// Why an index file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corrupt {
    /// Shorter than its header or its stated body.
    Truncated,
    /// Cannot be read (permissions, I/O error, a folder in its place).
    Unreadable(String),
    /// Not an ibstore index (wrong magic).
    Foreign,
    /// Written by another version of the format.
    Version(u32),
    /// The body's CRC-32 does not match.
    Checksum,
    /// The body does not decode or contradicts itself.
    Body(&'static str),
}

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated"),
            Self::Unreadable(why) => write!(f, "cannot be read: {why}"),
            Self::Foreign => f.write_str("not an ibstore index (wrong magic)"),
            Self::Version(v) => write!(f, "format version {v}, expected {VERSION}"),
            Self::Checksum => f.write_str("body checksum mismatch"),
            Self::Body(why) => write!(f, "malformed body: {why}"),
        }
    }
}

/// Wraps `body` in a sealed container.
pub fn seal(magic: [u8; 8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&magic);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crate::fsutil::crc32(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// The body of a sealed container, checked.
pub fn open(magic: [u8; 8], bytes: &[u8]) -> Result<&[u8], Corrupt> {
    if bytes.len() < 8 || bytes[..8] != magic {
        return Err(if bytes.len() < 8 && magic.starts_with(bytes) {
            Corrupt::Truncated
        } else {
            Corrupt::Foreign
        });
    }
    if bytes.len() < HEADER {
        return Err(Corrupt::Truncated);
    }
    let mut r = Reader(&bytes[8..HEADER]);
    let version = r.u32().ok_or(Corrupt::Truncated)?;
    if version != VERSION {
        return Err(Corrupt::Version(version));
    }
    let len = r.u64().ok_or(Corrupt::Truncated)?;
    let crc = r.u32().ok_or(Corrupt::Truncated)?;
    let body = &bytes[HEADER..];
    if (body.len() as u64) < len {
        return Err(Corrupt::Truncated);
    }
    if body.len() as u64 > len {
        return Err(Corrupt::Body("bytes after the body"));
    }
    if crate::fsutil::crc32(body) != crc {
        return Err(Corrupt::Checksum);
    }
    Ok(body)
}

/// One sample: the record at `offset` (the `record`-th, 1-based) has `ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Event time, µs.
    pub ts: i64,
    /// Byte offset (decompressed for `.zst`).
    pub offset: u64,
    /// Line or frame number.
    pub record: u64,
}

/// What one data file was when it was indexed, and its sparse time index.
#[derive(Debug, Clone, PartialEq)]
pub struct FileIndex {
    /// The data file's key ([`crate::fsutil::rel_key`]).
    pub key: String,
    /// Layout era.
    pub layout: Layout,
    /// Record format found (none: no tick data).
    pub format: Option<Format>,
    /// Compression.
    pub compression: Compression,
    /// Contract id and tick type the name promises.
    pub contract: Option<i64>,
    /// Tick type the name promises.
    pub tick_type: Option<crate::TickType>,
    /// Partition hour, epoch seconds.
    pub hour: Option<i64>,
    /// Size on disk when indexed.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, ns since the epoch: no user call sets it, so an
    /// unchanged size, mtime, ctime and inode mean unchanged bytes.
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// CRC-32 of the indexed bytes on disk (the whole file as it was).
    pub crc32: u32,
    /// (Decompressed) bytes read.
    pub decoded_bytes: u64,
    /// End of the last complete record.
    pub complete_end: u64,
    /// Good records.
    pub records: u64,
    /// Earliest ts.
    pub first_ts: Option<i64>,
    /// Latest ts.
    pub last_ts: Option<i64>,
    /// Records in (ts, st) order.
    pub sorted: bool,
    /// The file ended in an incomplete record or is in the current hour:
    /// the recorder may still be appending; indexed up to `complete_end`.
    pub appending: bool,
    /// Findings of the scan, by severity: errors, warnings, infos.
    pub tally: [u64; 3],
    /// Silences longer than the default maximum gap inside the file.
    pub gaps: u64,
    /// Same-second repeats (records equal to their predecessor but for `st`).
    pub repeats: u64,
    /// Distinct (contract id, tick type) of the records (a record's cid 0
    /// counted as the name's contract), sorted; empty with
    /// [`Self::streams_all`] when there were more than [`MAX_STREAMS`].
    pub streams: Vec<(i64, crate::TickType)>,
    /// Too many streams to list: the file may hold any.
    pub streams_all: bool,
    /// Samples, in file order.
    pub entries: Vec<Entry>,
}

/// Little-endian body writer.
pub(crate) struct Writer(pub(crate) Vec<u8>);
impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn opt(&mut self, v: Option<i64>) {
        self.u8(u8::from(v.is_some()));
        self.i64(v.unwrap_or(0));
    }
    pub(crate) fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Little-endian body reader (`None`: cut short).
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);
impl Reader<'_> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }
    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.u64().map(|v| v as i64)
    }
    pub(crate) fn opt(&mut self) -> Option<Option<i64>> {
        let some = self.u8()?;
        let v = self.i64()?;
        match some {
            0 => Some(None),
            1 => Some(Some(v)),
            _ => None,
        }
    }
    pub(crate) fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

const LAYOUTS: [Layout; 5] = [
    Layout::LegacyV2,
    Layout::V2,
    Layout::V3,
    Layout::Converter,
    Layout::Unplaced,
];

fn code<T: PartialEq>(all: &[T], v: &T) -> u8 {
    all.iter().position(|x| x == v).map_or(255, |i| i as u8)
}

impl FileIndex {
    /// The sealed bytes of this index.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(128 + self.entries.len() * 24));
        w.str(&self.key);
        w.u8(code(&LAYOUTS, &self.layout));
        w.u8(self.format.map_or(255, |f| code(&Format::ALL, &f)));
        w.u8(u8::from(self.compression == Compression::Zstd));
        w.opt(self.contract);
        w.u8(self
            .tick_type
            .map_or(255, |t| code(&crate::TickType::ALL, &t)));
        w.opt(self.hour);
        w.u64(self.size);
        w.i64(self.mtime_ns);
        w.i64(self.ctime_ns);
        w.u64(self.ino);
        w.u32(self.crc32);
        w.u64(self.decoded_bytes);
        w.u64(self.complete_end);
        w.u64(self.records);
        w.opt(self.first_ts);
        w.opt(self.last_ts);
        w.u8(u8::from(self.sorted) | u8::from(self.appending) << 1);
        for t in self.tally {
            w.u64(t);
        }
        w.u64(self.gaps);
        w.u64(self.repeats);
        w.u8(u8::from(self.streams_all));
        w.u32(self.streams.len() as u32);
        for (c, t) in &self.streams {
            w.i64(*c);
            w.u8(code(&crate::TickType::ALL, t));
        }
        w.u64(self.entries.len() as u64);
        for e in &self.entries {
            w.i64(e.ts);
            w.u64(e.offset);
            w.u64(e.record);
        }
        seal(INDEX_MAGIC, &w.0)
    }

    /// Reads and checks an index file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Corrupt> {
        let body = open(INDEX_MAGIC, bytes)?;
        let bad = Corrupt::Body("field out of range or cut short");
        let mut r = Reader(body);
        let mut parse = || -> Option<Self> {
            let key = r.str()?;
            let layout = *LAYOUTS.get(r.u8()? as usize)?;
            let format = match r.u8()? {
                255 => None,
                i => Some(*Format::ALL.get(i as usize)?),
            };
            let compression = match r.u8()? {
                0 => Compression::None,
                1 => Compression::Zstd,
                _ => return None,
            };
            let contract = r.opt()?;
            let tick_type = match r.u8()? {
                255 => None,
                i => Some(*crate::TickType::ALL.get(i as usize)?),
            };
            let hour = r.opt()?;
            let size = r.u64()?;
            let mtime_ns = r.i64()?;
            let ctime_ns = r.i64()?;
            let ino = r.u64()?;
            let crc32 = r.u32()?;
            let decoded_bytes = r.u64()?;
            let complete_end = r.u64()?;
            let records = r.u64()?;
            let first_ts = r.opt()?;
            let last_ts = r.opt()?;
            let flags = r.u8()?;
            let tally = [r.u64()?, r.u64()?, r.u64()?];
            let gaps = r.u64()?;
            let repeats = r.u64()?;
            let streams_all = match r.u8()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let ns = r.u32()? as usize;
            if ns > MAX_STREAMS {
                return None;
            }
            let mut streams = Vec::with_capacity(ns);
            for _ in 0..ns {
                let c = r.i64()?;
                streams.push((c, *crate::TickType::ALL.get(r.u8()? as usize)?));
            }
            let n = r.u64()?;
            if n > (r.0.len() / 24) as u64 {
                return None;
            }
            let mut entries = Vec::with_capacity(n as usize);
            for _ in 0..n {
                entries.push(Entry {
                    ts: r.i64()?,
                    offset: r.u64()?,
                    record: r.u64()?,
                });
            }
            Some(Self {
                key,
                layout,
                format,
                compression,
                contract,
                tick_type,
                hour,
                size,
                mtime_ns,
                ctime_ns,
                ino,
                crc32,
                decoded_bytes,
                complete_end,
                records,
                first_ts,
                last_ts,
                sorted: flags & 1 != 0,
                appending: flags & 2 != 0,
                tally,
                gaps,
                repeats,
                streams,
                streams_all,
                entries,
            })
        };
        let ix = parse().ok_or(bad)?;
        if !r.0.is_empty() {
            return Err(Corrupt::Body("bytes after the entries"));
        }
        ix.consistent()?;
        Ok(ix)
    }

    /// Whether the entries agree with each other and with the totals.
    fn consistent(&self) -> Result<(), Corrupt> {
        if self.entries.len() as u64 > self.records {
            return Err(Corrupt::Body("more entries than records"));
        }
        if self.streams.windows(2).any(|w| w[0] >= w[1])
            || (self.streams_all && !self.streams.is_empty())
        {
            return Err(Corrupt::Body("streams out of order"));
        }
        if self.complete_end > self.decoded_bytes {
            return Err(Corrupt::Body("records end after the data"));
        }
        for w in self.entries.windows(2) {
            if w[1].offset <= w[0].offset || w[1].record <= w[0].record {
                return Err(Corrupt::Body("entries out of file order"));
            }
            if self.sorted && w[1].ts < w[0].ts {
                return Err(Corrupt::Body("entries out of time order in a sorted file"));
            }
        }
        for e in &self.entries {
            if e.offset >= self.complete_end
                || self.first_ts.is_none_or(|f| e.ts < f)
                || self.last_ts.is_none_or(|l| e.ts > l)
            {
                return Err(Corrupt::Body("an entry outside the file's records"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FileIndex {
        FileIndex {
            key: "v3/json/2025/08/01/00/1_bid_ask_1754006400.jsonl".into(),
            layout: Layout::V3,
            format: Some(Format::V3Json),
            compression: Compression::None,
            contract: Some(1),
            tick_type: Some(crate::TickType::BidAsk),
            hour: Some(1_754_006_400),
            size: 9000,
            mtime_ns: 5,
            ctime_ns: 6,
            ino: 8,
            crc32: 7,
            decoded_bytes: 9000,
            complete_end: 9000,
            records: 90,
            first_ts: Some(10),
            last_ts: Some(20),
            sorted: true,
            appending: false,
            tally: [0, 1, 2],
            gaps: 3,
            repeats: 4,
            streams: vec![(1, crate::TickType::BidAsk)],
            streams_all: false,
            entries: vec![
                Entry {
                    ts: 10,
                    offset: 0,
                    record: 1,
                },
                Entry {
                    ts: 15,
                    offset: 4100,
                    record: 41,
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_every_flipped_byte_is_refused() {
        let ix = sample();
        let b = ix.to_bytes();
        assert_eq!(FileIndex::from_bytes(&b), Ok(ix));
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x20;
            assert!(FileIndex::from_bytes(&c).is_err(), "byte {i}");
        }
        for n in 0..b.len() {
            assert!(FileIndex::from_bytes(&b[..n]).is_err(), "cut at {n}");
        }
        let mut v = b.clone();
        v[8] = 1;
        assert_eq!(FileIndex::from_bytes(&v), Err(Corrupt::Version(1)));
        assert_eq!(
            FileIndex::from_bytes(b"hello world, I am a log file"),
            Err(Corrupt::Foreign)
        );
    }

    #[test]
    fn self_contradicting_entries_are_refused() {
        let mut ix = sample();
        ix.entries[1].ts = 5;
        assert!(FileIndex::from_bytes(&ix.to_bytes()).is_err());
        let mut ix = sample();
        ix.entries[1].offset = 0;
        assert!(FileIndex::from_bytes(&ix.to_bytes()).is_err());
    }
}
