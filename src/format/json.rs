//! A zero-allocation JSON pull scanner specialised for one-object-per-line
//! tick records.
//!
//! It validates the full JSON grammar (plus the `NaN`, `Infinity` and
//! `-Infinity` tokens that Python's encoder emits, spec §3/§16.22), checks
//! UTF-8 inside strings, bounds nesting depth, and hands values out as
//! borrowed slices so that decoding a record allocates nothing.

/// Maximum nesting of objects/arrays inside one record.
pub const MAX_DEPTH: u32 = 32;

/// Why a line is not valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// Grammar violation.
    Syntax,
    /// A string holds bytes that are not UTF-8.
    Utf8,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// A JSON error at a byte position within the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// What went wrong.
    pub kind: JsonErrorKind,
    /// Byte position within the scanned slice.
    pub pos: usize,
}

/// A scalar or container value, borrowed from the line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// String contents without quotes; `escaped` if it holds a backslash.
    Str {
        /// Raw bytes between the quotes.
        raw: &'a [u8],
        /// Whether the raw bytes contain escapes.
        escaped: bool,
    },
    /// A number token (or `NaN`/`Infinity`/`-Infinity`), as written.
    Num(&'a [u8]),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An object or array (already skipped).
    Container,
}

impl Value<'_> {
    /// Name of the JSON type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str { .. } => "string",
            Value::Num(_) => "number",
            Value::Bool(_) => "boolean",
            Value::Null => "null",
            Value::Container => "object or array",
        }
    }
}

/// Pull scanner over one line.
#[derive(Debug)]
pub struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
    depth: u32,
}

type R<T> = Result<T, JsonError>;

impl<'a> Scanner<'a> {
    /// Starts scanning `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Self {
            b,
            pos: 0,
            depth: 0,
        }
    }

    /// Current byte position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn err(&self, kind: JsonErrorKind) -> JsonError {
        JsonError {
            kind,
            pos: self.pos,
        }
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(JsonErrorKind::Syntax))
        }
    }

    /// True if the next token opens an object.
    pub fn at_object(&mut self) -> bool {
        self.peek() == Some(b'{')
    }

    /// Requires that only whitespace remains.
    pub fn finish(&mut self) -> R<()> {
        if self.peek().is_some() {
            Err(self.err(JsonErrorKind::Syntax))
        } else {
            Ok(())
        }
    }

    /// Iterates the members of an object. `f` receives each key (raw string
    /// bytes) and must consume exactly one value (via [`Scanner::value`] or
    /// [`Scanner::object`]).
    pub fn object<E: From<JsonError>>(
        &mut self,
        mut f: impl FnMut(&mut Self, &'a [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.expect(b'{')?;
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err(JsonErrorKind::Syntax).into());
            }
            let (key, _) = self.string()?;
            self.expect(b':')?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.err(JsonErrorKind::Syntax).into()),
            }
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(JsonError {
                kind: JsonErrorKind::TooDeep,
                pos: self.pos - 1,
            })
        } else {
            Ok(())
        }
    }

    /// Reads any value; containers are validated and skipped.
    pub fn value(&mut self) -> R<Value<'a>> {
        match self.peek() {
            Some(b'"') => {
                let (raw, escaped) = self.string()?;
                Ok(Value::Str { raw, escaped })
            }
            Some(b'{') => {
                self.object(|s, _| s.value().map(|_| ()))?;
                Ok(Value::Container)
            }
            Some(b'[') => {
                self.array()?;
                Ok(Value::Container)
            }
            Some(b't') => self.word(b"true", Value::Bool(true)),
            Some(b'f') => self.word(b"false", Value::Bool(false)),
            Some(b'n') => self.word(b"null", Value::Null),
            Some(b'N') => self.word(b"NaN", Value::Num(b"NaN")),
            Some(b'I') => self.word(b"Infinity", Value::Num(b"Infinity")),
            Some(b'-') if self.b[self.pos..].starts_with(b"-Infinity") => {
                self.word(b"-Infinity", Value::Num(b"-Infinity"))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err(JsonErrorKind::Syntax)),
        }
    }

    fn word(&mut self, w: &[u8], v: Value<'a>) -> R<Value<'a>> {
        if self.b[self.pos..].starts_with(w) {
            self.pos += w.len();
            Ok(v)
        } else {
            Err(self.err(JsonErrorKind::Syntax))
        }
    }

    fn array(&mut self) -> R<()> {
        self.expect(b'[')?;
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.value()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.err(JsonErrorKind::Syntax)),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.b.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> R<Value<'a>> {
        let start = self.pos;
        if self.b[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return Err(JsonError {
                kind: JsonErrorKind::Syntax,
                pos: start,
            });
        }
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err(JsonErrorKind::Syntax));
            }
        }
        if matches!(self.b.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err(JsonErrorKind::Syntax));
            }
        }
        Ok(Value::Num(&self.b[start..self.pos]))
    }

    /// Reads a string at the cursor (which must be `"`), validating escapes
    /// and UTF-8. Returns the raw contents and whether it had escapes.
    fn string(&mut self) -> R<(&'a [u8], bool)> {
        self.pos += 1; // opening quote
        let start = self.pos;
        let mut escaped = false;
        let mut high = 0u8;
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(self.err(JsonErrorKind::Syntax));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    match self.b.get(self.pos) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Some(b'u') => {
                            let hex = self.b.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.err(JsonErrorKind::Syntax));
                            }
                            self.pos += 4;
                        }
                        _ => return Err(self.err(JsonErrorKind::Syntax)),
                    }
                }
                0..=0x1f => return Err(self.err(JsonErrorKind::Syntax)),
                _ => high |= c,
            }
            self.pos += 1;
        }
        let raw = &self.b[start..self.pos];
        self.pos += 1; // closing quote
        if high >= 0x80 {
            if let Err(e) = std::str::from_utf8(raw) {
                return Err(JsonError {
                    kind: JsonErrorKind::Utf8,
                    pos: start + e.valid_up_to(),
                });
            }
        }
        Ok((raw, escaped))
    }
}

/// Parses a JSON number token (already grammar-checked) as an exact integer.
/// Integral floats such as `1754010291000000.0` or `1.7e15` are accepted too
/// when exactly representable; the second value says whether it was a float.
pub fn parse_int(raw: &[u8]) -> Option<(i64, bool)> {
    let (neg, digits) = match raw.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, raw),
    };
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let mut v: i64 = 0;
        for &d in digits {
            v = v * 10 + i64::from(d - b'0');
        }
        return Some((if neg { -v } else { v }, false));
    }
    let f = parse_f64(raw)?;
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18 {
        Some((f as i64, true))
    } else {
        None
    }
}

/// Parses a number token (including `NaN`/`Infinity`) as `f64`.
pub fn parse_f64(raw: &[u8]) -> Option<f64> {
    // Tokens came through the scanner, so they are ASCII.
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Decodes a JSON string's raw contents (with escapes) into an owned string.
/// Only used off the hot path (keys or values that actually contain escapes).
pub fn unescape(raw: &[u8]) -> Option<String> {
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(s: &[u8]) -> Result<(), JsonError> {
        let mut sc = Scanner::new(s);
        sc.value()?;
        sc.finish()
    }

    #[test]
    fn accepts_valid_json_and_python_tokens() {
        for ok in [
            &br#"{"a":1,"b":[1,2,{"c":null}],"d":"x\u00e9\n","e":-0.5e-3,"f":true}"#[..],
            br#"{"p":NaN,"q":Infinity,"r":-Infinity}"#,
            "{\"s\":\"caf\u{e9}\"}".as_bytes(),
            b"  {}  ",
        ] {
            assert_eq!(scan_all(ok), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn rejects_with_position() {
        let cases: [(&[u8], JsonErrorKind, usize); 6] = [
            (br#"{"a":01}"#, JsonErrorKind::Syntax, 5),
            (br#"{"a":1"#, JsonErrorKind::Syntax, 6),
            (b"{\"a\":\"\xff\"}", JsonErrorKind::Utf8, 6),
            (br#"{"a":1}x"#, JsonErrorKind::Syntax, 7),
            (br#"{"a":"\q"}"#, JsonErrorKind::Syntax, 7),
            (br#"{"a":nul}"#, JsonErrorKind::Syntax, 5),
        ];
        for (input, kind, pos) in cases {
            assert_eq!(
                scan_all(input),
                Err(JsonError { kind, pos }),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let e = scan_all(deep.as_bytes()).unwrap_err();
        assert_eq!(e.kind, JsonErrorKind::TooDeep);
        assert_eq!(e.pos, MAX_DEPTH as usize);
    }

    #[test]
    fn integers_and_integral_floats() {
        assert_eq!(
            parse_int(b"1754010291910988"),
            Some((1754010291910988, false))
        );
        assert_eq!(parse_int(b"-42"), Some((-42, false)));
        assert_eq!(
            parse_int(b"1754010291000000.0"),
            Some((1754010291000000, true))
        );
        assert_eq!(parse_int(b"1.7e15"), Some((1_700_000_000_000_000, true)));
        assert_eq!(parse_int(b"1.5"), None);
        assert_eq!(parse_int(b"NaN"), None);
        assert!(parse_f64(b"NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_f64(b"-Infinity"), Some(f64::NEG_INFINITY));
    }
}
