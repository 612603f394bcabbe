//! `--html FILE`: one self-contained page (no external request: inline CSS
//! and SVG, no script) with a stream × hour grid coloured by what each
//! hour lost, gained or changed, the per-stream table and the allowances.
//! Large reports are aggregated: at most [`MAX_COLS`] × [`MAX_ROWS`] cells,
//! each showing the worst status of the stream-hours it covers.

use super::{CompareReport, HourDiff, Status};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Most grid columns (hours) drawn.
pub const MAX_COLS: usize = 500;
/// Most grid rows (streams) drawn.
pub const MAX_ROWS: usize = 250;

/// Cell classes, from least to most severe, with their colours.
const CLASSES: [(&str, &str, &str); 7] = [
    ("none", "#ffffff", "no records on either side"),
    (
        "same",
        "#b7e1b0",
        "same (or no records on either side inside the stream's range)",
    ),
    ("moved", "#9467bd", "records moved between files"),
    (
        "extra",
        "#1f77b4",
        "extra records / hour only in the new store",
    ),
    ("changed", "#ff7f0e", "changed records"),
    ("lost", "#d62728", "lost records / missing hour"),
    ("damaged", "#222222", "damaged file"),
];

fn class(h: &HourDiff) -> usize {
    match h.status {
        Status::Damaged => 6,
        Status::Missing => 5,
        _ if h.lost > 0 || h.new_gaps > 0 => 5,
        _ if h.changed > 0 => 4,
        Status::Added => 3,
        _ if h.extra > 0 => 3,
        Status::Moved => 2,
        _ => 1,
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// The page.
pub fn page(r: &CompareReport) -> String {
    let s = r.summary();
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>ibstore compare</title><style>\
body{{font:14px sans-serif;margin:1em}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}\
td:first-child,th:first-child{{text-align:left}}.bad{{color:#d62728;font-weight:bold}}\
.sw{{display:inline-block;width:12px;height:12px;border:1px solid #888;margin:0 4px 0 12px}}\
</style></head><body>\n<h1>ibstore compare</h1>\n"
    );
    let _ = writeln!(
        o,
        "<p>old: {} <b>{}</b> ({} files, {} records)<br>new: {} <b>{}</b> ({} files, {} records)</p>",
        esc(&s.old.path), s.old.format, s.old.files, s.old.records,
        esc(&s.new.path), s.new.format, s.new.files, s.new.records
    );
    let _ = writeln!(
        o,
        "<p id=\"verdict\" class=\"{}\">{}: {} lost, {} extra, {} changed records; {} missing, {} added, {} differing, {} moved, {} damaged hours; {} new gaps</p>",
        if s.exit_code == 0 { "" } else { "bad" },
        if s.exit_code == 0 { "nothing lost or changed" } else { "differences found" },
        s.lost, s.extra, s.changed, s.missing_hours, s.added_hours, s.differing_hours,
        s.moved_hours, s.damaged_hours, s.new_gaps
    );
    grid(r, &mut o);
    o.push_str("<h2>Allowances</h2>\n");
    if s.allowances.is_empty() {
        o.push_str("<p>none needed or given</p>\n");
    } else {
        o.push_str(
            "<table><tr><th>mapping</th><th>what</th><th>old records</th><th>allowed</th></tr>\n",
        );
        for m in &s.allowances {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                m.kind.name(),
                esc(m.what),
                m.records,
                if m.allowed {
                    "yes"
                } else {
                    "<span class=\"bad\">no</span>"
                }
            );
        }
        o.push_str("</table>\n");
    }
    if !s.not_compared.is_empty() {
        let _ = writeln!(
            o,
            "<p>not compared: {}</p>",
            esc(&s.not_compared.join(", "))
        );
    }
    o.push_str("<h2>Streams</h2>\n<table><tr><th>stream</th><th>status</th><th>old records</th><th>new records</th><th>lost</th><th>extra</th><th>changed</th><th>missing hours</th><th>added hours</th><th>moved hours</th><th>damaged hours</th><th>new gaps</th></tr>\n");
    for st in &r.streams {
        let _ = writeln!(
            o,
            "<tr><td>{}_{}</td><td{}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            st.contract_id, st.tick_type,
            if st.status == "same" { "" } else { " class=\"bad\"" },
            st.status, st.old_records, st.new_records, st.lost, st.extra, st.changed,
            st.missing_hours, st.added_hours, st.moved_hours, st.damaged_hours, st.new_gaps
        );
    }
    o.push_str("</table>\n");
    if !r.findings.is_empty() {
        o.push_str("<h2>Damage</h2>\n<ul>\n");
        for f in &r.findings {
            let _ = writeln!(
                o,
                "<li>{} {}: {}</li>",
                f.kind,
                esc(&f.location()),
                esc(&f.message)
            );
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</body></html>\n");
    o
}

/// The stream × hour grid as inline SVG.
fn grid(r: &CompareReport, o: &mut String) {
    let streams = &r.streams;
    if streams.is_empty() {
        return;
    }
    let h0 = streams.iter().map(|s| s.first_hour).min().unwrap_or(0);
    let h1 = streams.iter().map(|s| s.last_hour).max().unwrap_or(0);
    let nh = ((h1 - h0) / 3600 + 1).max(1) as usize;
    let ns = streams.len();
    let cols = nh.min(MAX_COLS);
    let rows = ns.min(MAX_ROWS);
    let col_of = |hour: i64| ((hour - h0) / 3600) as usize * cols / nh;
    let row_of = |i: usize| i * rows / ns;
    let (cw, rh) = (
        (1000.0 / cols as f64).clamp(1.0, 24.0),
        (600.0 / rows as f64).clamp(1.0, 16.0),
    );
    let (left, top) = (160.0, 20.0);
    let width = left + cw * cols as f64 + 10.0;
    let height = top + rh * rows as f64 + 10.0;
    let index: BTreeMap<(i64, &str), usize> = streams
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.contract_id, s.tick_type), i))
        .collect();
    // Worst class per aggregated cell.
    let mut cells: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for h in &r.hours {
        if let Some(&i) = index.get(&(h.contract_id, h.tick_type)) {
            let c = cells.entry((row_of(i), col_of(h.hour))).or_insert(0);
            *c = (*c).max(class(h));
        }
    }
    let _ = write!(
        o,
        "<h2>Stream × hour</h2>\n<p>{} streams × {} hours{}; hours from {} to {} UTC</p>\n<p>",
        ns,
        nh,
        if cols < nh || rows < ns {
            format!(" (aggregated into {rows} × {cols} cells, each the worst of its hours)")
        } else {
            String::new()
        },
        crate::time::hour_folder(h0),
        crate::time::hour_folder(h1)
    );
    for (name, colour, what) in CLASSES.iter().skip(1) {
        let _ = write!(
            o,
            "<span class=\"sw\" style=\"background:{colour}\"></span>{name} ({what})"
        );
    }
    let _ = write!(
        o,
        "</p>\n<svg id=\"grid\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\">\n"
    );
    // One background bar per row: the hours its streams span.
    let mut spans: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for (i, s) in streams.iter().enumerate() {
        let e = spans.entry(row_of(i)).or_insert((usize::MAX, 0));
        e.0 = e.0.min(col_of(s.first_hour));
        e.1 = e.1.max(col_of(s.last_hour));
    }
    for (row, (a, b)) in &spans {
        let _ = writeln!(
            o,
            "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"{}\"/>",
            left + cw * *a as f64,
            top + rh * *row as f64,
            cw * (b + 1 - a) as f64,
            rh,
            CLASSES[1].1
        );
    }
    if rows == ns {
        for (i, s) in streams.iter().enumerate() {
            if rh >= 8.0 {
                let _ = writeln!(
                    o,
                    "<text x=\"{:.0}\" y=\"{:.2}\" font-size=\"{:.0}\" text-anchor=\"end\">{}_{}</text>",
                    left - 4.0,
                    top + rh * (i as f64 + 0.8),
                    (rh * 0.8).min(12.0),
                    s.contract_id,
                    s.tick_type
                );
            }
        }
    }
    for ((row, col), c) in &cells {
        let (name, colour, _) = CLASSES[*c];
        let _ = writeln!(
            o,
            "<rect class=\"{name}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"{colour}\"/>",
            left + cw * *col as f64,
            top + rh * *row as f64,
            cw,
            rh
        );
    }
    o.push_str("</svg>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::allow::Basis;
    use crate::compare::{SideInfo, StreamDiff};
    use crate::fingerprint::StreamHour;
    use crate::format::Format;
    use crate::tick::TickType;

    fn report(streams: usize, hours: i64, lost_every: usize) -> CompareReport {
        let side = SideInfo {
            path: "/s".into(),
            format: "v3-pb",
            files: 0,
            records: 0,
            bytes: 0,
            streams: streams as u64,
        };
        let h0 = 1_754_006_400;
        let mut diffs = Vec::new();
        let mut st = Vec::new();
        for i in 0..streams {
            let cid = 1000 + i as i64;
            st.push(StreamDiff {
                contract_id: cid,
                tick_type: "last",
                status: "same",
                first_hour: h0,
                last_hour: h0 + (hours - 1) * 3600,
                ..StreamDiff::default()
            });
            if lost_every > 0 && i % lost_every == 0 {
                let hour = h0 + (i as i64 % hours) * 3600;
                diffs.push(HourDiff {
                    contract_id: cid,
                    tick_type: "last",
                    hour,
                    partition: String::new(),
                    status: Status::Missing,
                    old_records: 5,
                    new_records: 0,
                    lost: 5,
                    extra: 0,
                    changed: 0,
                    new_gaps: 0,
                    old_first_ts: None,
                    old_last_ts: None,
                    new_first_ts: None,
                    new_last_ts: None,
                    old_files: Vec::new(),
                    new_files: Vec::new(),
                    details: Vec::new(),
                    key: StreamHour {
                        cid,
                        tt: TickType::Last,
                        hour,
                    },
                });
            }
        }
        CompareReport {
            old: side.clone(),
            new: side,
            basis: Basis::new(Format::V3Pb, Format::V3Pb, &[]),
            hours: diffs,
            streams: st,
            mappings: Vec::new(),
            findings: Vec::new(),
            hours_compared: streams as u64 * hours as u64,
            details: 0,
        }
    }

    #[test]
    fn a_thousand_streams_by_two_thousand_hours_are_aggregated() {
        let r = report(1000, 2000, 7);
        let p = page(&r);
        assert!(p.contains("1000 streams × 2000 hours (aggregated into 250 × 500 cells"));
        // One background bar per row, one cell per aggregated lost cell.
        let rects = p.matches("<rect").count();
        let lost = p.matches("<rect class=\"lost\"").count();
        assert_eq!(rects, 250 + lost);
        assert!(lost > 0 && lost <= 143, "{lost}");
        assert!(p.len() < 1 << 20, "{} bytes", p.len());
        for banned in ["http:", "https:", "src=", "<script"] {
            assert!(!p.contains(banned));
        }
    }

    #[test]
    fn the_worst_hour_colours_an_aggregated_cell() {
        let mut r = report(4, 3, 1);
        r.hours[1].status = Status::Moved;
        r.hours[1].lost = 0;
        let p = page(&r);
        assert_eq!(p.matches("<rect class=\"lost\"").count(), 3);
        assert_eq!(p.matches("<rect class=\"moved\"").count(), 1);
        assert!(
            p.contains("<text"),
            "stream names when rows are tall enough"
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\u{1b}"),
            "&lt;a href=&#39;x&#39;&gt;&amp;\u{fffd}"
        );
    }
}
