//! File-name shapes (spec §2.2, §2.3): v3 `{cid}_{tt}_{T}` and the v2 stream
//! ids `bg_{cid}_{tt}`, `{cid}_{tt}_{ms}_{rand4}`, `{cid}_multi_…`,
//! `req_{rid}_{sec}` and free text.

use crate::tick::TickType;

/// What a data file's name (without extensions) says about its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileName {
    /// v3 `{cid}_{tt}_{T}`; `t` is an hour start or a per-second stamp.
    V3 {
        /// Contract id.
        cid: i64,
        /// Tick type.
        tt: TickType,
        /// Epoch seconds in the name.
        t: i64,
    },
    /// v2 background stream `bg_{cid}_{tt}`.
    Background {
        /// Contract id.
        cid: i64,
        /// Tick type.
        tt: TickType,
    },
    /// v2 client stream `{cid}_{tt}_{epoch_ms}_{rand4}`.
    Client {
        /// Contract id.
        cid: i64,
        /// Tick type.
        tt: TickType,
    },
    /// v2 multi-type client stream `{cid}_multi_…`.
    Multi {
        /// Contract id.
        cid: i64,
    },
    /// v2 `req_{request_id}_{epoch_seconds}`.
    Request {
        /// Request id.
        rid: i64,
    },
    /// Anything else (tests, hand-made files).
    Other,
}

fn int(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn tt(s: &str) -> Option<TickType> {
    TickType::from_storage_name(s.as_bytes())
}

impl FileName {
    /// Parses a v3 name: first `_` token = cid, last = T, between = tick type.
    pub fn parse_v3(stem: &str) -> Option<Self> {
        let (cid, rest) = stem.split_once('_')?;
        let (tick, t) = rest.rsplit_once('_')?;
        Some(Self::V3 {
            cid: int(cid)?,
            tt: tt(tick)?,
            t: int(t)?,
        })
    }

    /// Parses a v2 stream id.
    pub fn parse_v2(stem: &str) -> Self {
        if let Some(rest) = stem.strip_prefix("bg_") {
            if let Some((c, t)) = rest.split_once('_') {
                if let (Some(cid), Some(tt)) = (int(c), tt(t)) {
                    return Self::Background { cid, tt };
                }
            }
        }
        if let Some(rest) = stem.strip_prefix("req_") {
            if let Some((r, s)) = rest.split_once('_') {
                if let (Some(rid), Some(_)) = (int(r), int(s)) {
                    return Self::Request { rid };
                }
            }
        }
        let parts: Vec<&str> = stem.split('_').collect();
        if parts.len() >= 4 {
            if let Some(cid) = int(parts[0]) {
                if parts[1] == "multi" {
                    return Self::Multi { cid };
                }
                let n = parts.len();
                let middle = parts[1..n - 2].join("_");
                if let (Some(tt), Some(_), Some(r)) =
                    (tt(&middle), int(parts[n - 2]), int(parts[n - 1]))
                {
                    if (1000..=9999).contains(&r) {
                        return Self::Client { cid, tt };
                    }
                }
            }
        }
        Self::Other
    }

    /// Contract id and tick type the name promises, where it promises them.
    pub fn contract(&self) -> Option<(i64, Option<TickType>)> {
        match *self {
            Self::V3 { cid, tt, .. } | Self::Background { cid, tt } | Self::Client { cid, tt } => {
                Some((cid, Some(tt)))
            }
            Self::Multi { cid } => Some((cid, None)),
            Self::Request { .. } | Self::Other => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_spec_2() {
        assert_eq!(
            FileName::parse_v3("711280073_bid_ask_1754010000"),
            Some(FileName::V3 {
                cid: 711280073,
                tt: TickType::BidAsk,
                t: 1754010000
            })
        );
        assert_eq!(
            FileName::parse_v3("0_all_last_1754010000"),
            Some(FileName::V3 {
                cid: 0,
                tt: TickType::AllLast,
                t: 1754010000
            })
        );
        assert_eq!(FileName::parse_v3("bg_711280073_bid_ask"), None);
        assert_eq!(
            FileName::parse_v2("bg_711280073_mid_point"),
            FileName::Background {
                cid: 711280073,
                tt: TickType::MidPoint
            }
        );
        assert_eq!(
            FileName::parse_v2("711280073_bid_ask_1754008313914_3520"),
            FileName::Client {
                cid: 711280073,
                tt: TickType::BidAsk
            }
        );
        assert_eq!(
            FileName::parse_v2("265598_multi_bid_ask_last_1754008313914_1234"),
            FileName::Multi { cid: 265598 }
        );
        assert_eq!(
            FileName::parse_v2("req_60000_1752184129"),
            FileName::Request { rid: 60000 }
        );
        assert_eq!(FileName::parse_v2("test_stream_0"), FileName::Other);
    }
}
