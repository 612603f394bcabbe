//! Peer implementations of ibstore's two v3 hot paths, on the same bytes:
//!
//! * v3 JSON line → fields: ibstore's hand-written scanner, `serde_json` into
//!   a borrowed struct, and `simd-json` (serde, tape, borrowed value);
//! * v3 protobuf `TickMessage` body → fields: ibstore's hand-written wire
//!   reader, `prost` `decode` and `prost` `clear` + `merge` into one message.
//!
//! Every implementation feeds the same fields into a [`Digest`] (sum of `ts`,
//! number and sum of present payload values, bid/ask count, true flags), so
//! none can skip work, and the bench asserts once that all digests agree.
//! All calls into ibstore live in [`adapter`].

pub mod adapter;

use prost::Message;
use serde::Deserialize;

/// Contract id of every generated record (the reference store's ES future).
pub const CID: i64 = 711_280_073;
/// Request id of every generated record.
pub const RID: i64 = 60_001;

/// One record to encode, independent of ibstore's types.
#[derive(Debug, Clone, Copy, Default)]
#[allow(missing_docs)]
pub struct Rec {
    pub ts: i64,
    pub st: i64,
    pub cid: i64,
    /// `bid_ask` (else `last`).
    pub bid_ask: bool,
    pub rid: i64,
    pub p: Option<f64>,
    pub s: Option<f64>,
    pub bp: Option<f64>,
    pub bs: Option<f64>,
    pub ap: Option<f64>,
    pub as_: Option<f64>,
    pub mp: Option<f64>,
    pub bpl: Option<bool>,
    pub aph: Option<bool>,
    pub upt: Option<bool>,
}

/// Deterministic live-like records: whole-second `ts` (IB's resolution),
/// 1–6 records per second, `st` = `ts` + 0–2 s of jitter in µs, `tt`
/// alternating bid_ask / last, quarter-point prices around 23260.25, integral
/// sizes, and a few `bpl` / `aph` / `upt` flags set (flags are only ever
/// `true` or absent, as the recorder writes them).
pub fn records(n: usize) -> Vec<Rec> {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        // xorshift64*
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11
    };
    let mut out = Vec::with_capacity(n);
    let mut sec: i64 = 1_754_010_000; // 2025-08-01 01:00:00 UTC
    let mut quarters: i64 = 93_041; // 23260.25 in 0.25 steps
    let mut left_this_second = 0u64;
    for i in 0..n {
        if left_this_second == 0 {
            sec += 1;
            left_this_second = 1 + next() % 6;
        }
        left_this_second -= 1;
        quarters += (next() % 5) as i64 - 2;
        let ts = sec * 1_000_000;
        let st = ts + (next() % 2_000_000) as i64;
        let bid = quarters as f64 * 0.25;
        let flag = |r: u64, one_in: u64| (r % one_in == 0).then_some(true);
        let mut r = Rec {
            ts,
            st,
            cid: CID,
            rid: RID,
            ..Rec::default()
        };
        if i % 2 == 0 {
            r.bid_ask = true;
            r.bp = Some(bid);
            r.bs = Some((1 + next() % 20) as f64);
            r.ap = Some(bid + 0.25 * (1 + next() % 2) as f64);
            r.as_ = Some((1 + next() % 20) as f64);
            r.bpl = flag(next(), 40);
            r.aph = flag(next(), 40);
        } else {
            r.p = Some(bid + 0.25 * (next() % 2) as f64);
            r.s = Some((1 + next() % 8) as f64);
            r.upt = flag(next(), 25);
        }
        out.push(r);
    }
    out
}

/// What every decoder must produce from the same input.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Digest {
    /// Records decoded.
    pub records: u64,
    /// Records that failed to decode.
    pub bad: u64,
    /// Wrapping sum of `ts`.
    pub ts: i64,
    /// Wrapping sum of `st`, `cid` and `rid`.
    pub ids: i64,
    /// Records whose `tt` is `bid_ask`.
    pub bid_ask: u64,
    /// Present payload values (`p s bp bs ap as mp`).
    pub present: u64,
    /// Sum of the present payload values.
    pub sum: f64,
    /// Flags (`bpl aph upt`) that are `true`.
    pub flags: u64,
}

impl Digest {
    /// Adds one decoded record.
    #[inline(always)]
    pub fn add(
        &mut self,
        ts: i64,
        st_cid_rid: i64,
        bid_ask: bool,
        vals: [Option<f64>; 7],
        flags: [Option<bool>; 3],
    ) {
        self.records += 1;
        self.ts = self.ts.wrapping_add(ts);
        self.ids = self.ids.wrapping_add(st_cid_rid);
        self.bid_ask += u64::from(bid_ask);
        for v in vals.into_iter().flatten() {
            self.present += 1;
            self.sum += v;
        }
        for f in flags {
            self.flags += u64::from(f == Some(true));
        }
    }
}

/// The lines of a JSONL buffer, without their `\n`.
pub fn split_lines(buf: &[u8]) -> Vec<&[u8]> {
    buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect()
}

/// `(start, len)` of every line of a JSONL buffer, without its `\n`.
pub fn line_ranges(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            if i > start {
                out.push((start, i - start));
            }
            start = i + 1;
        }
    }
    if start < buf.len() {
        out.push((start, buf.len() - start));
    }
    out
}

/// The bodies of a buffer of 4-byte big-endian length-prefixed frames.
pub fn split_frames(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 4 <= buf.len() {
        let n = u32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        out.push(&buf[pos + 4..pos + 4 + n]);
        pos += 4 + n;
    }
    assert_eq!(pos, buf.len(), "trailing bytes after the last frame");
    out
}

// ---------------------------------------------------------------------------
// v3 JSON peers
// ---------------------------------------------------------------------------

/// The v3 line as a borrowed serde struct (as `../shared/bench/rust_anchor`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct JsonTick<'a> {
    pub ts: i64,
    pub st: i64,
    pub cid: i64,
    #[serde(borrow)]
    pub tt: &'a str,
    pub rid: i64,
    pub p: Option<f64>,
    pub s: Option<f64>,
    pub bp: Option<f64>,
    pub bs: Option<f64>,
    pub ap: Option<f64>,
    #[serde(rename = "as")]
    pub as_: Option<f64>,
    pub mp: Option<f64>,
    pub bpl: Option<bool>,
    pub aph: Option<bool>,
    pub upt: Option<bool>,
}

impl JsonTick<'_> {
    #[inline(always)]
    fn add_to(&self, d: &mut Digest) {
        d.add(
            self.ts,
            self.st.wrapping_add(self.cid).wrapping_add(self.rid),
            self.tt == "bid_ask",
            [self.p, self.s, self.bp, self.bs, self.ap, self.as_, self.mp],
            [self.bpl, self.aph, self.upt],
        );
    }
}

/// ibstore's v3 JSON decoder on every line.
pub fn json_ibstore(lines: &[&[u8]]) -> Digest {
    let mut d = Digest::default();
    for l in lines {
        adapter::ibstore_decode_v3_json(l, &mut d);
    }
    d
}

/// `serde_json::from_slice` into [`JsonTick`] on every line (no copy).
pub fn json_serde(lines: &[&[u8]]) -> Digest {
    let mut d = Digest::default();
    for l in lines {
        match serde_json::from_slice::<JsonTick>(l) {
            Ok(t) => t.add_to(&mut d),
            Err(_) => d.bad += 1,
        }
    }
    d
}

/// `simd_json::serde::from_slice` into [`JsonTick`]: each line copied into
/// one reused buffer (simd-json rewrites its input), fresh internal buffers
/// per call, as the crate's front-page example does.
pub fn json_simd_serde(lines: &[&[u8]]) -> Digest {
    let mut d = Digest::default();
    let mut buf = Vec::with_capacity(512);
    for l in lines {
        buf.clear();
        buf.extend_from_slice(l);
        match simd_json::serde::from_slice::<JsonTick>(&mut buf) {
            Ok(t) => t.add_to(&mut d),
            Err(_) => d.bad += 1,
        }
    }
    d
}

/// As [`json_simd_serde`], with one reused `simd_json::Buffers`.
pub fn json_simd_serde_buffers(lines: &[&[u8]]) -> Digest {
    let mut d = Digest::default();
    let mut buf = Vec::with_capacity(512);
    let mut buffers = simd_json::Buffers::new(512);
    for l in lines {
        buf.clear();
        buf.extend_from_slice(l);
        match simd_json::serde::from_slice_with_buffers::<JsonTick>(&mut buf, &mut buffers) {
            Ok(t) => t.add_to(&mut d),
            Err(_) => d.bad += 1,
        }
    }
    d
}

/// `simd_json::to_borrowed_value_with_buffers` on a per-line copy, then the
/// object's entries matched by key.
pub fn json_simd_borrowed_value(lines: &[&[u8]]) -> Digest {
    use simd_json::prelude::*;
    let mut d = Digest::default();
    let mut buf = Vec::with_capacity(512);
    let mut buffers = simd_json::Buffers::new(512);
    for l in lines {
        buf.clear();
        buf.extend_from_slice(l);
        let v = match simd_json::to_borrowed_value_with_buffers(&mut buf, &mut buffers) {
            Ok(v) => v,
            Err(_) => {
                d.bad += 1;
                continue;
            }
        };
        let Some(obj) = v.as_object() else {
            d.bad += 1;
            continue;
        };
        let mut f = Fields::default();
        let mut ok = true;
        for (k, v) in obj.iter() {
            ok &= f.set(k, v.as_i64(), v.as_f64(), v.as_bool(), v.as_str());
        }
        f.finish(ok, &mut d);
    }
    d
}

/// Whole input copied once into a padded mutable buffer (as a reader that
/// `read`s the file would hold it), then `simd_json::fill_tape_padded` per
/// line in place, with one reused tape and `Buffers`, and the tape's nodes
/// walked directly: simd-json's cheapest path.
pub fn json_simd_tape(buf: &[u8], ranges: &[(usize, usize)], scratch: &mut Vec<u8>) -> Digest {
    use simd_json::{tape::Node, StaticNode};
    let mut d = Digest::default();
    scratch.clear();
    scratch.extend_from_slice(buf);
    scratch.resize(buf.len() + simd_json::INPUT_PADDING, 0);
    let mut buffers = simd_json::Buffers::new(512);
    let mut spare: simd_json::Tape<'static> = simd_json::Tape::null();
    for &(start, len) in ranges {
        let mut tape = spare.reset();
        if simd_json::fill_tape_padded(&mut scratch[start..], len, &mut buffers, &mut tape).is_err()
        {
            d.bad += 1;
            spare = tape.reset();
            continue;
        }
        let nodes = &tape.0;
        let mut f = Fields::default();
        let mut ok = matches!(nodes.first(), Some(Node::Object { .. }));
        let mut i = 1;
        while ok && i + 1 < nodes.len() {
            let (Node::String(k), v) = (nodes[i], nodes[i + 1]) else {
                ok = false;
                break;
            };
            let (int, float, boolean, string) = match v {
                Node::Static(StaticNode::I64(x)) => (Some(x), Some(x as f64), None, None),
                Node::Static(StaticNode::U64(x)) => {
                    (i64::try_from(x).ok(), Some(x as f64), None, None)
                }
                Node::Static(StaticNode::F64(x)) => (None, Some(x), None, None),
                Node::Static(StaticNode::Bool(b)) => (None, None, Some(b), None),
                Node::String(s) => (None, None, None, Some(s)),
                _ => (None, None, None, None),
            };
            ok &= f.set(k, int, float, boolean, string);
            i += 2;
        }
        f.finish(ok, &mut d);
        spare = tape.reset();
    }
    d
}

/// As [`json_simd_tape`], but the tape deserialized into [`JsonTick`]
/// (`Deserializer::from_tape`), the typed route of simd-json's docs.
pub fn json_simd_tape_serde(
    buf: &[u8],
    ranges: &[(usize, usize)],
    scratch: &mut Vec<u8>,
) -> Digest {
    let mut d = Digest::default();
    scratch.clear();
    scratch.extend_from_slice(buf);
    scratch.resize(buf.len() + simd_json::INPUT_PADDING, 0);
    let mut buffers = simd_json::Buffers::new(512);
    let mut spare: simd_json::Tape<'static> = simd_json::Tape::null();
    for &(start, len) in ranges {
        let mut tape = spare.reset();
        if simd_json::fill_tape_padded(&mut scratch[start..], len, &mut buffers, &mut tape).is_err()
        {
            d.bad += 1;
            spare = tape.reset();
            continue;
        }
        let mut de = simd_json::Deserializer::from_tape(tape);
        match JsonTick::deserialize(&mut de) {
            Ok(t) => t.add_to(&mut d),
            Err(_) => d.bad += 1,
        }
        spare = de.into_tape().reset();
    }
    d
}

/// Fields gathered from a dynamically typed JSON object.
#[derive(Default)]
struct Fields<'a> {
    seen: u8,
    ts: i64,
    st: i64,
    cid: i64,
    rid: i64,
    tt: &'a str,
    vals: [Option<f64>; 7],
    flags: [Option<bool>; 3],
}

impl<'a> Fields<'a> {
    /// Sets field `k` from the value's possible readings; false if the key
    /// is unknown or the value has the wrong type.
    #[inline(always)]
    fn set(
        &mut self,
        k: &str,
        int: Option<i64>,
        float: Option<f64>,
        boolean: Option<bool>,
        string: Option<&'a str>,
    ) -> bool {
        match k {
            "ts" | "st" | "cid" | "rid" => {
                let Some(x) = int else { return false };
                let (bit, f) = match k {
                    "ts" => (1, &mut self.ts),
                    "st" => (2, &mut self.st),
                    "cid" => (4, &mut self.cid),
                    _ => (16, &mut self.rid),
                };
                *f = x;
                self.seen |= bit;
            }
            "tt" => {
                let Some(s) = string else { return false };
                self.tt = s;
                self.seen |= 8;
            }
            "p" | "s" | "bp" | "bs" | "ap" | "as" | "mp" => {
                let Some(x) = float else { return false };
                let i = match k {
                    "p" => 0,
                    "s" => 1,
                    "bp" => 2,
                    "bs" => 3,
                    "ap" => 4,
                    "as" => 5,
                    _ => 6,
                };
                self.vals[i] = Some(x);
            }
            "bpl" | "aph" | "upt" => {
                let Some(b) = boolean else { return false };
                let i = match k {
                    "bpl" => 0,
                    "aph" => 1,
                    _ => 2,
                };
                self.flags[i] = Some(b);
            }
            _ => return false,
        }
        true
    }

    #[inline(always)]
    fn finish(self, ok: bool, d: &mut Digest) {
        if ok && self.seen == 31 {
            d.add(
                self.ts,
                self.st.wrapping_add(self.cid).wrapping_add(self.rid),
                self.tt == "bid_ask",
                self.vals,
                self.flags,
            );
        } else {
            d.bad += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// v3 protobuf peers
// ---------------------------------------------------------------------------

/// The v3 `TickMessage`, as in `../shared/bench/rust_anchor`.
#[derive(Clone, PartialEq, Message)]
#[allow(missing_docs)]
pub struct TickMessage {
    #[prost(int64, tag = "1")]
    pub ts: i64,
    #[prost(int64, tag = "2")]
    pub st: i64,
    #[prost(int32, tag = "3")]
    pub cid: i32,
    #[prost(string, tag = "4")]
    pub tt: String,
    #[prost(int32, tag = "5")]
    pub rid: i32,
    #[prost(double, optional, tag = "10")]
    pub p: Option<f64>,
    #[prost(double, optional, tag = "11")]
    pub s: Option<f64>,
    #[prost(double, optional, tag = "12")]
    pub bp: Option<f64>,
    #[prost(double, optional, tag = "13")]
    pub bs: Option<f64>,
    #[prost(double, optional, tag = "14")]
    pub ap: Option<f64>,
    #[prost(double, optional, tag = "15")]
    pub as_: Option<f64>,
    #[prost(double, optional, tag = "16")]
    pub mp: Option<f64>,
    #[prost(bool, optional, tag = "20")]
    pub bpl: Option<bool>,
    #[prost(bool, optional, tag = "21")]
    pub aph: Option<bool>,
    #[prost(bool, optional, tag = "22")]
    pub upt: Option<bool>,
}

impl TickMessage {
    #[inline(always)]
    fn add_to(&self, d: &mut Digest) {
        d.add(
            self.ts,
            self.st
                .wrapping_add(i64::from(self.cid))
                .wrapping_add(i64::from(self.rid)),
            self.tt == "bid_ask",
            [self.p, self.s, self.bp, self.bs, self.ap, self.as_, self.mp],
            [self.bpl, self.aph, self.upt],
        );
    }
}

/// ibstore's v3 protobuf decoder on every body.
pub fn pb_ibstore(bodies: &[&[u8]]) -> Digest {
    let mut d = Digest::default();
    for b in bodies {
        adapter::ibstore_decode_v3_pb(b, &mut d);
    }
    d
}

/// `prost::Message::decode` into a fresh [`TickMessage`] per body.
pub fn pb_prost_decode(bodies: &[&[u8]]) -> Digest {
    let mut d = Digest::default();
    for b in bodies {
        match TickMessage::decode(*b) {
            Ok(m) => m.add_to(&mut d),
            Err(_) => d.bad += 1,
        }
    }
    d
}

/// `clear()` + `merge` into one reused [`TickMessage`] (rust_anchor's loop).
pub fn pb_prost_merge(bodies: &[&[u8]]) -> Digest {
    let mut d = Digest::default();
    let mut m = TickMessage::default();
    for b in bodies {
        m.clear();
        match m.merge(*b) {
            Ok(()) => m.add_to(&mut d),
            Err(_) => d.bad += 1,
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_decoders_agree() {
        let recs = records(2_000);
        let json = adapter::encode_v3_json(&recs);
        let lines = split_lines(&json);
        let ranges = line_ranges(&json);
        let want = json_ibstore(&lines);
        assert_eq!(want.records, 2_000);
        assert_eq!(want.bad, 0);
        assert!(want.flags > 0);
        let mut scratch = Vec::new();
        assert_eq!(json_serde(&lines), want);
        assert_eq!(json_simd_serde(&lines), want);
        assert_eq!(json_simd_serde_buffers(&lines), want);
        assert_eq!(json_simd_borrowed_value(&lines), want);
        assert_eq!(json_simd_tape(&json, &ranges, &mut scratch), want);
        assert_eq!(json_simd_tape_serde(&json, &ranges, &mut scratch), want);
        let pb = adapter::encode_v3_pb(&recs);
        let bodies = split_frames(&pb);
        assert_eq!(pb_ibstore(&bodies), want);
        assert_eq!(pb_prost_decode(&bodies), want);
        assert_eq!(pb_prost_merge(&bodies), want);
    }
}
