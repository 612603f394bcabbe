//! The visitor every source record goes through: filter, map onto what
//! the target holds (counting losses and corrections), encode into its
//! output file's chunk, and add to the input fingerprints.

use super::plan::{self, Filter, LossField, Losses};
use super::write::Chunk;
use crate::fingerprint::{Fields, HourPrint, StreamHour};
use crate::format::{v2_side, Format, Version};
use crate::scan::record::Home;
use crate::scan::{Good, Visit};
use crate::tick::{Tick, TickType};

/// Per-record counts a visitor keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Records read (good records of the source format).
    pub read: u64,
    /// Records left out by the filters.
    pub filtered: u64,
    /// Records that lost each [`LossField`] (index = field).
    pub lost: [u64; LossField::ALL.len()],
    /// v2 records without a request id (rid 0 kept).
    pub rid_zero: u64,
    /// v2 protobuf records: `ts` is the envelope time.
    pub envelope_ts: u64,
    /// v2 records whose `st` is the envelope time (v3 targets).
    pub st_from_envelope: u64,
    /// v2 JSON mid records whose value was under `mid_price` / `mid_point`.
    pub mid_key: u64,
}

impl Counts {
    pub(super) fn merge(&mut self, o: &Counts) {
        self.read += o.read;
        self.filtered += o.filtered;
        for (a, b) in self.lost.iter_mut().zip(o.lost) {
            *a += b;
        }
        self.rid_zero += o.rid_zero;
        self.envelope_ts += o.envelope_ts;
        self.st_from_envelope += o.st_from_envelope;
        self.mid_key += o.mid_key;
    }
}

/// What every visitor shares.
pub(super) struct Ctx {
    pub(super) source: Format,
    pub(super) target: Format,
    pub(super) filter: Filter,
    pub(super) fields: Fields,
}

/// One output file's records from one part of one source.
pub(super) struct Group {
    pub(super) home: Home,
    pub(super) chunk: Chunk,
    pub(super) losses: Losses,
    pub(super) prints: Vec<(StreamHour, HourPrint)>,
}

/// The visitor: maps, counts, encodes and fingerprints every good record.
pub(super) struct Collect<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) groups: Vec<Group>,
    pub(super) last: usize,
    pub(super) counts: Counts,
    /// Size of the file on disk (a hint for the first chunk's capacity).
    pub(super) size_hint: u64,
}

impl Collect<'_> {
    fn group(&mut self, h: Home) -> &mut Group {
        if self.groups.get(self.last).is_none_or(|g| g.home != h) {
            self.last = match self.groups.iter().position(|g| g.home == h) {
                Some(i) => i,
                None => {
                    // The first output of a file gets room for all of it
                    // (address space only until written; no regrowth copies).
                    let chunk = if self.groups.is_empty() {
                        let bytes = (self.size_hint as usize).saturating_mul(3).min(1 << 30);
                        Chunk {
                            bytes: Vec::with_capacity(bytes),
                            idx: Vec::with_capacity(bytes / 3 / 48),
                        }
                    } else {
                        Chunk::default()
                    };
                    self.groups.push(Group {
                        home: h,
                        chunk,
                        losses: Losses::default(),
                        prints: Vec::new(),
                    });
                    self.groups.len() - 1
                }
            };
        }
        &mut self.groups[self.last]
    }
}

impl Visit for Collect<'_> {
    fn record(&mut self, r: &Good<'_>) {
        let ctx = self.ctx;
        self.counts.read += 1;
        if !ctx.filter.keep(r.tick) {
            self.counts.filtered += 1;
            return;
        }
        let mut t: Tick = *r.tick;
        if ctx.source.version() == Version::V2 {
            self.counts.rid_zero += u64::from(t.rid == 0);
            if ctx.target.is_v3() {
                self.counts.st_from_envelope += 1;
            }
            if ctx.source == Format::V2Pb {
                self.counts.envelope_ts += 1;
            } else if t.tt == TickType::MidPoint
                && (memchr::memmem::find(r.bytes, b"\"mid_price\":").is_some()
                    || memchr::memmem::find(r.bytes, b"\"mid_point\":").is_some())
            {
                self.counts.mid_key += 1;
            }
        }
        let home_before = plan::home(&t, ctx.target);
        // The v2 extras, read from the record's bytes, only when the target
        // is another format (the same format copies the record's bytes) and
        // needs them: a v3 target only loses them, which the v2 JSON
        // decoder already noted (unless it left a value to this decode).
        let noted = ctx.source == Format::V2Json
            && ctx.target.is_v3()
            && !r.extras.has(v2_side::Extras::RECHECK);
        let side = if ctx.source.version() == Version::V2 && ctx.source != ctx.target && !noted {
            v2_side::decode(ctx.source, r.bytes)
        } else {
            None
        };
        let Some(mut losses) = plan::map_to_target(&mut t, ctx.target) else {
            self.counts.lost[LossField::Cid as usize] += 1;
            self.group(home_before).losses.add(LossField::Cid);
            return;
        };
        if let Some(side) = &side {
            losses.0 |= plan::side_losses(side, r.tick, ctx.source, ctx.target).0;
        } else if noted {
            losses.0 |= plan::extras_losses(r.extras, ctx.source, ctx.target).0;
        }
        for f in losses.iter() {
            self.counts.lost[f as usize] += 1;
        }
        let home = plan::home(&t, ctx.target);
        let fields = ctx.fields;
        let g = self.group(home);
        g.losses.0 |= losses.0;
        let pushed = if ctx.source == ctx.target && ctx.source.version() == Version::V2 {
            g.chunk.push_raw(&t, ctx.target, r.bytes);
            Ok(())
        } else {
            g.chunk.push_side(&t, ctx.target, side.as_deref())
        };
        if pushed.is_err() {
            // A value the v2 extras carry that the target's integer cannot
            // hold (a `data` contract id outside v2 protobuf's uint32): the
            // record cannot be written, counted as a lost contract id.
            g.losses.add(LossField::Cid);
            self.counts.lost[LossField::Cid as usize] += 1;
            return;
        }
        let sh = StreamHour::of(&t, &fields);
        let p = match g.prints.iter_mut().rev().find(|(k, _)| *k == sh) {
            Some((_, p)) => p,
            None => {
                g.prints.push((sh, HourPrint::default()));
                &mut g.prints.last_mut().expect("just pushed").1
            }
        };
        p.add(&t, &fields);
    }
}
