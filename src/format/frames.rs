//! Length-prefixed protobuf framing: `u32 length` + body, repeated, no header
//! (spec §4.1, §7.1). v2 prefixes are little-endian, v3 big-endian.
//!
//! The walker reports torn tails (partial prefix, partial body), NUL tails,
//! and corrupt prefixes. After a corrupt prefix it resynchronises at the
//! first offset from which a chain of valid frames runs on, so one bad
//! prefix never hides the rest of a file.

use super::reader::{Damage, Piece};

/// A length prefix above this is corruption, never an allocation.
pub const MAX_FRAME: usize = 64 << 20;
/// Frames that must decode in a row for a resynchronisation point to count
/// (fewer are enough when they run exactly to the end of the data).
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
    BadPrefix,
    Overrun,
    ShortPrefix,
}

fn step(buf: &[u8], pos: usize, order: ByteOrder) -> Step {
    if buf.len() - pos < 4 {
        return Step::ShortPrefix;
    }
    let n = order.read(&buf[pos..]);
    if n > MAX_FRAME {
        Step::BadPrefix
    } else if buf.len() - pos - 4 < n {
        Step::Overrun
    } else {
        Step::Frame(n)
    }
}

/// Whether a chain of valid frames starts at `q` (see [`CHAIN`]).
fn chain_at(
    buf: &[u8],
    data_end: usize,
    q: usize,
    order: ByteOrder,
    valid: &impl Fn(&[u8]) -> bool,
) -> bool {
    let mut pos = q;
    for k in 0..CHAIN {
        if pos >= data_end {
            return k > 0;
        }
        match step(buf, pos, order) {
            Step::Frame(n) if valid(&buf[pos + 4..pos + 4 + n]) => pos += 4 + n,
            _ => return false,
        }
    }
    true
}

/// Walks every frame of `buf` in order. `valid` says whether a body decodes;
/// it is used only to find resynchronisation points after damage.
pub fn walk(
    buf: &[u8],
    order: ByteOrder,
    valid: impl Fn(&[u8]) -> bool,
    mut sink: impl FnMut(Piece<'_>),
) {
    let data_end = buf.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mut pos = 0usize;
    let mut index = 0u64;
    while pos < buf.len() {
        if pos >= data_end {
            // Under 4 zero bytes at a frame boundary are a torn big-endian
            // prefix as likely as a NUL run; call them what a prefix needs.
            let (kind, index) = if buf.len() - pos < 4 {
                (Damage::PartialPrefix, Some(index + 1))
            } else {
                (Damage::TrailingNul, None)
            };
            sink(Piece::Damage {
                offset: pos as u64,
                len: (buf.len() - pos) as u64,
                index,
                kind,
            });
            return;
        }
        index += 1;
        let damage = match step(buf, pos, order) {
            Step::Frame(n) => {
                let bytes = &buf[pos + 4..pos + 4 + n];
                sink(Piece::Record {
                    offset: pos as u64,
                    len: 4 + n as u64,
                    index,
                    bytes,
                    crlf: false,
                    terminated: true,
                });
                pos += 4 + n;
                continue;
            }
            Step::ShortPrefix => Damage::PartialPrefix,
            Step::Overrun => Damage::PartialBody,
            Step::BadPrefix => Damage::BadPrefix,
        };
        let resync = (pos + 1..data_end).find(|&q| chain_at(buf, data_end, q, order, &valid));
        match (resync, damage) {
            (Some(q), _) => {
                sink(Piece::Damage {
                    offset: pos as u64,
                    len: (q - pos) as u64,
                    index: Some(index),
                    kind: Damage::BadPrefix,
                });
                pos = q;
            }
            (None, Damage::BadPrefix) => {
                sink(Piece::Damage {
                    offset: pos as u64,
                    len: (data_end - pos) as u64,
                    index: Some(index),
                    kind: Damage::Unframed,
                });
                pos = data_end;
            }
            (None, kind) => {
                // A torn frame runs to the end of the file: zero bytes after
                // it may be its own body (doubles end in zeros), not a NUL run.
                sink(Piece::Damage {
                    offset: pos as u64,
                    len: (buf.len() - pos) as u64,
                    index: Some(index),
                    kind,
                });
                return;
            }
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

    fn pieces(buf: &[u8], order: ByteOrder) -> Vec<String> {
        let mut v = Vec::new();
        walk(
            buf,
            order,
            |b| b.first() == Some(&b'x'),
            |p| v.push(p.describe()),
        );
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
}
