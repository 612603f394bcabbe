//! Schema-specialised fast path for v3 JSON lines in the exact shape the
//! recorder writes: `{"ts":…,"st":…,"cid":…,"tt":"…","rid":…,…}` with no
//! whitespace, no escapes, plain decimal numbers and known keys.
//!
//! It either decodes the line exactly as the general decoder would, or gives
//! up (`None`) and leaves the line to the general path, which then also
//! produces precise errors. A property test checks the two agree.

use super::{Decoded, Notes};
use crate::tick::{Tick, TickType};

struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// Plain JSON integer (no fraction/exponent), at most 18 digits.
    /// Eight digits at a time where the line allows (SWAR).
    #[inline]
    fn int(&mut self) -> Option<i64> {
        let neg = self.eat(b'-').is_some();
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(chunk) = self
            .b
            .get(self.i..self.i + 8)
            .and_then(|c| <[u8; 8]>::try_from(c).ok())
        {
            let w = u64::from_le_bytes(chunk);
            if !eight_digits(w) {
                break;
            }
            v = v.wrapping_mul(100_000_000).wrapping_add(parse_eight(w));
            self.i += 8;
        }
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0
            || n > 18
            || (n > 1 && self.b[start] == b'0')
            || matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        let v = v as i64;
        Some(if neg { -v } else { v })
    }

    /// Plain decimal float without exponent, exactly representable by the
    /// Clinger fast path (mantissa < 2^53, at most 22 fraction digits), so
    /// the result is the correctly rounded value `str::parse` gives.
    #[inline]
    fn float(&mut self) -> Option<f64> {
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let neg = self.eat(b'-').is_some();
        let start = self.i;
        let mut m: u64 = 0;
        let mut digits = 0usize;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            digits += 1;
            self.i += 1;
        }
        let int_digits = self.i - start;
        if int_digits == 0 || (int_digits > 1 && self.b[start] == b'0') {
            return None;
        }
        let mut frac = 0usize;
        if self.eat(b'.').is_some() {
            while let Some(&c) = self.b.get(self.i) {
                if !c.is_ascii_digit() {
                    break;
                }
                m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                digits += 1;
                frac += 1;
                self.i += 1;
            }
            if frac == 0 {
                return None;
            }
        }
        if digits > 19
            || m >= 1 << 53
            || frac > 22
            || matches!(self.b.get(self.i), Some(b'e' | b'E'))
        {
            return None;
        }
        let v = m as f64 / POW10[frac];
        Some(if neg { -v } else { v })
    }

    #[inline]
    fn boolean(&mut self) -> Option<bool> {
        let rest = &self.b[self.i..];
        if rest.starts_with(b"true") {
            self.i += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.i += 5;
            Some(false)
        } else {
            None
        }
    }

    /// A short string's contents up to the closing quote (no escapes,
    /// control or non-ASCII bytes: those go to the general path).
    #[inline]
    fn short_str(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f | 0x80..=0xff => return None,
                _ => self.i += 1,
            }
        }
        let s: &'a [u8] = &self.b[start..self.i];
        self.i += 1;
        Some(s)
    }
}

/// Whether all 8 little-endian bytes of `w` are ASCII digits.
#[inline]
fn eight_digits(w: u64) -> bool {
    const HI: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZERO: u64 = 0x3030_3030_3030_3030;
    (w & HI) == ZERO && (w.wrapping_add(0x0606_0606_0606_0606) & HI) == ZERO
}

/// The value of 8 ASCII digits loaded little-endian (first digit lowest).
#[inline]
fn parse_eight(w: u64) -> u64 {
    let w = w & 0x0F0F_0F0F_0F0F_0F0F;
    let w = (w.wrapping_mul(10 << 8 | 1)) >> 8 & 0x00FF_00FF_00FF_00FF;
    let w = (w.wrapping_mul(100 << 16 | 1)) >> 16 & 0x0000_FFFF_0000_FFFF;
    (w.wrapping_mul(10_000 << 32 | 1)) >> 32
}

/// Decodes a canonical v3 line, or returns `None` to defer to the general path.
///
/// Keys are matched as literals at the cursor (`"ts":`, `,"bp":` …) in any
/// order, so the writer's fixed key order costs one short comparison each.
#[inline]
pub fn decode(line: &[u8]) -> Option<Decoded> {
    let mut d = Decoded::default();
    decode_into(line, &mut d).then_some(d)
}

/// [`decode`] into a caller's record (no copy of the result); `false`
/// defers to the general path (the record's contents are then unspecified).
#[inline]
pub fn decode_into(line: &[u8], out: &mut Decoded) -> bool {
    fast(line, &mut out.tick).is_some_and(|()| {
        out.notes = Notes::default();
        true
    })
}

#[inline]
fn fast(line: &[u8], t: &mut Tick) -> Option<()> {
    let mut c = Cur { b: line, i: 1 };
    if line.first() != Some(&b'{') {
        return None;
    }
    *t = Tick::default();
    let mut seen = 0u8;
    loop {
        // At a key: `"name":`; the key's length says where the value starts.
        let rest = &line[c.i..];
        let (field, klen) = match rest {
            [b'"', b't', b's', b'"', b':', ..] => (0, 5),
            [b'"', b's', b't', b'"', b':', ..] => (1, 5),
            [b'"', b'c', b'i', b'd', b'"', b':', ..] => (2, 6),
            [b'"', b't', b't', b'"', b':', ..] => (3, 5),
            [b'"', b'r', b'i', b'd', b'"', b':', ..] => (4, 6),
            [b'"', b'p', b'"', b':', ..] => (5, 4),
            [b'"', b's', b'"', b':', ..] => (6, 4),
            [b'"', b'b', b'p', b'"', b':', ..] => (7, 5),
            [b'"', b'b', b's', b'"', b':', ..] => (8, 5),
            [b'"', b'a', b'p', b'"', b':', ..] => (9, 5),
            [b'"', b'a', b's', b'"', b':', ..] => (10, 5),
            [b'"', b'm', b'p', b'"', b':', ..] => (11, 5),
            [b'"', b'b', b'p', b'l', b'"', b':', ..] => (12, 6),
            [b'"', b'a', b'p', b'h', b'"', b':', ..] => (13, 6),
            [b'"', b'u', b'p', b't', b'"', b':', ..] => (14, 6),
            _ => return None,
        };
        c.i += klen;
        match field {
            0 => (t.ts, seen) = (c.int()?, seen | 1),
            1 => (t.st, seen) = (c.int()?, seen | 2),
            2 => (t.cid, seen) = (c.int()?, seen | 4),
            3 => (t.tt, seen) = (TickType::from_storage_name(c.short_str()?)?, seen | 8),
            4 => (t.rid, seen) = (c.int()?, seen | 16),
            5 => t.p = Some(c.float()?),
            6 => t.s = Some(c.float()?),
            7 => t.bp = Some(c.float()?),
            8 => t.bs = Some(c.float()?),
            9 => t.ap = Some(c.float()?),
            10 => t.as_ = Some(c.float()?),
            11 => t.mp = Some(c.float()?),
            12 => t.bpl = Some(c.boolean()?),
            13 => t.aph = Some(c.boolean()?),
            _ => t.upt = Some(c.boolean()?),
        }
        match line.get(c.i) {
            Some(b',') => c.i += 1,
            Some(b'}') if c.i + 1 == line.len() && seen == 31 => return Some(()),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar_digits() {
        let w = u64::from_le_bytes(*b"17540102");
        assert!(eight_digits(w));
        assert_eq!(parse_eight(w), 17_540_102);
        assert!(!eight_digits(u64::from_le_bytes(*b"1754010,")));
        assert!(!eight_digits(u64::from_le_bytes(*b"17:40102")));
        let mut c = Cur {
            b: b"1754010291910988,",
            i: 0,
        };
        assert_eq!(c.int(), Some(1_754_010_291_910_988));
        let mut c = Cur {
            b: b"1234567890123456789",
            i: 0,
        };
        assert_eq!(c.int(), None, "19 digits go to the general path");
    }
}
