//! JSON Lines framing: splits a file into lines with byte offsets and
//! 1-based line numbers, and finds the damage that crashes leave in
//! append-only text files (a missing final newline, NUL runs).

use super::reader::{Damage, Piece};

/// Walks every line of `buf`, calling `sink` in file order.
///
/// * A line containing NUL bytes yields a [`Damage::NulRun`] covering the line
///   start through its last NUL, then the remainder (if any) as a record: this
///   is the shape of a power cut (zero-filled blocks) followed by new appends.
/// * NUL bytes at the very end of the file yield one [`Damage::TrailingNul`].
/// * A final line without `\n` is passed as a record with `terminated: false`.
pub fn walk(buf: &[u8], sink: impl FnMut(Piece<'_>)) {
    walk_from(buf, 0, 0, sink);
}

/// [`walk`] over a part of a file that starts at byte `base` after `lines`
/// lines: offsets and line numbers come out as in the whole file. The part
/// must start at a line start and (unless it is the file's end) end after `\n`.
pub fn walk_from(buf: &[u8], base: u64, lines: u64, mut sink: impl FnMut(Piece<'_>)) {
    let data_end = buf.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    // NULs are looked for a window ahead (vectorised), not line by line and
    // not over the whole file up front (that would fault in every page).
    const WINDOW: usize = 1 << 20;
    let mut clean_until = 0usize; // no NUL in ..clean_until
    let mut nul_at: Option<usize> = None; // a NUL at or after the clean part
    let mut pos = 0usize;
    let mut index = lines;
    let at = |p: usize| base + p as u64;
    while pos < data_end {
        index += 1;
        let (end, next, terminated) = match memchr::memchr(b'\n', &buf[pos..data_end]) {
            Some(i) => (pos + i, pos + i + 1, true),
            None => (data_end, data_end, false),
        };
        let mut line = &buf[pos..end];
        let crlf = terminated && line.last() == Some(&b'\r');
        if crlf {
            line = &line[..line.len() - 1];
        }
        let mut start = pos;
        let line_end = pos + line.len();
        if line_end > clean_until && nul_at.is_none_or(|n| n < pos) {
            let upto = (line_end.max(pos + WINDOW)).min(data_end);
            nul_at = memchr::memchr(0, &buf[pos..upto]).map(|i| pos + i);
            clean_until = nul_at.unwrap_or(upto);
        }
        let has_nul = nul_at.is_some_and(|n| n < line_end);
        if let Some(last_nul) = if has_nul {
            memchr::memrchr(0, line)
        } else {
            None
        } {
            sink(Piece::Damage {
                offset: at(pos),
                len: last_nul as u64 + 1,
                index: Some(index),
                kind: Damage::NulRun,
            });
            start = pos + last_nul + 1;
            line = &line[last_nul + 1..];
            if line.is_empty() {
                pos = next;
                continue;
            }
        }
        let record_len = (next - start) as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            sink(Piece::Blank {
                offset: at(start),
                len: record_len,
                index,
            });
        } else {
            sink(Piece::Record {
                offset: at(start),
                len: record_len,
                index,
                bytes: line,
                crlf,
                terminated,
            });
        }
        pos = next;
    }
    if data_end < buf.len() {
        sink(Piece::Damage {
            offset: at(data_end),
            len: (buf.len() - data_end) as u64,
            index: None,
            kind: Damage::TrailingNul,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(buf: &[u8]) -> Vec<String> {
        let mut v = Vec::new();
        walk(buf, |p| v.push(p.describe()));
        v
    }

    #[test]
    fn lines_offsets_and_damage() {
        assert_eq!(
            pieces(b"a\n\nbc\r\nd"),
            [
                "record@0+2#1 a",
                "blank@2+1#2",
                "record@3+4#3 bc crlf",
                "record@7+1#4 d unterminated"
            ]
        );
        assert_eq!(
            pieces(b"a\nb\0\0\0"),
            [
                "record@0+2#1 a",
                "record@2+1#2 b unterminated",
                "trailing_nul@3+3"
            ]
        );
        assert_eq!(
            pieces(b"a\nxy\0\0z\n\0"),
            [
                "record@0+2#1 a",
                "nul_run@2+4#2",
                "record@6+2#2 z",
                "trailing_nul@8+1"
            ]
        );
        assert_eq!(pieces(b"\0\0"), ["trailing_nul@0+2"]);
        assert!(pieces(b"").is_empty());
    }
}
