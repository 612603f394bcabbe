//! The one canonical tick record every format decodes into and encodes from.
//!
//! Field names follow the v3 `TickMessage` (spec §5.2, §15). Times are µs since
//! the Unix epoch. v2-only information that has a v3 home is mapped into it
//! (spec §9.3); `past_limit`, which v3 has no field for, is kept so that v2→v2
//! round trips stay lossless.

use std::fmt;

/// The four canonical (storage) tick types of spec §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum TickType {
    /// Bid/ask quotes: `bp`, `bs`, `ap`, `as`.
    #[default]
    BidAsk,
    /// Trades (`Last` request): `p`, `s`.
    Last,
    /// Trades (`AllLast` request): `p`, `s`.
    AllLast,
    /// Mid points: `mp`.
    MidPoint,
}

impl TickType {
    /// All tick types, in canonical order.
    pub const ALL: [TickType; 4] = [Self::BidAsk, Self::Last, Self::AllLast, Self::MidPoint];

    /// The snake_case storage name (`bid_ask`, `last`, `all_last`, `mid_point`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BidAsk => "bid_ask",
            Self::Last => "last",
            Self::AllLast => "all_last",
            Self::MidPoint => "mid_point",
        }
    }

    /// Parses the snake_case storage name.
    #[inline]
    pub fn from_storage_name(s: &[u8]) -> Option<Self> {
        // By length first: one comparison of a few bytes, no memcmp call.
        match (s.len(), s) {
            (7, b"bid_ask") => Some(Self::BidAsk),
            (4, b"last") => Some(Self::Last),
            (8, b"all_last") => Some(Self::AllLast),
            (9, b"mid_point") => Some(Self::MidPoint),
            _ => None,
        }
    }

    /// Parses IB's PascalCase request names (`BidAsk`, `Last`, `AllLast`,
    /// `MidPoint`), which some writers stored verbatim (spec §9.3 step 6, §16.11).
    pub fn from_tws_name(s: &[u8]) -> Option<Self> {
        match s {
            b"BidAsk" => Some(Self::BidAsk),
            b"Last" => Some(Self::Last),
            b"AllLast" => Some(Self::AllLast),
            b"MidPoint" => Some(Self::MidPoint),
            _ => None,
        }
    }

    /// Whether `Tick` payload field `f` belongs to this tick type (spec §8).
    pub fn owns(self, f: Field) -> bool {
        match self {
            Self::BidAsk => matches!(f, Field::Bp | Field::Bs | Field::Ap | Field::As),
            Self::Last | Self::AllLast => matches!(f, Field::P | Field::S),
            Self::MidPoint => matches!(f, Field::Mp),
        }
    }
}

impl fmt::Display for TickType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The numeric payload fields of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Trade price.
    P,
    /// Trade size.
    S,
    /// Bid price.
    Bp,
    /// Bid size.
    Bs,
    /// Ask price.
    Ap,
    /// Ask size.
    As,
    /// Mid point.
    Mp,
}

impl Field {
    /// All payload fields in v3 key order.
    pub const ALL: [Field; 7] = [
        Self::P,
        Self::S,
        Self::Bp,
        Self::Bs,
        Self::Ap,
        Self::As,
        Self::Mp,
    ];

    /// The v3 key.
    pub fn key(self) -> &'static str {
        match self {
            Self::P => "p",
            Self::S => "s",
            Self::Bp => "bp",
            Self::Bs => "bs",
            Self::Ap => "ap",
            Self::As => "as",
            Self::Mp => "mp",
        }
    }

    /// Whether the field is a price (must be finite and > 0) rather than a size.
    pub fn is_price(self) -> bool {
        matches!(self, Self::P | Self::Bp | Self::Ap | Self::Mp)
    }
}

/// One tick, whatever format it came from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tick {
    /// Event (IB) time, µs since epoch.
    pub ts: i64,
    /// System time when the record was created, µs since epoch.
    pub st: i64,
    /// IB contract id (0 for some writers, spec §16.7).
    pub cid: i64,
    /// Tick type.
    pub tt: TickType,
    /// Request id (spec §10).
    pub rid: i64,
    /// Trade price.
    pub p: Option<f64>,
    /// Trade size.
    pub s: Option<f64>,
    /// Bid price.
    pub bp: Option<f64>,
    /// Bid size.
    pub bs: Option<f64>,
    /// Ask price.
    pub ap: Option<f64>,
    /// Ask size.
    pub as_: Option<f64>,
    /// Mid point.
    pub mp: Option<f64>,
    /// Bid past low.
    pub bpl: Option<bool>,
    /// Ask past high.
    pub aph: Option<bool>,
    /// Unreported trade.
    pub upt: Option<bool>,
    /// v2 `past_limit` (no v3 field).
    pub past_limit: Option<bool>,
}

impl Tick {
    /// The value of a payload field.
    pub fn get(&self, f: Field) -> Option<f64> {
        match f {
            Field::P => self.p,
            Field::S => self.s,
            Field::Bp => self.bp,
            Field::Bs => self.bs,
            Field::Ap => self.ap,
            Field::As => self.as_,
            Field::Mp => self.mp,
        }
    }

    /// Mutable access to a payload field.
    pub fn slot(&mut self, f: Field) -> &mut Option<f64> {
        match f {
            Field::P => &mut self.p,
            Field::S => &mut self.s,
            Field::Bp => &mut self.bp,
            Field::Bs => &mut self.bs,
            Field::Ap => &mut self.ap,
            Field::As => &mut self.as_,
            Field::Mp => &mut self.mp,
        }
    }

    /// A 64-bit hash of every field (`with_st`), or of every field but `st`.
    /// Equal records have equal keys; equal keys are only candidates, to be
    /// confirmed with [`Tick::same`] before anything is removed.
    pub fn key(&self, with_st: bool) -> u64 {
        let (full, nost) = self.keys();
        if with_st {
            full
        } else {
            nost
        }
    }

    /// Both keys of [`Tick::key`] in one pass: `(with st, without st)`.
    /// Two independent lanes, so the multiplications overlap.
    #[inline]
    pub fn keys(&self) -> (u64, u64) {
        if cfg!(debug_assertions) && test_collisions() {
            return (0, 0);
        }
        let v = |f: Option<f64>| f.map_or(u64::MAX - 1, f64::to_bits);
        let mut flags = 0u64;
        for b in [self.bpl, self.aph, self.upt, self.past_limit] {
            flags = flags << 2 | b.map_or(2, u64::from);
        }
        let mut a = Fnv::default();
        let mut b = Fnv(0x8422_2325_cbf2_9ce4);
        a.word(self.ts as u64);
        b.word(self.cid as u64);
        a.word(self.tt as u64 | (self.rid as u64) << 8);
        b.word(v(self.p));
        a.word(v(self.s));
        b.word(v(self.bp));
        a.word(v(self.bs));
        b.word(v(self.ap));
        a.word(v(self.as_));
        b.word(v(self.mp));
        a.word(flags);
        let nost = a.0 ^ b.0.rotate_left(32);
        let mut full = Fnv(nost);
        full.word(self.st as u64);
        (full.0, nost)
    }

    /// Whether two records are equal in every field (`with_st`) or in every
    /// field but `st`; prices compare bit for bit (a NaN equals itself).
    pub fn same(&self, other: &Tick, with_st: bool) -> bool {
        let bits = |v: Option<f64>| v.map(f64::to_bits);
        (self.ts, self.cid, self.tt, self.rid) == (other.ts, other.cid, other.tt, other.rid)
            && (!with_st || self.st == other.st)
            && Field::ALL
                .iter()
                .all(|&f| bits(self.get(f)) == bits(other.get(f)))
            && (self.bpl, self.aph, self.upt, self.past_limit)
                == (other.bpl, other.aph, other.upt, other.past_limit)
    }
}

/// Debug builds only: `IBSTORE_TEST_COLLIDE=1` gives every record the same
/// key, to prove that no decision rests on a hash alone.
fn test_collisions() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("IBSTORE_TEST_COLLIDE").is_some())
}

/// A word-at-a-time mixing hash (fast, no allocation, deterministic).
#[derive(Debug)]
struct Fnv(u64);
impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}
impl Fnv {
    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in TickType::ALL {
            assert_eq!(TickType::from_storage_name(t.as_str().as_bytes()), Some(t));
        }
        assert_eq!(TickType::from_tws_name(b"AllLast"), Some(TickType::AllLast));
        assert_eq!(TickType::from_storage_name(b"Last"), None);
    }

    #[test]
    fn keys_and_equality_with_and_without_st() {
        let a = Tick {
            ts: 5,
            st: 6,
            cid: 1,
            bp: Some(1.5),
            ..Tick::default()
        };
        let b = Tick { st: 99, ..a };
        let c = Tick {
            bp: Some(1.25),
            ..a
        };
        assert_eq!(a.key(false), b.key(false));
        assert_ne!(a.key(true), b.key(true));
        assert_ne!(a.key(false), c.key(false));
        assert!(a.same(&b, false) && !a.same(&b, true) && !a.same(&c, false));
        let nan = Tick {
            p: Some(f64::NAN),
            ..a
        };
        assert!(nan.same(&nan, true));
    }
}
