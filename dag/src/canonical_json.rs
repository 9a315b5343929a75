//! Canonical JSON as the Matrix specification defines it (appendices, "Canonical JSON").
//!
//! Parsing is strict and exact: numbers must denote integers in ±(2^53−1) — `1e10`, `1.0` and
//! `-0` are integral and become plain integers, `1.5` or `2^53` are errors — and an object may
//! not repeat a key, because two servers could otherwise read one signed object two ways. The
//! parser is hand-written rather than built on serde_json's reader because that reader goes
//! through `f64`, which cannot tell `9007199254740991.4` from an integer.
//!
//! Values are `serde_json::Value`s whose numbers are always `i64`; objects are `BTreeMap`s, so
//! key order is UTF-8 byte order, which equals code point order as the spec requires.

use serde_json::{Map, Value};

/// A JSON object, the shape of every event and signed structure.
pub type Object = Map<String, Value>;

/// The largest integer magnitude canonical JSON allows: 2^53 − 1.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Nesting deeper than this is refused so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalJsonError {
    #[error("invalid JSON at byte {offset}: {reason}")]
    Syntax { offset: usize, reason: &'static str },
    #[error("number at byte {offset} is not an integer")]
    Fraction { offset: usize },
    #[error("number at byte {offset} is outside ±(2^53−1)")]
    IntegerOutOfRange { offset: usize },
    #[error("object key {key:?} appears twice")]
    DuplicateKey { key: String },
    #[error("JSON nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("floating-point number {0} is not allowed in canonical JSON")]
    Float(String),
}

/// Parses JSON text strictly into a canonical value.
pub fn parse(text: &str) -> Result<Value, CanonicalJsonError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        pos: 0,
    };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("trailing characters after the JSON value"));
    }
    Ok(value)
}

/// Parses bytes that must be UTF-8 JSON text.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, CanonicalJsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CanonicalJsonError::Syntax {
        offset: e.valid_up_to(),
        reason: "invalid UTF-8",
    })?;
    parse(text)
}

/// Checks that a value built elsewhere (e.g. by serde_json) is canonical, turning integral
/// floats into integers.
pub fn normalize(value: Value) -> Result<Value, CanonicalJsonError> {
    Ok(match value {
        Value::Number(n) => Value::from(normalize_number(&n)?),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(normalize).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, normalize(v)?)))
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

fn normalize_number(n: &serde_json::Number) -> Result<i64, CanonicalJsonError> {
    let out_of_range = || CanonicalJsonError::IntegerOutOfRange { offset: 0 };
    if let Some(i) = n.as_i64() {
        return in_range(i).ok_or_else(out_of_range);
    }
    if n.is_u64() {
        return Err(out_of_range());
    }
    let float = n.as_f64().unwrap_or(f64::NAN);
    if float.fract() != 0.0 || !float.is_finite() {
        return Err(CanonicalJsonError::Float(n.to_string()));
    }
    if float.abs() > MAX_SAFE_INTEGER as f64 {
        return Err(out_of_range());
    }
    Ok(float as i64)
}

fn in_range(i: i64) -> Option<i64> {
    (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER)
        .contains(&i)
        .then_some(i)
}

/// The canonical encoding of a value.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// The canonical encoding of an object.
pub fn object_to_string(object: &Object) -> String {
    let mut out = String::new();
    write_object(&mut out, object);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Object) {
    out.push('{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

/// Escapes exactly what the spec's grammar requires and nothing else. Runs of characters that
/// need no escape are copied whole: every escaped character is ASCII, so splitting the UTF-8
/// bytes there never cuts a character.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        if byte != b'"' && byte != b'\\' && byte >= 0x20 {
            continue;
        }
        out.push_str(&s[start..i]);
        start = i + 1;
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0C => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => out.push_str(&format!("\\u{byte:04x}")),
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> CanonicalJsonError {
        CanonicalJsonError::Syntax {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect_literal(
        &mut self,
        literal: &'static str,
        value: Value,
    ) -> Result<Value, CanonicalJsonError> {
        if self.bytes[self.pos..].starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            Ok(value)
        } else {
            Err(self.error("unknown literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, CanonicalJsonError> {
        if depth > MAX_DEPTH {
            return Err(CanonicalJsonError::TooDeep);
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.expect_literal("true", Value::Bool(true)),
            Some(b'f') => self.expect_literal("false", Value::Bool(false)),
            Some(b'n') => self.expect_literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::from),
            Some(_) => Err(self.error("expected a JSON value")),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, CanonicalJsonError> {
        self.pos += 1;
        let mut map = Map::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected an object key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after an object key"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            if map.contains_key(&key) {
                return Err(CanonicalJsonError::DuplicateKey { key });
            }
            map.insert(key, value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, CanonicalJsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    fn string(&mut self) -> Result<String, CanonicalJsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input is a &str and we stopped on ASCII bytes, so this slice is valid UTF-8.
            out.push_str(
                std::str::from_utf8(&self.bytes[start..self.pos])
                    .map_err(|_| self.error("invalid UTF-8"))?,
            );
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.error("unescaped control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, CanonicalJsonError> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("unterminated escape"))?;
        self.pos += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{08}',
            b'f' => '\u{0C}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.error("invalid escape")),
        })
    }

    fn unicode_escape(&mut self) -> Result<char, CanonicalJsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.bytes[self.pos..].starts_with(b"\\u") {
                    return Err(self.error("unpaired surrogate"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("unpaired surrogate"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("unpaired surrogate")),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid code point"))
    }

    fn hex4(&mut self) -> Result<u32, CanonicalJsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("invalid \\u escape"))?;
        let code = u32::from_str_radix(text, 16).map_err(|_| self.error("invalid \\u escape"))?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.error("invalid \\u escape"));
        }
        self.pos += 4;
        Ok(code)
    }

    /// Reads a JSON number and returns it only if it denotes an integer in range. The decimal
    /// digits are kept as text so that no rounding can make a fraction look integral.
    fn number(&mut self) -> Result<i64, CanonicalJsonError> {
        let offset = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_range = self.digits();
        let int_digits = &self.bytes[int_range];
        if int_digits.is_empty() || (int_digits.len() > 1 && int_digits[0] == b'0') {
            return Err(self.error("invalid number"));
        }
        let mut frac_digits: &[u8] = &[];
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let frac_range = self.digits();
            frac_digits = &self.bytes[frac_range];
            if frac_digits.is_empty() {
                return Err(self.error("invalid number"));
            }
        }
        let exponent = self.exponent()?;
        let mut digits: Vec<u8> = int_digits.iter().chain(frac_digits).copied().collect();
        let scale = exponent.saturating_sub(frac_digits.len() as i64);
        integer_value(&mut digits, scale, negative, offset)
    }

    /// Skips a run of decimal digits and returns where it lies in the input.
    fn digits(&mut self) -> std::ops::Range<usize> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        start..self.pos
    }

    fn exponent(&mut self) -> Result<i64, CanonicalJsonError> {
        if !matches!(self.peek(), Some(b'e' | b'E')) {
            return Ok(0);
        }
        self.pos += 1;
        let negative = match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        let digits = &self.bytes[self.digits()];
        if digits.is_empty() {
            return Err(self.error("invalid exponent"));
        }
        let magnitude = digits.iter().fold(0i64, |acc, d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
        Ok(if negative { -magnitude } else { magnitude })
    }
}

/// The integer `digits × 10^scale` (with sign), if it is one and is in range.
fn integer_value(
    digits: &mut Vec<u8>,
    scale: i64,
    negative: bool,
    offset: usize,
) -> Result<i64, CanonicalJsonError> {
    let leading_zeros = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..leading_zeros);
    if digits.is_empty() {
        return Ok(0);
    }
    if scale < 0 {
        let dropped = usize::try_from(scale.unsigned_abs()).unwrap_or(usize::MAX);
        if dropped > digits.len() || digits[digits.len() - dropped..].iter().any(|&d| d != b'0') {
            return Err(CanonicalJsonError::Fraction { offset });
        }
        digits.truncate(digits.len() - dropped);
    }
    let zeros = usize::try_from(scale.max(0)).unwrap_or(usize::MAX);
    // 2^53 − 1 has 16 digits; anything longer cannot be in range.
    if digits.len().saturating_add(zeros) > 16 {
        return Err(CanonicalJsonError::IntegerOutOfRange { offset });
    }
    let magnitude = digits
        .iter()
        .chain(std::iter::repeat_n(&b'0', zeros))
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    if magnitude > MAX_SAFE_INTEGER {
        return Err(CanonicalJsonError::IntegerOutOfRange { offset });
    }
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        to_string(&parse(text).unwrap())
    }

    /// Every example of the spec's appendix "Canonical JSON".
    #[test]
    fn spec_examples() {
        let cases = [
            ("{}", "{}"),
            (r#"{"one": 1, "two": "Two"}"#, r#"{"one":1,"two":"Two"}"#),
            (r#"{"b": "2", "a": "1"}"#, r#"{"a":"1","b":"2"}"#),
            (r#"{"b":"2","a":"1"}"#, r#"{"a":"1","b":"2"}"#),
            (
                r#"{"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {"display_name": "John Doe", "three_pids": [{"medium": "email", "address": "john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}"#,
                r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#,
            ),
            (r#"{"a": "日本語"}"#, r#"{"a":"日本語"}"#),
            (r#"{"本": 2, "日": 1}"#, r#"{"日":1,"本":2}"#),
            (r#"{"a": "\u65E5"}"#, r#"{"a":"日"}"#),
            (r#"{"a": null}"#, r#"{"a":null}"#),
            (r#"{"a": -0, "b": 1e10}"#, r#"{"a":0,"b":10000000000}"#),
        ];
        for (input, expected) in cases {
            assert_eq!(canon(input), expected, "input {input}");
        }
    }

    #[test]
    fn escapes_follow_the_grammar() {
        assert_eq!(
            canon(r#"["\u0001\b\f\n\r\t\"\\\/\u001f\u007f"]"#),
            "[\"\\u0001\\b\\f\\n\\r\\t\\\"\\\\/\\u001f\u{7f}\"]"
        );
        assert_eq!(canon(r#"["\ud83d\ude00"]"#), "[\"😀\"]");
    }

    #[test]
    fn integral_numbers_become_integers() {
        assert_eq!(
            canon("[1.0, 1.50e1, 2E+2, -0.0, 100e-2, 0e999999999999]"),
            "[1,15,200,0,1,0]"
        );
        assert_eq!(
            canon("[9007199254740991, -9007199254740991]"),
            "[9007199254740991,-9007199254740991]"
        );
    }

    #[test]
    fn rejects_fractions_and_out_of_range() {
        for text in [
            "1.5",
            "9007199254740991.4",
            "1e-1",
            "5e-324",
            "4.3E-99999999999999999999999",
        ] {
            assert!(
                matches!(parse(text), Err(CanonicalJsonError::Fraction { .. })),
                "{text}"
            );
        }
        for text in [
            "9007199254740992",
            "-9007199254740992",
            "1e16",
            "1e99999999999999999999",
        ] {
            assert!(
                matches!(
                    parse(text),
                    Err(CanonicalJsonError::IntegerOutOfRange { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_invalid_json() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "01",
            "-",
            "1.",
            "1e",
            "tru",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "\"a\u{1}\"",
            "{} {}",
            "{\"a\":1,\"a\":2}",
            "NaN",
            "[\"\\u12g4\"]",
        ] {
            assert!(parse(text).is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn rejects_deep_nesting() {
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(parse(&deep), Err(CanonicalJsonError::TooDeep));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn normalize_converts_serde_values() {
        let value: Value = serde_json::from_str(r#"{"a":1.0,"b":-0.0,"c":[2e3]}"#).unwrap();
        assert_eq!(
            to_string(&normalize(value).unwrap()),
            r#"{"a":1,"b":0,"c":[2000]}"#
        );
        let fraction: Value = serde_json::from_str("[0.5]").unwrap();
        assert!(normalize(fraction).is_err());
        let big: Value = serde_json::from_str("[18446744073709551615]").unwrap();
        assert!(normalize(big).is_err());
    }

    proptest::proptest! {
        #[test]
        fn output_reparses_to_itself(value in crate::testing::arb_json()) {
            let text = to_string(&value);
            let reparsed = parse(&text).unwrap();
            proptest::prop_assert_eq!(&reparsed, &value);
            proptest::prop_assert_eq!(to_string(&reparsed), text);
        }

        #[test]
        fn never_panics_on_arbitrary_text(text in ".{0,64}") {
            let _ = parse(&text);
        }
    }
}
