//! Checks of one decoded record: values (spec §8, §9), the tick type's field
//! set, and placement in its file (spec §2.3 for v3, §2.2 for v2). Value
//! oddities become findings; a record that belongs in another file is also
//! returned as a typed [`Stray`] for the commands that move it.

use crate::format::{Note, Notes, Version};
use crate::report::{Finding, Kind};
use crate::store::layout::{DataFile, Layout};
use crate::store::naming::FileName;
use crate::tick::{Field, Tick, TickType};
use crate::time::{self, HOUR, US};

/// Earliest plausible µs time (2000-01-01T00:00:00Z).
pub const MIN_TIME_US: i64 = 946_684_800 * US;
/// Latest plausible µs time (2100-01-01T00:00:00Z).
pub const MAX_TIME_US: i64 = 4_102_444_800 * US;
/// v2 hour folders are the flush time: an envelope time this far before the
/// folder's hour is write batching (warning); further is misplaced (error).
pub const V2_SPILLOVER_US: i64 = 120 * US;
/// Event time more than this after system time is suspicious.
pub const MAX_TS_AHEAD_US: i64 = 60 * US;
/// System time more than this after event time marks converted data.
pub const MAX_ST_LAG_US: i64 = HOUR * US;

/// Where a record sits, for messages.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    /// Report path.
    pub file: &'a str,
    /// Byte offset.
    pub offset: u64,
    /// Line or frame number.
    pub index: u64,
    /// Bytes the record occupies (terminator or prefix included).
    pub len: u64,
}

impl At<'_> {
    fn f(&self, kind: Kind, msg: String) -> Finding {
        Finding::new(kind, self.file, msg)
            .at(self.offset, Some(self.index))
            .len(self.len)
    }
}

/// The file a record belongs in: its contract, tick type and UTC hour
/// (epoch seconds) of `ts` (v3) or of the envelope time (v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Home {
    /// Contract id.
    pub cid: i64,
    /// Tick type.
    pub tt: TickType,
    /// Hour start, epoch seconds.
    pub hour: i64,
}

/// A record outside the file it belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stray {
    /// Where it belongs.
    pub home: Home,
    /// v2 only: it is in the next hour's file within the write-batching
    /// tolerance (a warning, not an error).
    pub spillover: bool,
}

impl Home {
    /// The home of a record read as v3 (`ts` hour) or v2 (envelope hour).
    pub fn of(t: &Tick, version: Version) -> Self {
        let time = if version == Version::V3 { t.ts } else { t.st };
        let sec = time.div_euclid(US);
        Self {
            cid: t.cid,
            tt: t.tt,
            hour: sec - sec.rem_euclid(HOUR),
        }
    }
}

/// What a file's name and folder promise of every record in it, worked out
/// once per file so the clean-record test is a few comparisons.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    cid: Option<i64>,
    tt: Option<TickType>,
    /// The record time checked (`ts` for v3 content, `st` for v2) must lie
    /// in `lo..hi` µs, or in `alt` (a per-second v3 file's one second).
    time: TimeWindow,
}

#[derive(Debug, Clone, Copy)]
enum TimeWindow {
    Any,
    Ts { lo: i64, hi: i64, alt: (i64, i64) },
    St { lo: i64, hi: i64 },
}

impl Expect {
    /// The promises of `file` for content of the given version.
    pub fn of(file: &DataFile, version: Version) -> Self {
        let (cid, tt) = match file.name.contract() {
            Some((cid, tt)) => (Some(cid), tt),
            None => (None, None),
        };
        let time = match (file.hour, &file.name) {
            (None, _) => TimeWindow::Any,
            (Some(_), FileName::V3 { t, .. }) if version == Version::V3 => {
                let second = (t * US, (t + 1) * US);
                if t % HOUR == 0 {
                    TimeWindow::Ts {
                        lo: t * US,
                        hi: (t + HOUR) * US,
                        alt: second,
                    }
                } else {
                    TimeWindow::Ts {
                        lo: second.0,
                        hi: second.1,
                        alt: second,
                    }
                }
            }
            (Some(hour), _)
                if version == Version::V2
                    && matches!(file.layout, Layout::LegacyV2 | Layout::V2) =>
            {
                TimeWindow::St {
                    lo: hour * US,
                    hi: (hour + HOUR) * US,
                }
            }
            (Some(_), _) => TimeWindow::Any,
        };
        Self { cid, tt, time }
    }

    /// Whether a record passes every check without a finding (see [`is_clean`]).
    #[inline]
    pub fn clean(&self, t: &Tick, notes: Notes) -> bool {
        let times = (MIN_TIME_US..MAX_TIME_US).contains(&t.ts)
            && (MIN_TIME_US..MAX_TIME_US).contains(&t.st)
            && t.ts - t.st <= MAX_TS_AHEAD_US
            && t.st - t.ts <= MAX_ST_LAG_US;
        let place = match self.time {
            TimeWindow::Any => true,
            TimeWindow::Ts { lo, hi, alt } => {
                (lo..hi).contains(&t.ts) || (alt.0..alt.1).contains(&t.ts)
            }
            TimeWindow::St { lo, hi } => (lo..hi).contains(&t.st),
        };
        times
            && place
            && t.cid > 0
            && self.cid.is_none_or(|c| c == t.cid)
            && self.tt.is_none_or(|tt| tt == t.tt)
            && notes == Notes::default()
            && clean_values(t)
    }
}

/// The value and field-set part of the clean-record test.
#[inline]
fn clean_values(t: &Tick) -> bool {
    // NaN fails every comparison, infinity the upper bound.
    let price = |v: Option<f64>| v.is_none_or(|v| v > 0.0 && v < f64::INFINITY);
    let size = |v: Option<f64>| v.is_none_or(|v| (0.0..f64::INFINITY).contains(&v));
    match t.tt {
        TickType::BidAsk => {
            (t.bp.is_some() || t.bs.is_some() || t.ap.is_some() || t.as_.is_some())
                && price(t.bp)
                && price(t.ap)
                && size(t.bs)
                && size(t.as_)
                && t.p.is_none()
                && t.s.is_none()
                && t.mp.is_none()
        }
        TickType::Last | TickType::AllLast => {
            (t.p.is_some() || t.s.is_some())
                && price(t.p)
                && size(t.s)
                && t.bp.is_none()
                && t.bs.is_none()
                && t.ap.is_none()
                && t.as_.is_none()
                && t.mp.is_none()
        }
        TickType::MidPoint => {
            t.mp.is_some()
                && price(t.mp)
                && t.p.is_none()
                && t.s.is_none()
                && t.bp.is_none()
                && t.bs.is_none()
                && t.ap.is_none()
                && t.as_.is_none()
        }
    }
}

/// Runs every record-level check, pushing findings into `out`; returns
/// where the record belongs when that is not its file.
#[inline]
pub fn check(
    t: &Tick,
    notes: Notes,
    file: &DataFile,
    version: Version,
    at: At<'_>,
    out: &mut impl FnMut(Finding),
) -> Option<Stray> {
    check_expecting(&Expect::of(file, version), t, notes, file, version, at, out)
}

/// [`check`] with the file's promises worked out once.
#[inline]
pub fn check_expecting(
    expect: &Expect,
    t: &Tick,
    notes: Notes,
    file: &DataFile,
    version: Version,
    at: At<'_>,
    out: &mut impl FnMut(Finding),
) -> Option<Stray> {
    if expect.clean(t, notes) {
        return None;
    }
    check_all(t, notes, file, version, at, out)
}

/// Whether a record passes every check below without a finding: a branch-light
/// predicate for the common case, so only unusual records pay for the
/// detailed checks. A property test keeps it in step with them.
pub fn is_clean(t: &Tick, notes: Notes, file: &DataFile, version: Version) -> bool {
    Expect::of(file, version).clean(t, notes)
}

fn check_all(
    t: &Tick,
    notes: Notes,
    file: &DataFile,
    version: Version,
    at: At<'_>,
    out: &mut impl FnMut(Finding),
) -> Option<Stray> {
    values(t, at, out);
    payload(t, at, out);
    oddities(notes, at, out);
    placement(t, file, version, at, out)
}

fn values(t: &Tick, at: At<'_>, out: &mut impl FnMut(Finding)) {
    for (name, v) in [("ts", t.ts), ("st", t.st)] {
        if !(MIN_TIME_US..MAX_TIME_US).contains(&v) {
            out(at.f(
                Kind::InvalidValue,
                format!("{name} = {v} is not a plausible time in µs since 1970 (years 2000–2099)"),
            ));
        }
    }
    if t.cid < 0 {
        out(at.f(
            Kind::InvalidValue,
            format!("contract id {} is negative", t.cid),
        ));
    }
    if t.ts - t.st > MAX_TS_AHEAD_US {
        out(at.f(
            Kind::StBeforeTs,
            format!(
                "event time ts is {:.1} s after system time st",
                (t.ts - t.st) as f64 / 1e6
            ),
        ));
    } else if t.st - t.ts > MAX_ST_LAG_US {
        out(at.f(
            Kind::StAfterTs,
            format!(
                "system time st is {:.1} h after event time ts (converted data, spec §9.3)",
                (t.st - t.ts) as f64 / 3.6e9
            ),
        ));
    }
}

/// One pass over the present values: domain, and the tick type's field set.
fn payload(t: &Tick, at: At<'_>, out: &mut impl FnMut(Finding)) {
    let mut own = 0;
    for (f, v) in [
        (Field::P, t.p),
        (Field::S, t.s),
        (Field::Bp, t.bp),
        (Field::Bs, t.bs),
        (Field::Ap, t.ap),
        (Field::As, t.as_),
        (Field::Mp, t.mp),
    ] {
        let Some(v) = v else { continue };
        let ok = if f.is_price() {
            v.is_finite() && v > 0.0
        } else {
            v.is_finite() && v >= 0.0
        };
        if !ok {
            let want = if f.is_price() {
                "a finite price > 0"
            } else {
                "a finite size ≥ 0"
            };
            out(at.f(
                Kind::InvalidValue,
                format!("{} = {v} is not {want}", f.key()),
            ));
        }
        if t.tt.owns(f) {
            own += 1;
        } else {
            out(at.f(
                Kind::ForeignField,
                format!(
                    "{} record carries `{}`, a field of another tick type",
                    t.tt,
                    f.key()
                ),
            ));
        }
    }
    if own == 0 {
        if t.tt == TickType::MidPoint {
            out(at.f(
                Kind::MissingMidValue,
                "mid_point record without a value (the recorder lost mid values, spec §16.5)"
                    .into(),
            ));
        } else {
            out(at.f(
                Kind::EmptyRecord,
                format!("{} record without any of its values", t.tt),
            ));
        }
    }
    if t.cid == 0 {
        out(at.f(
            Kind::ZeroContractId,
            "contract id 0 (client streams of the HEAD writer, spec §9.4)".into(),
        ));
    }
}

fn oddities(notes: Notes, at: At<'_>, out: &mut impl FnMut(Finding)) {
    if notes == Notes::default() {
        return;
    }
    // `unknown_key` is reported by the scan, which has the record's bytes
    // to name the key.
    let list = [
        (
            Note::FloatInteger,
            Kind::FloatInteger,
            "an integer field is written as a float",
        ),
        (
            Note::PascalTickType,
            Kind::PascalTickType,
            "tick type in IB's PascalCase (spec §9.3)",
        ),
        (
            Note::NoEventTime,
            Kind::NoEventTime,
            "no unix_time: event time taken from the envelope (test-script data)",
        ),
        (
            Note::OffsetZ,
            Kind::OffsetZTimestamp,
            "envelope timestamp ends in the malformed `+00:00Z`: the recorder's v2 reader cannot parse it and skips the record",
        ),
        (
            Note::NonBoolFlag,
            Kind::NonBoolFlag,
            "a flag is given as a number or null",
        ),
        (
            Note::IdsFromData,
            Kind::IdsFromData,
            "contract id or tick type only in the tick data, not in `metadata`",
        ),
    ];
    for (n, kind, what) in list {
        if notes.has(n) {
            out(at.f(kind, what.into()));
        }
    }
}

fn placement(
    t: &Tick,
    file: &DataFile,
    version: Version,
    at: At<'_>,
    out: &mut impl FnMut(Finding),
) -> Option<Stray> {
    let mut misplaced = false;
    if let Some((cid, tt)) = file.name.contract() {
        if t.cid != cid {
            misplaced = true;
            out(at.f(
                Kind::MisplacedRecord,
                format!(
                    "record of contract {} in a file named for contract {cid}",
                    t.cid
                ),
            ));
        }
        if let Some(tt) = tt.filter(|tt| *tt != t.tt) {
            misplaced = true;
            out(at.f(
                Kind::MisplacedRecord,
                format!("{} record in a file named for {tt}", t.tt),
            ));
        }
    }
    let stray = |spillover| {
        Some(Stray {
            home: Home::of(t, version),
            spillover,
        })
    };
    let Some(hour) = file.hour else {
        return if misplaced { stray(false) } else { None };
    };
    match &file.name {
        FileName::V3 { t: name_t, .. } if version == Version::V3 => {
            let sec = t.ts.div_euclid(US);
            let hourly = name_t % HOUR == 0 && (*name_t..name_t + HOUR).contains(&sec);
            if !hourly && sec != *name_t {
                misplaced = true;
                out(at.f(
                    Kind::MisplacedRecord,
                    format!(
                        "ts {} lies outside the file's {} {}",
                        time::display_us(t.ts),
                        if name_t % HOUR == 0 {
                            "hour starting"
                        } else {
                            "second"
                        },
                        time::display_us(name_t * US)
                    ),
                ));
            }
        }
        _ if version == Version::V2 && matches!(file.layout, Layout::LegacyV2 | Layout::V2) => {
            let start = hour * US;
            if t.st >= start + HOUR * US || t.st < start - V2_SPILLOVER_US {
                misplaced = true;
                out(at.f(
                    Kind::MisplacedRecord,
                    format!(
                        "envelope time {} is outside the folder's hour {}",
                        time::display_us(t.st),
                        time::hour_folder(hour)
                    ),
                ));
            } else if t.st < start {
                out(at.f(
                    Kind::V2Spillover,
                    format!(
                        "envelope time {} is just before the folder's hour (write batching)",
                        time::display_us(t.st)
                    ),
                ));
                if !misplaced {
                    return stray(true);
                }
            }
        }
        _ => {}
    }
    if misplaced {
        stray(false)
    } else {
        None
    }
}
