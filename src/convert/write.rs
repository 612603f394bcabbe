//! Output files: records encoded once, into one reused byte buffer per
//! output file and part ([`Chunk`]), sorted by `(ts, st)` through an index
//! (the bytes never move), and written through [`fsutil`]: temp file,
//! fsync, rename, fsync folder.

use crate::error::{Error, Result};
use crate::format::v2_side::{self, V2Side};
use crate::format::{frames, EncodeError, Format};
use crate::fsutil::{self, Durable};
use crate::tick::Tick;
use std::path::Path;

/// One encoded record in a [`Chunk`].
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Event time.
    pub ts: i64,
    /// System time.
    pub st: i64,
    /// Offset in the chunk's bytes.
    pub start: u32,
    /// Length (framing included).
    pub len: u32,
}

/// Encoded records of one output file from one source part, in arrival order.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The records' bytes, back to back.
    pub bytes: Vec<u8>,
    /// Where each record lies.
    pub idx: Vec<Entry>,
}

impl Chunk {
    /// Encodes one record (already mapped to the target) at the end.
    #[inline]
    pub fn push(&mut self, t: &Tick, target: Format) -> Result<(), EncodeError> {
        self.push_side(t, target, None)
    }

    /// [`Chunk::push`] with the v2 extras of the source record, if any: a
    /// v2 target then writes them (see [`crate::format::v2_side`]).
    #[inline]
    pub fn push_side(
        &mut self,
        t: &Tick,
        target: Format,
        side: Option<&V2Side>,
    ) -> Result<(), EncodeError> {
        let start = self.bytes.len();
        match (target, side) {
            (Format::V2Json, Some(s)) => v2_side::encode_json(t, s, &mut self.bytes)?,
            (Format::V2Pb, Some(s)) => {
                let body = v2_side::encode_pb(t, s)?;
                frames::write_frame(frames::ByteOrder::Little, &body, &mut self.bytes);
            }
            _ => encode(t, target, &mut self.bytes)?,
        }
        self.index(t, start);
        Ok(())
    }

    /// Appends a record already in the target format as it is (`body`: a
    /// line without its terminator, or a frame body), framed.
    #[inline]
    pub fn push_raw(&mut self, t: &Tick, target: Format, body: &[u8]) {
        let start = self.bytes.len();
        match target {
            Format::V2Json | Format::V3Json => {
                self.bytes.extend_from_slice(body);
                self.bytes.push(b'\n');
            }
            Format::V2Pb => frames::write_frame(frames::ByteOrder::Little, body, &mut self.bytes),
            Format::V3Pb => frames::write_frame(frames::ByteOrder::Big, body, &mut self.bytes),
        }
        self.index(t, start);
    }

    #[inline]
    fn index(&mut self, t: &Tick, start: usize) {
        let len = self.bytes.len() - start;
        // A chunk stays below 4 GiB: callers start a new one before that.
        self.idx.push(Entry {
            ts: t.ts,
            st: t.st,
            start: start as u32,
            len: len as u32,
        });
    }

    /// Whether a chunk should be closed (its offsets must fit `u32`).
    pub fn full(&self) -> bool {
        self.bytes.len() > (u32::MAX as usize) - (1 << 20)
    }
}

/// Appends one framed record of `target` to `out`. v3 protobuf is encoded
/// directly into `out` (no allocation); the others go through the codec.
#[inline]
pub fn encode(t: &Tick, target: Format, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match target {
        Format::V3Pb => encode_v3_pb(t, out),
        _ => target.encode(t, out),
    }
}

/// A record's bytes built on the stack (a v3 record is at most 4 + 3×10 +
/// 2 + 9 + 6 + 7×10 + 3×3 bytes), copied out once.
struct Buf {
    b: [u8; 160],
    n: usize,
}

impl Buf {
    #[inline(always)]
    fn byte(&mut self, v: u8) {
        self.b[self.n] = v;
        self.n += 1;
    }
    #[inline(always)]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }
    #[inline(always)]
    fn bytes(&mut self, s: &[u8]) {
        self.b[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
    }
}

/// One v3 `TickMessage` with its big-endian length prefix, written the way
/// prost writes it (field order, proto3 defaults omitted, optional fields
/// when present), straight into `out`.
#[inline]
pub fn encode_v3_pb(t: &Tick, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let cid = i32::try_from(t.cid).map_err(|_| EncodeError("contract id does not fit v3 int32"))?;
    let rid = i32::try_from(t.rid).map_err(|_| EncodeError("request id does not fit v3 int32"))?;
    let mut b = Buf { b: [0; 160], n: 4 };
    if t.ts != 0 {
        b.byte(1 << 3);
        b.varint(t.ts as u64);
    }
    if t.st != 0 {
        b.byte(2 << 3);
        b.varint(t.st as u64);
    }
    if cid != 0 {
        b.byte(3 << 3);
        b.varint(i64::from(cid) as u64);
    }
    let tt = t.tt.as_str().as_bytes();
    b.byte(4 << 3 | 2);
    b.byte(tt.len() as u8);
    b.bytes(tt);
    if rid != 0 {
        b.byte(5 << 3);
        b.varint(i64::from(rid) as u64);
    }
    for (key, v) in [
        (10u8 << 3 | 1, t.p),
        (11 << 3 | 1, t.s),
        (12 << 3 | 1, t.bp),
        (13 << 3 | 1, t.bs),
        (14 << 3 | 1, t.ap),
        (15 << 3 | 1, t.as_),
    ] {
        if let Some(v) = v {
            b.byte(key);
            b.bytes(&v.to_le_bytes());
        }
    }
    if let Some(v) = t.mp {
        b.bytes(&[16 << 3 | 1 | 0x80, 1]);
        b.bytes(&v.to_le_bytes());
    }
    for (n, f) in [(20u8, t.bpl), (21, t.aph), (22, t.upt)] {
        if let Some(f) = f {
            b.bytes(&[(n << 3) | 0x80, 1, u8::from(f)]);
        }
    }
    let len = (b.n - 4) as u32;
    b.b[..4].copy_from_slice(&len.to_be_bytes());
    debug_assert!(len as usize <= frames::MAX_FRAME);
    out.extend_from_slice(&b.b[..b.n]);
    Ok(())
}

/// The records of `chunks` in `(ts, st)` order (stable: arrival order
/// among equals), as `(chunk, entry)` index pairs.
pub fn sorted(chunks: &[Chunk]) -> Vec<(u32, Entry)> {
    let mut all: Vec<(u32, Entry)> = chunks
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.idx.iter().map(move |e| (i as u32, *e)))
        .collect();
    if !all
        .windows(2)
        .all(|w| (w[0].1.ts, w[0].1.st) <= (w[1].1.ts, w[1].1.st))
    {
        all.sort_by_key(|(_, e)| (e.ts, e.st));
    }
    all
}

/// An output file written to its temp file, not yet synced or renamed.
#[derive(Debug)]
pub struct Pending {
    /// The open temp file.
    pub file: std::fs::File,
    /// The temp file's path.
    pub tmp: std::path::PathBuf,
    /// The final path.
    pub target: std::path::PathBuf,
    /// Size on disk.
    pub size: u64,
    /// CRC-32 of the bytes on disk.
    pub crc32: u32,
}

/// Writes the records of `chunks` in `(ts, st)` order (zstd at `level` when
/// given) to the temp file of `target`; [`commit_all`] makes it durable and
/// renames it into place. A failed write leaves no temp file.
pub fn write_temp(target: &Path, chunks: &[Chunk], zstd: Option<i32>) -> Result<Pending> {
    // One chunk already in order (the common case: one source file per
    // output) is written as it is, without an index.
    let in_place = chunks.len() == 1
        && chunks[0]
            .idx
            .windows(2)
            .all(|w| (w[0].ts, w[0].st) <= (w[1].ts, w[1].st));
    let order = if in_place { Vec::new() } else { sorted(chunks) };
    let io = |what: &'static str| {
        move |source: std::io::Error| Error::Io {
            path: target.to_owned(),
            what,
            source,
        }
    };
    let tmp = Durable::temp_for(target)?;
    let tmp_path = tmp.path().to_owned();
    let result = (|| -> Result<Durable> {
        Ok(match zstd {
            Some(level) => {
                let mut z = zstd::stream::write::Encoder::new(tmp, level)
                    .map_err(io("start zstd stream"))?;
                emit(&mut z, chunks, &order).map_err(io("write temp file"))?;
                z.finish().map_err(io("finish zstd stream"))?
            }
            None => {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp);
                emit(&mut w, chunks, &order).map_err(io("write temp file"))?;
                w.into_inner()
                    .map_err(|e| io("write temp file")(e.into_error()))?
            }
        })
    })();
    match result {
        Ok(d) => {
            let (file, tmp, size, crc32) = d.into_unsynced();
            Ok(Pending {
                file,
                tmp,
                target: target.to_owned(),
                size,
                crc32,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp_path);
            Err(e)
        }
    }
}

/// Makes a batch of written temp files durable and puts them in place:
/// fsync every file (concurrently), then rename each over its target, then
/// fsync every folder touched once. A crash at any point leaves each
/// target either absent, as it was, or complete.
pub fn commit_all(batch: &[Pending]) -> Result<()> {
    let files: Vec<(&std::fs::File, &Path)> =
        batch.iter().map(|p| (&p.file, p.tmp.as_path())).collect();
    fsutil::sync_all_files(&files)?;
    let mut dirs: Vec<&Path> = Vec::new();
    for p in batch {
        fsutil::crash_point();
        std::fs::rename(&p.tmp, &p.target).map_err(|e| Error::Io {
            path: p.target.clone(),
            what: "rename into place",
            source: e,
        })?;
        fsutil::crash_point();
        if let Some(d) = p.target.parent() {
            if dirs.last() != Some(&d) && !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    let opened: Vec<(std::fs::File, &Path)> = dirs
        .iter()
        .map(|d| {
            std::fs::File::open(d)
                .map(|f| (f, *d))
                .map_err(|e| Error::path(*d, e))
        })
        .collect::<Result<_>>()?;
    let refs: Vec<(&std::fs::File, &Path)> = opened.iter().map(|(f, d)| (f, *d)).collect();
    fsutil::sync_all_files(&refs)
}

fn emit(
    w: &mut impl std::io::Write,
    chunks: &[Chunk],
    order: &[(u32, Entry)],
) -> std::io::Result<()> {
    if order.is_empty() {
        // In place (see write_temp), or no records at all.
        for c in chunks {
            w.write_all(&c.bytes)?;
        }
        return w.flush();
    }
    for (c, e) in order {
        let b = &chunks[*c as usize].bytes;
        w.write_all(&b[e.start as usize..(e.start + e.len) as usize])?;
    }
    w.flush()
}

/// Commits a batch of temp files written in parallel (see [`commit_all`]):
/// on the first error of any of them, every temp written is removed and the
/// error returned, so nothing half-made stays beside the outputs.
pub fn commit_written(written: Vec<Result<Pending>>) -> Result<Vec<Pending>> {
    let mut pending = Vec::with_capacity(written.len());
    let mut first_err = None;
    for w in written {
        match w {
            Ok(p) => pending.push(p),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let result = match first_err {
        Some(e) => Err(e),
        None => commit_all(&pending),
    };
    if let Err(e) = result {
        for p in &pending {
            let _ = std::fs::remove_file(&p.tmp);
        }
        return Err(e);
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::TickType;

    #[test]
    fn direct_v3_pb_equals_prost() {
        let ticks = [
            Tick {
                ts: 1_754_010_291_910_988,
                st: 1_754_010_291_911_004,
                cid: 711_280_073,
                tt: TickType::BidAsk,
                rid: -5,
                bp: Some(1.5),
                as_: Some(0.0),
                bpl: Some(false),
                upt: Some(true),
                ..Tick::default()
            },
            Tick::default(),
            Tick {
                cid: -1,
                tt: TickType::MidPoint,
                mp: Some(-0.0),
                ..Tick::default()
            },
        ];
        for t in ticks {
            let mut a = Vec::new();
            encode_v3_pb(&t, &mut a).unwrap();
            let mut b = Vec::new();
            Format::V3Pb.encode(&t, &mut b).unwrap();
            assert_eq!(a, b, "{t:?}");
        }
    }

    #[test]
    fn sorted_is_stable_by_ts_then_st() {
        let mut c = Chunk::default();
        for (ts, st) in [(2, 1), (1, 9), (2, 0), (1, 9)] {
            c.push(
                &Tick {
                    ts,
                    st,
                    ..Tick::default()
                },
                Format::V3Json,
            )
            .unwrap();
        }
        let starts: Vec<u32> = c.idx.iter().map(|e| e.start).collect();
        let o: Vec<u32> = sorted(&[c]).iter().map(|(_, e)| e.start).collect();
        // (1,9) twice: arrival order kept; then (2,0), (2,1).
        assert_eq!(o, vec![starts[1], starts[3], starts[2], starts[0]]);
    }
}
