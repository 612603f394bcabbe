//! Parser for the recorder's environment files (spec §13.4): `KEY=VALUE`
//! lines, `#` comments, blank lines, one pair of surrounding quotes
//! stripped, and a value that is exactly `${VAR:-default}` substituted.
//! Problems carry line and column.
//!
//! The recorder's own readers of `*.env` files (`config.py`, and config-v2's
//! reader of legacy env files) strip each line, split it at the first `=`,
//! strip key and value, and drop one pair of matching quotes; nothing else.
//! An inline ` # comment` is therefore part of their value (kept apart in
//! [`Assignment::legacy_value`]), and `export KEY=…` sets a variable named
//! `export KEY` (a syntax error here).

use std::fmt;

/// Longest line accepted.
pub const MAX_LINE: usize = 64 << 10;

/// One `KEY=VALUE` assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Variable name.
    pub key: String,
    /// Value after quote stripping.
    pub value: String,
    /// `${VAR:-default}`: the variable and its default.
    pub substitution: Option<(String, String)>,
    /// 1-based line.
    pub line: u64,
    /// Byte offset of the line in the file.
    pub offset: u64,
    /// 1-based column where the value starts.
    pub value_column: u64,
    /// The line ends in CRLF (the `\r` is not part of `value`).
    pub crlf: bool,
    /// The value the recorder's readers of `*.env` files take, when it is
    /// not `value`: they know no inline comments.
    pub legacy_value: Option<String>,
}

/// A syntax problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// Byte offset in the file.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// A parsed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    /// Assignments in file order (duplicates kept; the last one wins).
    pub assignments: Vec<Assignment>,
    /// Syntax problems (the lines are skipped).
    pub errors: Vec<SyntaxError>,
    /// Lines ending in CRLF.
    pub crlf_lines: u64,
    /// The first of them: its line and the offset of its `\r`.
    pub first_crlf: Option<(u64, u64)>,
}

impl EnvFile {
    /// The assignment the recorder's loaders use: the first. Both Python
    /// readers of `*.env` files (`config.py`, and config-v2's legacy-file
    /// reader) set a variable only if it is not set yet, so a later
    /// assignment of the same name changes nothing.
    pub fn get(&self, key: &str) -> Option<&Assignment> {
        self.assignments.iter().find(|a| a.key == key)
    }

    /// The assignment a case-insensitive reader (config-v2's pydantic
    /// model) uses: each spelling enters the environment with its first
    /// assignment, and pydantic-settings folds the names' case, so the
    /// spelling set last wins.
    pub fn get_ignore_case(&self, key: &str) -> Option<&Assignment> {
        self.assignments
            .iter()
            .rev()
            .find(|a| a.key.eq_ignore_ascii_case(key) && self.is_effective(a))
    }

    /// Whether `a` is the assignment of its name that the loaders use.
    pub fn is_effective(&self, a: &Assignment) -> bool {
        self.get(&a.key).is_some_and(|first| first.line == a.line)
    }
}

fn valid_key(k: &str) -> bool {
    let mut b = k.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Parses file bytes. Binary content (a NUL byte or invalid UTF-8) is one
/// error for the whole file.
pub fn parse(bytes: &[u8]) -> EnvFile {
    let mut out = EnvFile::default();
    if let Some(i) = memchr::memchr(0, bytes) {
        out.errors.push(err_at(
            bytes,
            i,
            "the file is binary (a NUL byte), not an environment file".into(),
        ));
        return out;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            out.errors.push(err_at(
                bytes,
                e.valid_up_to(),
                "the file is not UTF-8 text".into(),
            ));
            return out;
        }
    };
    let mut offset = 0usize;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line_no = i as u64 + 1;
        let start = offset;
        offset += raw.len();
        let mut line = raw.strip_suffix('\n').unwrap_or(raw);
        let crlf = raw.ends_with("\r\n");
        if crlf {
            line = &line[..line.len() - 1];
            out.crlf_lines += 1;
            out.first_crlf
                .get_or_insert((line_no, (start + line.len()) as u64));
        }
        if line.len() > MAX_LINE {
            let key = line
                .split_once('=')
                .map(|(k, _)| k.trim())
                .filter(|k| valid_key(k))
                .map_or(String::new(), |k| format!("{k}: "));
            out.errors.push(SyntaxError {
                line: line_no,
                column: 1,
                offset: start as u64,
                message: format!("{key}line is {} bytes long (limit {MAX_LINE})", line.len()),
            });
            continue;
        }
        match parse_line(line) {
            Ok(None) => {}
            Ok(Some(l)) => out.assignments.push(Assignment {
                key: l.key,
                value: l.value,
                substitution: l.substitution,
                line: line_no,
                offset: start as u64,
                value_column: l.value_column as u64 + 1,
                crlf,
                legacy_value: l.legacy_value,
            }),
            Err((col, message)) => out.errors.push(SyntaxError {
                line: line_no,
                column: col as u64 + 1,
                offset: (start + col) as u64,
                message,
            }),
        }
    }
    out
}

fn err_at(bytes: &[u8], at: usize, message: String) -> SyntaxError {
    let before = &bytes[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let col = at
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
    SyntaxError {
        line,
        column: col as u64 + 1,
        offset: at as u64,
        message,
    }
}

/// One assignment line, before it is placed in the file.
struct Parsed {
    key: String,
    value: String,
    substitution: Option<(String, String)>,
    /// 0-based.
    value_column: usize,
    legacy_value: Option<String>,
}

/// One line: `Ok(None)` for blank and comment lines; errors give a 0-based column.
fn parse_line(line: &str) -> Result<Option<Parsed>, (usize, String)> {
    let trimmed = line.trim_start();
    let lead = line.len() - trimmed.len();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    if let Some(key) = trimmed
        .strip_prefix("export ")
        .and_then(|rest| rest.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| valid_key(k))
    {
        return Err((
            lead,
            format!("{key}: `export` is not part of the env-file syntax: the recorder's readers of *.env files would set a variable named \"export {key}\" and leave {key} unset"),
        ));
    }
    let Some(eq) = trimmed.find('=') else {
        return Err((
            lead,
            format!(
                "expected KEY=VALUE, found {:?}",
                trimmed.chars().take(40).collect::<String>()
            ),
        ));
    };
    let key = trimmed[..eq].trim_end();
    if !valid_key(key) {
        return Err((
            lead,
            format!(
                "{key:?} is not a variable name (letters, digits and _, not starting with a digit)"
            ),
        ));
    }
    let vstart = lead + eq + 1;
    let raw = &line[vstart..];
    let (value, vcol) = unquote(raw, vstart).map_err(|(c, m)| (c, format!("{key}: {m}")))?;
    let substitution = value
        .strip_prefix("${")
        .and_then(|v| v.strip_suffix('}'))
        .and_then(|inner| inner.split_once(":-"))
        .filter(|(var, _)| valid_key(var))
        .map(|(v, d)| (v.to_owned(), d.to_owned()));
    // What config.py does: strip, then drop one pair of matching quotes.
    let lv = raw.trim();
    let lv = ['"', '\'']
        .iter()
        .find_map(|&q| {
            lv.strip_prefix(q)
                .and_then(|v| v.strip_suffix(q))
                .filter(|_| lv.len() >= 2)
        })
        .unwrap_or(lv);
    let legacy_value = (lv != value).then(|| lv.to_owned());
    Ok(Some(Parsed {
        key: key.to_owned(),
        value,
        substitution,
        value_column: vcol,
        legacy_value,
    }))
}

/// Strips one pair of surrounding quotes; an unquoted value loses trailing
/// whitespace and a ` #` comment.
fn unquote(raw: &str, col: usize) -> Result<(String, usize), (usize, String)> {
    let t = raw.trim_start();
    let col = col + (raw.len() - t.len());
    match t.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let rest = &t[1..];
            let Some(end) = rest.find(q) else {
                return Err((col, format!("unterminated {q} quote")));
            };
            let after = rest[end + 1..].trim();
            if !after.is_empty() && !after.starts_with('#') {
                return Err((
                    col + end + 2,
                    format!("unexpected text after the closing quote: {after:?}"),
                ));
            }
            Ok((rest[..end].to_owned(), col + 1))
        }
        _ => {
            let v = match t.find(" #") {
                Some(i) => &t[..i],
                None => t,
            };
            Ok((v.trim_end().to_owned(), col))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_every_shape() {
        let f = parse(b"# comment\n\nPORT=8001\nA = \"x y\" # c\nB='q'\r\nC=${IB_STREAM_PORT:-8003}\nD=v # note\n");
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let kv: Vec<(&str, &str, u64)> = f
            .assignments
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str(), a.line))
            .collect();
        assert_eq!(
            kv,
            [
                ("PORT", "8001", 3),
                ("A", "x y", 4),
                ("B", "q", 5),
                ("C", "${IB_STREAM_PORT:-8003}", 6),
                ("D", "v", 7)
            ]
        );
        assert_eq!(
            f.get("C").unwrap().substitution,
            Some(("IB_STREAM_PORT".into(), "8003".into()))
        );
        assert_eq!(f.crlf_lines, 1);
        assert_eq!(f.first_crlf, Some((5, 40)));
        let legacy = |k: &str| f.get(k).unwrap().legacy_value.clone();
        assert_eq!(
            (legacy("PORT"), legacy("A"), legacy("B"), legacy("D")),
            (
                None,
                Some("\"x y\" # c".into()),
                None,
                Some("v # note".into())
            )
        );
        assert!(f.get("B").unwrap().crlf && !f.get("A").unwrap().crlf);
        assert_eq!(f.get("PORT").unwrap().value_column, 6);
    }

    #[test]
    fn errors_have_line_and_column() {
        let f = parse(b"OK=1\n  bad line\n1X=2\nQ=\"open\nexport E=1\n");
        let e: Vec<String> = f.errors.iter().map(ToString::to_string).collect();
        assert_eq!(e, [
            "line 2, column 3: expected KEY=VALUE, found \"bad line\"",
            "line 3, column 1: \"1X\" is not a variable name (letters, digits and _, not starting with a digit)",
            "line 4, column 3: Q: unterminated \" quote",
            "line 5, column 1: E: `export` is not part of the env-file syntax: the recorder's readers of *.env files would set a variable named \"export E\" and leave E unset",
        ]);
        let bin = parse(b"A=1\nB=\x00\x01");
        assert_eq!(
            bin.errors[0].to_string(),
            "line 2, column 3: the file is binary (a NUL byte), not an environment file"
        );
        let long = parse(format!("A={}\n", "x".repeat(MAX_LINE)).as_bytes());
        assert_eq!(long.errors.len(), 1);
        assert_eq!(long.errors[0].line, 1);
        assert!(long.errors[0]
            .message
            .starts_with("A: line is 65538 bytes long"));
        let dup = parse(b"A=1\nA=2\n");
        assert_eq!(
            dup.get("A").unwrap().value,
            "1",
            "the first assignment is used"
        );
        assert!(!dup.is_effective(&dup.assignments[1]));
    }
}
