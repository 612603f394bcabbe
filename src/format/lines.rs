//! JSON Lines framing: splits a file into lines with byte offsets and
//! 1-based line numbers, and finds the damage that crashes leave in
//! append-only text files (a missing final newline, NUL runs).
//!
//! The splitter is streaming: [`Lines::feed`] takes one window of a file at
//! a time and says how much of it it consumed; the caller presents the rest
//! again with more bytes behind it. Memory stays bounded whatever the file
//! holds: a line longer than [`MAX_LINE`] is skipped as [`Damage::Overlong`]
//! without being held, a NUL run of any length is counted rather than kept,
//! and a run of blank lines costs a few instructions per eight bytes.
//!
//! * A line containing NUL bytes yields a [`Damage::NulRun`] covering the line
//!   start through its last NUL, then the remainder (if any) as a record: this
//!   is the shape of a power cut (zero-filled blocks) followed by new appends.
//! * NUL bytes at the very end of the file yield one [`Damage::TrailingNul`].
//! * A final line without `\n` is passed as a record with `terminated: false`.

use super::piece::{Damage, Piece};

/// Longest line taken as a record; no IB-Stream writer comes near it.
pub const MAX_LINE: usize = 1 << 20;

/// The streaming line splitter's state between windows.
#[derive(Debug, Default)]
pub struct Lines {
    /// Number of the last line started.
    index: u64,
    /// The next line piece continues line `index` (after a NUL run that
    /// ended one window).
    same_line: bool,
    pending: Pending,
}

#[derive(Debug, Default)]
enum Pending {
    #[default]
    None,
    /// A line's first bytes followed by a NUL run longer than a window, with
    /// no newline yet: the bytes before the run, and where the run ends so far.
    Nuls {
        start: u64,
        prefix: Vec<u8>,
        nul_end: u64,
    },
    /// A line longer than [`MAX_LINE`], skipped up to its newline.
    Overlong {
        start: u64,
        index: u64,
        nonzero_end: u64,
    },
}

/// Walks every line of a whole buffer, calling `sink` in file order.
pub fn walk(buf: &[u8], mut sink: impl FnMut(Piece<'_>)) {
    Lines::default().feed(buf, 0, true, &mut sink);
}

impl Lines {
    /// A splitter for a part of a file that starts at a line start after
    /// `lines` lines.
    pub fn after(lines: u64) -> Self {
        Self {
            index: lines,
            ..Self::default()
        }
    }

    /// Lines started so far.
    pub fn lines(&self) -> u64 {
        self.index
    }

    /// Splits `buf`, which starts at file offset `base`, calling `sink` for
    /// every piece that ends inside it. Returns the number of bytes consumed;
    /// the caller passes the rest again, followed by more bytes. With `eof`
    /// (nothing follows `buf`) everything is consumed.
    pub fn feed(
        &mut self,
        buf: &[u8],
        base: u64,
        eof: bool,
        sink: &mut impl FnMut(Piece<'_>),
    ) -> usize {
        let Some(mut pos) = self.resume(buf, base, eof, sink) else {
            return buf.len();
        };
        let at = |p: usize| base + p as u64;
        // The next NUL at or after `pos`, looked for once per stretch
        // (vectorised), not line by line.
        let mut nul = memchr::memchr(0, &buf[pos..]).map(|i| pos + i);
        while pos < buf.len() {
            if buf[pos] == b'\n' {
                if self.same_line {
                    // The line ended right after its NUL run: nothing left of it.
                    self.same_line = false;
                    pos += 1;
                    continue;
                }
                let n = newline_run(&buf[pos..]);
                sink(Piece::Blank {
                    offset: at(pos),
                    len: n as u64,
                    index: self.index + 1,
                    lines: n as u64,
                });
                self.index += n as u64;
                pos += n;
                continue;
            }
            let Some(i) = memchr::memchr(b'\n', &buf[pos..]) else {
                break;
            };
            let end = pos + i + 1;
            let has_nul = nul.is_some_and(|n| n < end);
            self.line(&buf[pos..end], at(pos), true, has_nul, sink);
            if has_nul {
                nul = memchr::memchr(0, &buf[end..]).map(|i| end + i);
            }
            pos = end;
        }
        let rest = &buf[pos..];
        if eof {
            self.tail(rest, at(pos), sink);
            buf.len()
        } else if rest.len() > MAX_LINE {
            self.overflow(rest, at(pos));
            buf.len()
        } else {
            pos
        }
    }

    /// Continues a pending long run; `None` when all of `buf` was consumed.
    fn resume(
        &mut self,
        buf: &[u8],
        base: u64,
        eof: bool,
        sink: &mut impl FnMut(Piece<'_>),
    ) -> Option<usize> {
        match std::mem::take(&mut self.pending) {
            Pending::None => Some(0),
            Pending::Nuls {
                start,
                prefix,
                nul_end,
            } => {
                let k = super::zeros::first_nonzero(buf).unwrap_or(buf.len());
                let nul_end = nul_end + k as u64;
                if k < buf.len() {
                    // Data follows: the run lies inside a line.
                    self.next_index();
                    sink(Piece::Damage {
                        offset: start,
                        len: nul_end - start,
                        index: Some(self.index),
                        kind: Damage::NulRun,
                    });
                    self.same_line = true;
                    return Some(k);
                }
                if eof {
                    let nul_start = start + prefix.len() as u64;
                    if !prefix.is_empty() {
                        let has_nul = memchr::memchr(0, &prefix).is_some();
                        self.line(&prefix, start, false, has_nul, sink);
                    }
                    sink(Piece::Damage {
                        offset: nul_start,
                        len: nul_end - nul_start,
                        index: None,
                        kind: Damage::TrailingNul,
                    });
                } else {
                    self.pending = Pending::Nuls {
                        start,
                        prefix,
                        nul_end,
                    };
                }
                None
            }
            Pending::Overlong {
                start,
                index,
                nonzero_end,
            } => {
                if let Some(i) = memchr::memchr(b'\n', buf) {
                    let end = base + i as u64 + 1;
                    sink(Piece::Damage {
                        offset: start,
                        len: end - start,
                        index: Some(index),
                        kind: Damage::Overlong,
                    });
                    return Some(i + 1);
                }
                let nonzero_end = match super::zeros::data_end(buf) {
                    0 => nonzero_end,
                    e => base + e as u64,
                };
                if eof {
                    let end = base + buf.len() as u64;
                    sink(Piece::Damage {
                        offset: start,
                        len: nonzero_end - start,
                        index: Some(index),
                        kind: Damage::Overlong,
                    });
                    if nonzero_end < end {
                        sink(Piece::Damage {
                            offset: nonzero_end,
                            len: end - nonzero_end,
                            index: None,
                            kind: Damage::TrailingNul,
                        });
                    }
                } else {
                    self.pending = Pending::Overlong {
                        start,
                        index,
                        nonzero_end,
                    };
                }
                None
            }
        }
    }

    fn next_index(&mut self) {
        if self.same_line {
            self.same_line = false;
        } else {
            self.index += 1;
        }
    }

    /// One line (with its `\n` when `terminated`) starting at `offset`.
    fn line(
        &mut self,
        bytes: &[u8],
        offset: u64,
        terminated: bool,
        has_nul: bool,
        sink: &mut impl FnMut(Piece<'_>),
    ) {
        self.next_index();
        let index = self.index;
        let mut line = if terminated {
            &bytes[..bytes.len() - 1]
        } else {
            bytes
        };
        let crlf = terminated && line.last() == Some(&b'\r');
        if crlf {
            line = &line[..line.len() - 1];
        }
        let mut start = 0usize;
        if has_nul {
            if let Some(last) = memchr::memrchr(0, line) {
                sink(Piece::Damage {
                    offset,
                    len: last as u64 + 1,
                    index: Some(index),
                    kind: Damage::NulRun,
                });
                start = last + 1;
                line = &line[last + 1..];
                if line.is_empty() {
                    return;
                }
            }
        }
        let len = (bytes.len() - start) as u64;
        let offset = offset + start as u64;
        if line.len() > MAX_LINE {
            sink(Piece::Damage {
                offset,
                len,
                index: Some(index),
                kind: Damage::Overlong,
            });
        } else if line.iter().all(u8::is_ascii_whitespace) {
            sink(Piece::Blank {
                offset,
                len,
                index,
                lines: 1,
            });
        } else {
            sink(Piece::Record {
                offset,
                len,
                index,
                bytes: line,
                crlf,
                terminated,
            });
        }
    }

    /// The last bytes of the file, after its last newline.
    fn tail(&mut self, rest: &[u8], offset: u64, sink: &mut impl FnMut(Piece<'_>)) {
        let data_end = super::zeros::data_end(rest);
        if data_end > 0 {
            let line = &rest[..data_end];
            let has_nul = memchr::memchr(0, line).is_some();
            self.line(line, offset, false, has_nul, sink);
        } else {
            self.same_line = false;
        }
        if data_end < rest.len() {
            sink(Piece::Damage {
                offset: offset + data_end as u64,
                len: (rest.len() - data_end) as u64,
                index: None,
                kind: Damage::TrailingNul,
            });
        }
    }

    /// More than [`MAX_LINE`] bytes without a newline, and more may follow.
    fn overflow(&mut self, rest: &[u8], offset: u64) {
        let data_end = super::zeros::data_end(rest);
        if rest.len() - data_end >= MAX_LINE / 2 && data_end <= MAX_LINE && !self.same_line {
            self.pending = Pending::Nuls {
                start: offset,
                prefix: rest[..data_end].to_vec(),
                nul_end: offset + rest.len() as u64,
            };
        } else {
            self.next_index();
            self.pending = Pending::Overlong {
                start: offset,
                index: self.index,
                nonzero_end: offset + data_end as u64,
            };
        }
    }
}

/// Length of the run of `\n` bytes at the start of `b`, eight at a time.
fn newline_run(b: &[u8]) -> usize {
    const NL: u64 = u64::from_le_bytes([b'\n'; 8]);
    let mut n = 0;
    while let Some(chunk) = b.get(n..n + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        let x = u64::from_le_bytes(a) ^ NL;
        if x != 0 {
            return n + (x.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + b[n..].iter().take_while(|&&c| c == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(buf: &[u8]) -> Vec<String> {
        let mut v = Vec::new();
        walk(buf, |p| v.push(p.describe()));
        v
    }

    /// The same input fed in windows of `w` bytes (each window presented
    /// with the unconsumed rest of the previous one). A run of blank lines
    /// may end one window and go on in the next: adjacent runs are merged.
    fn pieces_windowed(buf: &[u8], w: usize) -> Vec<String> {
        let mut v: Vec<Piece<'static>> = Vec::new();
        let mut out: Vec<String> = Vec::new();
        let mut push = |p: Piece<'_>| {
            if let (
                Piece::Blank {
                    offset,
                    len,
                    lines,
                    index,
                },
                Some(Piece::Blank {
                    offset: o,
                    len: l,
                    lines: n,
                    ..
                }),
            ) = (p, v.last_mut())
            {
                if *o + *l == offset {
                    *l += len;
                    *n += lines;
                    let _ = index;
                    return;
                }
            }
            match p {
                Piece::Blank { .. } => v.push(match p {
                    Piece::Blank {
                        offset,
                        len,
                        index,
                        lines,
                    } => Piece::Blank {
                        offset,
                        len,
                        index,
                        lines,
                    },
                    _ => unreachable!(),
                }),
                other => {
                    out.extend(v.drain(..).map(|b| b.describe()));
                    out.push(other.describe());
                }
            }
        };
        let mut l = Lines::default();
        let mut carry: Vec<u8> = Vec::new();
        let mut base = 0u64;
        let mut pos = 0;
        loop {
            let take = w.min(buf.len() - pos);
            carry.extend_from_slice(&buf[pos..pos + take]);
            pos += take;
            let eof = pos == buf.len();
            let used = l.feed(&carry, base, eof, &mut push);
            if eof {
                assert_eq!(used, carry.len());
                break;
            }
            carry.drain(..used);
            base += used as u64;
        }
        out.extend(v.drain(..).map(|b| b.describe()));
        out
    }

    #[test]
    fn lines_offsets_and_damage() {
        let cases: [(&[u8], &[&str]); 6] = [
            (
                b"a\n\nbc\r\nd",
                &[
                    "record@0+2#1 a",
                    "blank@2+1#2",
                    "record@3+4#3 bc crlf",
                    "record@7+1#4 d unterminated",
                ],
            ),
            (
                b"a\nb\0\0\0",
                &[
                    "record@0+2#1 a",
                    "record@2+1#2 b unterminated",
                    "trailing_nul@3+3",
                ],
            ),
            (
                b"a\nxy\0\0z\n\0",
                &[
                    "record@0+2#1 a",
                    "nul_run@2+4#2",
                    "record@6+2#2 z",
                    "trailing_nul@8+1",
                ],
            ),
            (b"\0\0", &["trailing_nul@0+2"]),
            (b"", &[]),
            (
                b"a\n\n\n\n\n\n\n\n\n\n\nb\n",
                &["record@0+2#1 a", "blank@2+10#2x10", "record@12+2#12 b"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(pieces(input), want, "{input:?}");
            for w in 1..=input.len().max(1) {
                assert_eq!(
                    pieces_windowed(input, w),
                    want,
                    "{input:?} in windows of {w}"
                );
            }
        }
    }

    #[test]
    fn newline_runs_of_every_length() {
        for n in 0..40 {
            let mut b = vec![b'\n'; n];
            b.push(b'x');
            assert_eq!(newline_run(&b), n);
        }
    }

    #[test]
    fn long_nul_runs_and_overlong_lines_stream_in_bounded_memory() {
        // A record, then more NULs than a window holds, then a new record.
        let mut b = b"{\"a\":1}\nxy".to_vec();
        b.extend(std::iter::repeat_n(0u8, 3 * MAX_LINE));
        b.extend_from_slice(b"z\n");
        let want = vec![
            "record@0+8#1 {\"a\":1}".to_owned(),
            format!("nul_run@8+{}#2", 2 + 3 * MAX_LINE),
            format!("record@{}+2#2 z", 10 + 3 * MAX_LINE),
        ];
        assert_eq!(pieces(&b), want);
        assert_eq!(pieces_windowed(&b, MAX_LINE / 3), want);
        // The same NULs to the end of the file: the line before them is a record.
        let mut t = b"ab".to_vec();
        t.extend(std::iter::repeat_n(0u8, 3 * MAX_LINE));
        let want = vec![
            "record@0+2#1 ab unterminated".to_owned(),
            format!("trailing_nul@2+{}", 3 * MAX_LINE),
        ];
        assert_eq!(pieces(&t), want);
        assert_eq!(pieces_windowed(&t, MAX_LINE / 3), want);
        // A line longer than MAX_LINE is one damage piece, in any windows.
        let mut o = vec![b'x'; 2 * MAX_LINE];
        o.extend_from_slice(b"\nok\n");
        let want = vec![
            format!("overlong_line@0+{}#1", 2 * MAX_LINE + 1),
            format!("record@{}+3#2 ok", 2 * MAX_LINE + 1),
        ];
        assert_eq!(pieces(&o), want);
        assert_eq!(pieces_windowed(&o, MAX_LINE / 2), want);
    }
}
