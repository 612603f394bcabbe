//! The only module that calls into `ibstore`. Its API is being refactored:
//! when it changes, update this file and nothing else.

use crate::{Digest, Rec};
use ibstore::format::Format;
use ibstore::tick::{Tick, TickType};

fn tick(r: &Rec) -> Tick {
    Tick {
        ts: r.ts,
        st: r.st,
        cid: r.cid,
        tt: if r.bid_ask {
            TickType::BidAsk
        } else {
            TickType::Last
        },
        rid: r.rid,
        p: r.p,
        s: r.s,
        bp: r.bp,
        bs: r.bs,
        ap: r.ap,
        as_: r.as_,
        mp: r.mp,
        bpl: r.bpl,
        aph: r.aph,
        upt: r.upt,
        past_limit: None,
    }
}

fn encode(format: Format, recs: &[Rec]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        format.encode(&tick(r), &mut out).expect("ibstore encode");
    }
    out
}

/// The records as ibstore writes a v3 JSONL file (one line each, `\n` ends).
pub fn encode_v3_json(recs: &[Rec]) -> Vec<u8> {
    encode(Format::V3Json, recs)
}

/// The records as ibstore writes a v3 protobuf file (4-byte big-endian
/// length, then the `TickMessage` body).
pub fn encode_v3_pb(recs: &[Rec]) -> Vec<u8> {
    encode(Format::V3Pb, recs)
}

#[inline(always)]
fn add(d: &mut Digest, t: &Tick) {
    d.add(
        t.ts,
        t.st.wrapping_add(t.cid).wrapping_add(t.rid),
        t.tt == TickType::BidAsk,
        [t.p, t.s, t.bp, t.bs, t.ap, t.as_, t.mp],
        [t.bpl, t.aph, t.upt],
    );
}

/// ibstore's v3 JSON decoder (fast path, general scanner as fallback) on
/// one line without its `\n`; adds the tick to `d`, or counts it bad.
#[inline(always)]
pub fn ibstore_decode_v3_json(line: &[u8], d: &mut Digest) {
    match Format::V3Json.decode(line) {
        Ok(x) => add(d, &x.tick),
        Err(_) => d.bad += 1,
    }
}

/// ibstore's v3 protobuf decoder on one frame body (no length prefix).
#[inline(always)]
pub fn ibstore_decode_v3_pb(body: &[u8], d: &mut Digest) {
    match Format::V3Pb.decode(body) {
        Ok(x) => add(d, &x.tick),
        Err(_) => d.bad += 1,
    }
}
