//! Property tests: random bytes, and random truncations and mutations of
//! valid files in every format, never panic and only give findings whose
//! offsets lie inside the file; the v3 protobuf decoder agrees with prost.
#![allow(clippy::unwrap_used)]

use ibstore::format::{Extension, Format};
use ibstore::proto::ib_stream::v3::TickMessage;
use ibstore::report::Severity;
use ibstore::scan::{FileScan as FileReport, ScanOptions as Options};
use ibstore::store::discover::Found;
use ibstore::store::layout::classify;
use ibstore::tick::{Tick, TickType};
use proptest::prelude::*;
use prost::Message as _;
use std::path::Path;

const HOUR: i64 = 1_754_010_000;

fn rel_for(format: Format) -> String {
    let name = if format.is_v3() {
        format!("7_last_{HOUR}")
    } else {
        "bg_7_last".to_owned()
    };
    let ver = if format.is_v3() { "v3" } else { "v2" };
    format!(
        "{ver}/{}/2025/08/01/01/{name}.{}",
        format.family_dir(),
        format.extension()
    )
}

fn run(dir: &Path, format: Format, bytes: &[u8]) -> FileReport {
    let rel = rel_for(format);
    let abs = dir.join(&rel);
    std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
    std::fs::write(&abs, bytes).unwrap();
    let ext = Extension::from_path(&abs).unwrap();
    let file = classify(&abs, rel, ext, bytes.len() as u64);
    ibstore::scan::scan(&Found { abs, file }, &Options::default())
}

fn assert_inside(r: &FileReport, len: usize) {
    for f in &r.findings {
        if let Some(o) = f.offset {
            let end = o + f.len.unwrap_or(0);
            assert!(end <= len as u64, "{f:?} ends past the {len}-byte file");
        }
    }
}

fn ticks(n: usize, seed: u64) -> Vec<Tick> {
    (0..n as i64)
        .map(|i| Tick {
            ts: (HOUR + 10 + i * 7) * 1_000_000 + seed as i64 % 1000,
            st: (HOUR + 10 + i * 7) * 1_000_000 + 500,
            cid: 7,
            tt: TickType::Last,
            rid: 60_000,
            p: Some(100.0 + i as f64 * 0.25),
            s: Some(1.0 + i as f64),
            ..Tick::default()
        })
        .collect()
}

fn encode(format: Format, ts: &[Tick]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut starts = Vec::new();
    for t in ts {
        starts.push(out.len());
        format.encode(t, &mut out).unwrap();
    }
    (out, starts)
}

fn formats() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(format in formats(), bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = format.decode(&bytes);
        let d = tempfile::tempdir().unwrap();
        let r = run(d.path(), format, &bytes);
        assert_inside(&r, bytes.len());
        if !bytes.is_empty() && r.records == 0 {
            prop_assert!(r.findings.iter().any(|f| f.severity == Severity::Error), "{:?}", r.findings);
        }
    }

    #[test]
    fn truncation_is_one_tail_finding_at_the_cut_record(format in formats(), n in 3usize..30, cut in 0.0f64..1.0, seed in any::<u64>()) {
        let (bytes, starts) = encode(format, &ticks(n, seed));
        let at = ((bytes.len() as f64) * cut) as usize;
        let d = tempfile::tempdir().unwrap();
        let r = run(d.path(), format, &bytes[..at]);
        assert_inside(&r, at);
        let whole = starts.iter().filter(|&&s| s < at).count();
        let on_boundary = at == 0 || starts.contains(&at);
        let errors: Vec<_> = r.findings.iter().filter(|f| f.severity == Severity::Error).collect();
        if on_boundary {
            prop_assert!(errors.iter().all(|f| f.kind == ibstore::report::Kind::EmptyFile), "{errors:?}");
            prop_assert_eq!(r.records as usize, whole);
        } else {
            let cut_start = *starts.iter().filter(|&&s| s < at).max().unwrap() as u64;
            if r.records as usize == whole {
                // A JSON line cut just before its newline still decodes.
                prop_assert!(format.is_json());
                prop_assert!(r.findings.iter().any(|f| f.kind == ibstore::report::Kind::MissingNewline && f.offset == Some(cut_start)));
            } else {
                prop_assert_eq!(r.records as usize, whole - 1);
                prop_assert_eq!(errors.len(), 1, "{:?}", errors);
                prop_assert_eq!(errors[0].kind, ibstore::report::Kind::TruncatedTail);
                prop_assert_eq!(errors[0].offset, Some(cut_start));
                prop_assert_eq!(errors[0].len, Some(at as u64 - cut_start));
            }
        }
    }

    #[test]
    fn mutations_never_panic_and_stay_inside(format in formats(), n in 1usize..20, seed in any::<u64>(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let (mut bytes, _) = encode(format, &ticks(n, seed));
        for (i, b) in edits {
            let k = i.index(bytes.len());
            bytes[k] = b;
        }
        let d = tempfile::tempdir().unwrap();
        let r = run(d.path(), format, &bytes);
        assert_inside(&r, bytes.len());
        prop_assert!(r.records as usize <= n + 8);
    }

    #[test]
    fn v3_pb_decoder_agrees_with_prost(ts in any::<i64>(), st in any::<i64>(), cid in any::<i32>(), rid in any::<i32>(), tt in 0usize..4,
        vals in prop::collection::vec(prop::option::of(any::<f64>()), 7), flags in prop::collection::vec(prop::option::of(any::<bool>()), 3)) {
        let m = TickMessage { ts, st, cid, tt: TickType::ALL[tt].as_str().into(), rid, p: vals[0], s: vals[1], bp: vals[2], bs: vals[3], ap: vals[4], r#as: vals[5], mp: vals[6], bpl: flags[0], aph: flags[1], upt: flags[2] };
        let body = m.encode_to_vec();
        let d = Format::V3Pb.decode(&body).unwrap();
        let back = TickMessage::decode(ibstore::format::v3_pb::encode(&d.tick).unwrap().as_slice()).unwrap();
        prop_assert_eq!(format!("{m:?}"), format!("{back:?}"));
        prop_assert_eq!((d.tick.ts, d.tick.st, d.tick.cid, d.tick.rid), (ts, st, i64::from(cid), i64::from(rid)));
    }

    #[test]
    fn every_format_round_trips_through_the_tick(format in formats(), n in 1usize..10, seed in any::<u64>()) {
        let t = ticks(n, seed);
        let (bytes, _) = encode(format, &t);
        let back: Vec<Tick> = format.decode_all(&bytes).into_iter().map(|(_, r)| r.unwrap().tick).collect();
        let want: Vec<Tick> = if format == Format::V2Pb { t.iter().map(|x| Tick { ts: x.st, ..*x }).collect() } else { t };
        prop_assert_eq!(back, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The v3 JSON fast path decodes exactly what the general scanner does,
    /// on valid lines and on mutations of them.
    #[test]
    fn v3_json_fast_path_agrees_with_general(seed in any::<u64>(), tt in 0usize..4, price in -1e6f64..1e7, edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(b"0123456789.-eE\",:{} nNtf\\x".to_vec())), 0..3)) {
        let t = Tick { ts: seed as i64 >> 8, st: seed as i64 >> 9, cid: (seed % 1000) as i64, tt: TickType::ALL[tt], rid: (seed % 77) as i64, p: Some(price), bs: Some((seed % 100) as f64), upt: Some(seed % 2 == 0), ..Tick::default() };
        let mut line = Vec::new();
        Format::V3Json.encode(&t, &mut line).unwrap();
        line.pop();
        for (i, b) in edits {
            let k = i.index(line.len());
            line[k] = b;
        }
        let fast = ibstore::format::v3_fast::decode(&line);
        let general = ibstore::format::v3_json::decode_general(&line);
        if let Some(f) = fast {
            let g = general.unwrap();
            prop_assert_eq!(format!("{:?}", f.tick), format!("{:?}", g.tick));
            prop_assert_eq!(f.notes, g.notes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The validator's fast "clean record" predicate says clean exactly when
    /// the detailed checks find nothing.
    #[test]
    fn clean_predicate_matches_the_detailed_checks(
        ts_off in -2_000_000_000i64..5_000_000_000, st_off in -100_000_000i64..5_000_000_000, cid in -1i64..3, tt in 0usize..4, name_cid in 0i64..3, name_tt in 0usize..4,
        vals in prop::collection::vec(prop::option::of(prop::sample::select(vec![1.5, 0.0, -1.0, f64::NAN, f64::INFINITY, 2.0])), 7),
        v3 in any::<bool>(), per_second in any::<bool>(), note in any::<bool>(),
    ) {
        use ibstore::format::{Note, Notes};
        use ibstore::scan::record::{check, is_clean, At};
        let base = HOUR * 1_000_000;
        let t = Tick { ts: base + ts_off, st: base + ts_off + st_off, cid, tt: TickType::ALL[tt], rid: 1, p: vals[0], s: vals[1], bp: vals[2], bs: vals[3], ap: vals[4], as_: vals[5], mp: vals[6], ..Tick::default() };
        let name_t = if per_second { HOUR + 5 } else { HOUR };
        let (rel, format) = if v3 {
            (format!("v3/json/2025/08/01/01/{name_cid}_{}_{name_t}.jsonl", TickType::ALL[name_tt]), Format::V3Json)
        } else {
            (format!("v2/json/2025/08/01/01/bg_{name_cid}_{}.jsonl", TickType::ALL[name_tt]), Format::V2Json)
        };
        let abs = Path::new("/s").join(&rel);
        let file = classify(&abs, rel, Extension::from_path(&abs).unwrap(), 1);
        let mut notes = Notes::default();
        if note {
            notes.add(Note::FloatInteger);
        }
        let mut found = Vec::new();
        check(&t, notes, &file, format.version(), At { file: "f", offset: 0, index: 1, len: 1 }, &mut |f| found.push(f));
        prop_assert_eq!(is_clean(&t, notes, &file, format.version()), found.is_empty(), "{:?}", found);
    }
}

#[test]
fn clean_predicate_accepts_clean_records_and_rejects_each_defect() {
    use ibstore::format::Notes;
    use ibstore::scan::record::{check, is_clean, At};
    let rel = format!("v3/json/2025/08/01/01/7_last_{HOUR}.jsonl");
    let abs = Path::new("/s").join(&rel);
    let file = classify(&abs, rel, Extension::from_path(&abs).unwrap(), 1);
    let good = Tick {
        ts: (HOUR + 60) * 1_000_000,
        st: (HOUR + 60) * 1_000_000 + 5,
        cid: 7,
        tt: TickType::Last,
        rid: 1,
        p: Some(1.5),
        s: Some(2.0),
        ..Tick::default()
    };
    let findings = |t: &Tick| {
        let mut v = Vec::new();
        check(
            t,
            Notes::default(),
            &file,
            ibstore::format::Version::V3,
            At {
                file: "f",
                offset: 0,
                index: 1,
                len: 1,
            },
            &mut |f| v.push(f.kind),
        );
        v
    };
    assert!(is_clean(
        &good,
        Notes::default(),
        &file,
        ibstore::format::Version::V3
    ));
    assert!(findings(&good).is_empty());
    use ibstore::report::Kind::*;
    let cases = [
        (
            Tick {
                p: Some(-1.0),
                ..good
            },
            InvalidValue,
        ),
        (
            Tick {
                s: Some(f64::NAN),
                ..good
            },
            InvalidValue,
        ),
        (
            Tick {
                bp: Some(1.0),
                ..good
            },
            ForeignField,
        ),
        (
            Tick {
                p: None,
                s: None,
                ..good
            },
            EmptyRecord,
        ),
        (Tick { cid: 8, ..good }, MisplacedRecord),
        (
            Tick {
                tt: TickType::AllLast,
                ..good
            },
            MisplacedRecord,
        ),
        (
            Tick {
                ts: (HOUR + 3600) * 1_000_000,
                st: (HOUR + 3600) * 1_000_000,
                ..good
            },
            MisplacedRecord,
        ),
        (
            Tick {
                st: good.ts - 61_000_000,
                ..good
            },
            StBeforeTs,
        ),
        (
            Tick {
                st: good.ts + 3_700_000_000,
                ..good
            },
            StAfterTs,
        ),
        (
            Tick {
                ts: 1_754_010_000,
                st: 1_754_010_000,
                ..good
            },
            InvalidValue,
        ),
    ];
    for (t, kind) in cases {
        assert!(
            !is_clean(&t, Notes::default(), &file, ibstore::format::Version::V3),
            "{kind:?}"
        );
        assert!(findings(&t).contains(&kind), "{kind:?}: {:?}", findings(&t));
    }
}

fn tracked_entry() -> impl Strategy<Value = ibstore::config::tracked::Entry> {
    (
        1u64..1_000_000_000,
        "[A-Z][A-Z0-9.]{0,6}",
        prop::sample::subsequence(TickType::ALL.to_vec(), 1..=4),
        1u32..100,
    )
        .prop_map(|(contract_id, symbol, tick_types, buffer_hours)| {
            ibstore::config::tracked::Entry {
                contract_id,
                symbol,
                tick_types,
                buffer_hours,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Valid tracked-contract lists round-trip exactly; a mutated one is
    /// rejected or flagged with a position inside the value.
    #[test]
    fn tracked_contracts_round_trip_and_mutations_are_located(entries in prop::collection::vec(tracked_entry(), 1..5), cut in any::<prop::sample::Index>(), junk in prop::sample::select(vec!["x", ":", ";", "", "-1", "lsat"])) {
        use ibstore::config::tracked::parse;
        let mut entries = entries;
        entries.dedup_by_key(|e| e.contract_id);
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| seen.insert(e.contract_id));
        let text = entries.iter().map(|e| e.to_text()).collect::<Vec<_>>().join(",");
        let (back, problems) = parse(&text, 10);
        prop_assert!(problems.is_empty(), "{:?}", problems);
        prop_assert_eq!(&back, &entries);
        // Replace one field with junk: something must be reported, inside the value.
        let fields: Vec<(usize, usize)> = text.match_indices([':', ',', ';']).map(|(i, _)| i).scan(0, |s, i| { let r = (*s, i); *s = i + 1; Some(r) }).collect();
        let (a, b) = fields[cut.index(fields.len())];
        let mutated = format!("{}{}{}", &text[..a], junk, &text[b..]);
        let (_, problems) = parse(&mutated, 10);
        if mutated != text && !matches!(junk, "") {
            let changed_symbol = text[..a].ends_with(':') && text[..a].matches(':').count() % 3 == 1 && junk != ":" && !junk.is_empty();
            if !changed_symbol {
                prop_assert!(!problems.is_empty(), "{mutated:?} passed");
            }
        }
        for p in &problems {
            prop_assert!(p.pos <= mutated.len(), "{:?} outside {:?}", p, mutated);
        }
    }
}

/// One line of a random JSONL file.
fn jsonl_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (0i64..3000, 0usize..3).prop_map(|(s, tt)| format!(r#"{{"ts":{},"st":{},"cid":7,"tt":"{}","rid":1,"p":1.5,"s":2.0}}"#, (HOUR + s) * 1_000_000, (HOUR + s) * 1_000_000 + 7, ["last", "all_last", "bid_ask"][tt]).into_bytes()),
        1 => Just(b"{\"ts\":17540,garbage".to_vec()),
        1 => Just(b"{\"ts\":1,\"tt\":\"\xff\"}".to_vec()),
        1 => Just(Vec::new()),
        1 => Just(b"\0\0\0{\"ts\":1754010001000000,\"st\":1754010001000000,\"cid\":7,\"tt\":\"last\",\"rid\":1,\"p\":1.0}".to_vec()),
        1 => Just(b"{\"ts\":1754010001000000,\"st\":1754010001000000,\"cid\":7,\"tt\":\"last\",\"rid\":1,\"p\":1.0}\r".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("SPLIT_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    /// A JSONL file validated in parallel parts gives exactly the report of
    /// the same file validated whole.
    #[test]
    fn split_validation_equals_whole(lines in prop::collection::vec(jsonl_line(), 1..120), tail in prop::sample::select(vec![&b""[..], b"{\"ts\":1754", b"\0\0\0\0"]), split in 1u64..400) {
        let mut bytes = Vec::new();
        for l in &lines {
            bytes.extend_from_slice(l);
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(tail);
        let d = tempfile::tempdir().unwrap();
        let rel = format!("v3/json/2025/08/01/01/7_last_{HOUR}.jsonl");
        let abs = d.path().join(&rel);
        std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
        std::fs::write(&abs, &bytes).unwrap();
        let file = classify(&abs, rel, Extension::from_path(&abs).unwrap(), bytes.len() as u64);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        let run = |split_bytes: u64| {
            let opts = Options { split_bytes, max_per_kind: 5, ..Options::default() };
            let found = Found { abs: abs.clone(), file: file.clone() };
            let mut r = pool.install(|| ibstore::scan::scan(&found, &opts));
            r.findings.sort_by(|a, b| (a.offset, a.kind, &a.message).cmp(&(b.offset, b.kind, &b.message)));
            (r.records, r.first_ts, r.last_ts, r.gaps, r.findings, r.spans, r.strays, r.duplicates, r.unterminated, r.crlf_lines, r.repeats)
        };
        let whole = run(u64::MAX);
        let parts = run(split);
        prop_assert_eq!(&parts, &whole);
    }
}

/// Every piece of a buffer, whole or fed in windows of `w` bytes (each
/// window presented with the unconsumed rest of the previous one); runs of
/// blank lines that cross a window end are merged.
fn framed(format: Format, buf: &[u8], w: Option<usize>) -> Vec<String> {
    use ibstore::format::piece::Piece;
    let mut out: Vec<String> = Vec::new();
    let mut blank: Option<(u64, u64, u64, u64)> = None;
    let mut push = |p: Piece<'_>| match p {
        Piece::Blank {
            offset,
            len,
            index,
            lines,
        } => match &mut blank {
            Some(b) if b.0 + b.1 == offset => {
                b.1 += len;
                b.3 += lines;
            }
            _ => {
                if let Some(b) = blank.take() {
                    out.push(format!("blank@{}+{}#{}x{}", b.0, b.1, b.2, b.3));
                }
                blank = Some((offset, len, index, lines));
            }
        },
        other => {
            if let Some(b) = blank.take() {
                out.push(format!("blank@{}+{}#{}x{}", b.0, b.1, b.2, b.3));
            }
            out.push(other.describe());
        }
    };
    let mut f = format.framer();
    match w {
        None => {
            f.feed(buf, 0, true, &mut push);
        }
        Some(w) => {
            let mut carry = Vec::new();
            let (mut base, mut pos) = (0u64, 0usize);
            loop {
                let take = w.min(buf.len() - pos);
                carry.extend_from_slice(&buf[pos..pos + take]);
                pos += take;
                let eof = pos == buf.len();
                let used = f.feed(&carry, base, eof, &mut push);
                if eof {
                    assert_eq!(used, carry.len());
                    break;
                }
                carry.drain(..used);
                base += used as u64;
            }
        }
    }
    if let Some(b) = blank {
        out.push(format!("blank@{}+{}#{}x{}", b.0, b.1, b.2, b.3));
    }
    out
}

/// Bytes that look like a damaged file: valid records, newlines, NUL
/// blocks, prefixes, garbage.
fn damaged_bytes(format: Format) -> impl Strategy<Value = Vec<u8>> {
    let rec =
        (1usize..6, any::<u64>()).prop_map(move |(n, seed)| encode(format, &ticks(n, seed)).0);
    let piece = prop_oneof![
        4 => rec,
        1 => prop::collection::vec(Just(0u8), 1..40),
        1 => prop::collection::vec(Just(b'\n'), 1..20),
        1 => prop::collection::vec(any::<u8>(), 1..12),
        1 => Just(vec![0, 0, 0, 9]),
        1 => Just(vec![9, 0, 0, 0]),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The streaming framers give the same pieces whatever the windows, and
    /// every byte of the file is in exactly one piece (or, after a NUL run,
    /// a terminator that belongs to no line).
    #[test]
    fn framing_in_windows_equals_framing_whole(format in formats(), bytes in formats().prop_flat_map(damaged_bytes), w in 1usize..64) {
        let whole = framed(format, &bytes, None);
        let windows = framed(format, &bytes, Some(w));
        prop_assert_eq!(&windows, &whole);
        let mut covered = 0u64;
        let mut f = format.framer();
        f.feed(&bytes, 0, true, &mut |p| {
            let (o, l) = p.span();
            assert!(o >= covered, "{o} < {covered}");
            covered = o + l;
        });
        prop_assert!(covered <= bytes.len() as u64);
    }
}
