//! Length-prefixed protobuf framing: `u32 length` + body, repeated, no header
//! (spec §4.1, §7.1). v2 prefixes are little-endian, v3 big-endian.
//!
//! The splitter reports torn tails (partial prefix, partial body), NUL tails,
//! and corrupt prefixes. After a corrupt prefix it resynchronises at the
//! first offset from which a chain of valid frames runs on, so one bad
//! prefix never hides the rest of a file. A length of 0 (no IB-Stream
//! message is empty) or above [`MAX_FRAME`] is a corrupt prefix.
//!
//! Like [`super::lines`], it is streaming: [`Frames::feed`] takes a window
//! and says how much it consumed; a frame or a resynchronisation chain that
//! runs past the window waits for more bytes, so the carried bytes never
//! exceed a few frames.

use super::piece::{Damage, Piece};

/// A length prefix above this is corruption (real frames are a few hundred
/// bytes), never an allocation.
pub const MAX_FRAME: usize = 1 << 20;
/// Frames that must decode in a row for a resynchronisation point to count
/// (fewer are enough when they run exactly to the end of the data or to a
/// run of NULs).
const CHAIN: usize = 4;

/// Byte order of the length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// v2-PB.
    Little,
    /// v3-PB.
    Big,
}

impl ByteOrder {
    fn read(self, b: &[u8]) -> usize {
        let a = [b[0], b[1], b[2], b[3]];
        (match self {
            Self::Little => u32::from_le_bytes(a),
            Self::Big => u32::from_be_bytes(a),
        }) as usize
    }
}

/// Appends one frame.
pub fn write_frame(order: ByteOrder, body: &[u8], out: &mut Vec<u8>) {
    let n = u32::try_from(body.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&match order {
        ByteOrder::Little => n.to_le_bytes(),
        ByteOrder::Big => n.to_be_bytes(),
    });
    out.extend_from_slice(body);
}

/// Outcome of trying to read one frame at a position.
enum Step {
    Frame(usize),
    Bad,
    Overrun,
    ShortPrefix,
}

fn step(buf: &[u8], pos: usize, order: ByteOrder) -> Step {
    if buf.len() - pos < 4 {
        return Step::ShortPrefix;
    }
    let n = order.read(&buf[pos..]);
    if n == 0 || n > MAX_FRAME {
        Step::Bad
    } else if buf.len() - pos - 4 < n {
        Step::Overrun
    } else {
        Step::Frame(n)
    }
}

enum Chain {
    Valid,
    Invalid,
    NeedMore,
}

/// Whether a chain of valid frames starts at `q` (see [`CHAIN`]). `data_end`
/// is where only NULs follow (the buffer's end when more bytes may come).
fn chain_at(
    buf: &[u8],
    data_end: usize,
    eof: bool,
    q: usize,
    order: ByteOrder,
    valid: &impl Fn(&[u8]) -> bool,
) -> Chain {
    let mut pos = q;
    for k in 0..CHAIN {
        if pos >= data_end {
            return match (eof, k > 0) {
                (false, _) => Chain::NeedMore,
                (true, true) => Chain::Valid,
                (true, false) => Chain::Invalid,
            };
        }
        match step(buf, pos, order) {
            Step::Frame(n) if valid(&buf[pos + 4..pos + 4 + n]) => pos += 4 + n,
            // Valid frames up to a NUL run: as good as frames up to the end
            // of the data, and decidable before the run's end is known (a
            // streaming window must not wait for gigabytes of zeros).
            Step::Bad if k > 0 && buf[pos..pos + 4] == [0; 4] => return Chain::Valid,
            Step::Frame(_) | Step::Bad => return Chain::Invalid,
            Step::ShortPrefix | Step::Overrun if eof => return Chain::Invalid,
            Step::ShortPrefix | Step::Overrun => return Chain::NeedMore,
        }
    }
    Chain::Valid
}

/// A corrupt stretch being skipped while looking for the next valid chain.
#[derive(Debug, Clone, Copy)]
struct Resync {
    start: u64,
    index: u64,
    cause: Damage,
    /// Just past the last non-NUL byte seen since `start`.
    nonzero_end: u64,
}

/// The streaming frame splitter's state between windows.
#[derive(Debug)]
pub struct Frames {
    order: ByteOrder,
    index: u64,
    resync: Option<Resync>,
}

/// Walks every frame of a whole buffer in order. `valid` says whether a body
/// decodes; it is used only to find resynchronisation points after damage.
pub fn walk(
    buf: &[u8],
    order: ByteOrder,
    valid: impl Fn(&[u8]) -> bool,
    mut sink: impl FnMut(Piece<'_>),
) {
    Frames::new(order).feed(buf, 0, true, &valid, &mut sink);
}

impl Frames {
    /// A splitter at the start of a file.
    pub fn new(order: ByteOrder) -> Self {
        Self {
            order,
            index: 0,
            resync: None,
        }
    }

    /// Splits `buf`, which starts at file offset `base`; returns the bytes
    /// consumed (see [`super::lines::Lines::feed`]).
    pub fn feed(
        &mut self,
        buf: &[u8],
        base: u64,
        eof: bool,
        valid: &impl Fn(&[u8]) -> bool,
        sink: &mut impl FnMut(Piece<'_>),
    ) -> usize {
        let data_end = if eof {
            super::zeros::data_end(buf)
        } else {
            buf.len()
        };
        let at = |p: usize| base + p as u64;
        let mut pos = 0usize;
        loop {
            if let Some(r) = &mut self.resync {
                while pos < buf.len() {
                    match chain_at(buf, data_end, eof, pos, self.order, valid) {
                        Chain::Valid => break,
                        Chain::NeedMore => return pos,
                        Chain::Invalid => {
                            if buf[pos] != 0 {
                                r.nonzero_end = at(pos) + 1;
                            }
                            pos += 1;
                        }
                    }
                }
                let r = *r;
                if pos < buf.len() {
                    sink(Piece::Damage {
                        offset: r.start,
                        len: at(pos) - r.start,
                        index: Some(r.index),
                        kind: Damage::BadPrefix,
                    });
                    self.resync = None;
                } else if eof {
                    self.finish(r, at(buf.len()), sink);
                    return buf.len();
                } else {
                    return pos;
                }
            }
            // The common case: valid frames one after another.
            while let Some(p) = buf.get(pos..pos + 4) {
                let n = self.order.read(p);
                if n == 0 || n > MAX_FRAME || buf.len() - pos - 4 < n {
                    break;
                }
                self.index += 1;
                sink(Piece::Record {
                    offset: at(pos),
                    len: 4 + n as u64,
                    index: self.index,
                    bytes: &buf[pos + 4..pos + 4 + n],
                    crlf: false,
                    terminated: true,
                });
                pos += 4 + n;
            }
            if pos >= buf.len() {
                return pos;
            }
            if eof && pos >= data_end {
                // Under 4 zero bytes at a frame boundary are a torn big-endian
                // prefix as likely as a NUL run; call them what a prefix needs.
                let (kind, index) = if buf.len() - pos < 4 {
                    (Damage::PartialPrefix, Some(self.index + 1))
                } else {
                    (Damage::TrailingNul, None)
                };
                sink(Piece::Damage {
                    offset: at(pos),
                    len: (buf.len() - pos) as u64,
                    index,
                    kind,
                });
                return buf.len();
            }
            let cause = match step(buf, pos, self.order) {
                Step::Frame(n) => {
                    self.index += 1;
                    sink(Piece::Record {
                        offset: at(pos),
                        len: 4 + n as u64,
                        index: self.index,
                        bytes: &buf[pos + 4..pos + 4 + n],
                        crlf: false,
                        terminated: true,
                    });
                    pos += 4 + n;
                    continue;
                }
                Step::ShortPrefix | Step::Overrun if !eof => return pos,
                Step::ShortPrefix => Damage::PartialPrefix,
                Step::Overrun => Damage::PartialBody,
                Step::Bad => Damage::BadPrefix,
            };
            self.index += 1;
            self.resync = Some(Resync {
                start: at(pos),
                index: self.index,
                cause,
                nonzero_end: if buf[pos] != 0 { at(pos) + 1 } else { at(pos) },
            });
            pos += 1;
        }
    }

    /// The end of the file came while looking for a resynchronisation point.
    fn finish(&self, r: Resync, end: u64, sink: &mut impl FnMut(Piece<'_>)) {
        if r.cause != Damage::BadPrefix {
            // A torn frame runs to the end of the file: zero bytes after it
            // may be its own body (doubles end in zeros), not a NUL run.
            sink(Piece::Damage {
                offset: r.start,
                len: end - r.start,
                index: Some(r.index),
                kind: r.cause,
            });
            return;
        }
        if r.nonzero_end > r.start {
            sink(Piece::Damage {
                offset: r.start,
                len: r.nonzero_end - r.start,
                index: Some(r.index),
                kind: Damage::Unframed,
            });
        }
        let zeros = end - r.nonzero_end;
        if zeros > 0 {
            let (kind, index) = match (zeros < 4, r.nonzero_end == r.start) {
                (true, true) => (Damage::PartialPrefix, Some(r.index)),
                (true, false) => (Damage::PartialPrefix, Some(r.index + 1)),
                (false, _) => (Damage::TrailingNul, None),
            };
            sink(Piece::Damage {
                offset: r.nonzero_end,
                len: zeros,
                index,
                kind,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bodies: &[&[u8]], order: ByteOrder) -> Vec<u8> {
        let mut out = Vec::new();
        for b in bodies {
            write_frame(order, b, &mut out);
        }
        out
    }

    fn valid(b: &[u8]) -> bool {
        b.first() == Some(&b'x')
    }

    fn pieces(buf: &[u8], order: ByteOrder) -> Vec<String> {
        let mut v = Vec::new();
        walk(buf, order, valid, |p| v.push(p.describe()));
        // The same in windows of every size gives the same pieces.
        for w in 1..=buf.len() {
            let mut s = Frames::new(order);
            let mut got = Vec::new();
            let mut carry = Vec::new();
            let (mut base, mut pos) = (0u64, 0usize);
            loop {
                let take = w.min(buf.len() - pos);
                carry.extend_from_slice(&buf[pos..pos + take]);
                pos += take;
                let eof = pos == buf.len();
                let used = s.feed(&carry, base, eof, &valid, &mut |p| got.push(p.describe()));
                if eof {
                    break;
                }
                carry.drain(..used);
                base += used as u64;
            }
            assert_eq!(got, v, "windows of {w}");
        }
        v
    }

    #[test]
    fn exact_walk_both_orders() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let buf = frames(&[b"x1", b"x22"], order);
            assert_eq!(pieces(&buf, order), ["record@0+6#1 x1", "record@6+7#2 x22"]);
        }
    }

    #[test]
    fn torn_tails() {
        let mut buf = frames(&[b"x1", b"x22"], ByteOrder::Big);
        buf.truncate(11);
        assert_eq!(
            pieces(&buf, ByteOrder::Big),
            ["record@0+6#1 x1", "partial_body@6+5#2"]
        );
        buf.truncate(8);
        assert_eq!(
            pieces(&buf, ByteOrder::Big),
            ["record@0+6#1 x1", "partial_prefix@6+2#2"]
        );
        let mut nul = frames(&[b"x1"], ByteOrder::Big);
        nul.extend_from_slice(&[0; 9]);
        assert_eq!(
            pieces(&nul, ByteOrder::Big),
            ["record@0+6#1 x1", "trailing_nul@6+9"]
        );
    }

    #[test]
    fn resync_after_huge_prefix() {
        let mut buf = vec![0xff, 0xff, 0xff, 0xff];
        buf.extend(frames(&[b"xa", b"xb", b"xc", b"xd", b"xe"], ByteOrder::Big));
        let p = pieces(&buf, ByteOrder::Big);
        assert_eq!(p[0], "bad_prefix@0+4#1");
        assert_eq!(p[1], "record@4+6#2 xa");
        assert_eq!(p.len(), 6);
        let garbage = vec![0xffu8; 40];
        assert_eq!(pieces(&garbage, ByteOrder::Little), ["unframed@0+40#1"]);
    }

    #[test]
    fn a_resync_chain_that_ends_in_a_nul_tail_is_found_in_any_window() {
        // Found by the windows-vs-whole property test: in a window that ended
        // inside the NUL tail, the two frames after the bad prefix were not
        // taken as a chain, so they were reported as damage.
        let mut buf = frames(&[b"x1"], ByteOrder::Big);
        buf.extend_from_slice(&[9, 0, 0, 0]);
        buf.extend(frames(&[b"xa", b"xb"], ByteOrder::Big));
        buf.extend_from_slice(&[0; 16]);
        assert_eq!(
            pieces(&buf, ByteOrder::Big),
            [
                "record@0+6#1 x1",
                "bad_prefix@6+4#2",
                "record@10+6#3 xa",
                "record@16+6#4 xb",
                "trailing_nul@22+16"
            ]
        );
    }

    #[test]
    fn a_nul_block_between_frames_is_one_bad_stretch() {
        let mut buf = frames(&[b"x1"], ByteOrder::Big);
        buf.extend_from_slice(&[0; 12]);
        buf.extend(frames(&[b"xa", b"xb"], ByteOrder::Big));
        assert_eq!(
            pieces(&buf, ByteOrder::Big),
            [
                "record@0+6#1 x1",
                "bad_prefix@6+12#2",
                "record@18+6#3 xa",
                "record@24+6#4 xb"
            ]
        );
        let mut tail = vec![0xffu8; 5];
        tail.extend_from_slice(&[0; 6]);
        assert_eq!(
            pieces(&tail, ByteOrder::Big),
            ["unframed@0+5#1", "trailing_nul@5+6"]
        );
    }
}
