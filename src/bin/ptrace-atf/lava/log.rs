//! A LAVA job log: what `lava-run` writes to stderr and a LAVA server keeps as the job's
//! log (`lavacli jobs logs --raw JOB`, the web UI's "download plain log"): one record a
//! line, `{"dt": "...", "lvl": "target", "msg": "..."}`, each a YAML flow mapping whose
//! scalars are double-quoted (optionally `- ` before it, a tag such as `!!float` before a
//! value). Only that subset of YAML is read here.

/// A value of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Map(Vec<(String, Value)>),
    List(Vec<Value>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string at `key` of a map.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::str)
    }
}

/// One record: its level (`target`: a console line, `results`: a test case's result, ...)
/// and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub lvl: String,
    pub msg: Value,
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at column {}", c as char, self.i + 1))
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        // A tag (`!!float "1.5"`, `!!python/...`): skipped.
        if self.peek() == Some(b'!') {
            while self.i < self.s.len() && !self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
            self.ws();
        }
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut m = Vec::new();
                loop {
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Value::Map(m));
                    }
                    let Value::Str(k) = self.value()? else {
                        return Err(format!("a key that is not a string at column {}", self.i));
                    };
                    self.eat(b':')?;
                    let v = self.value()?;
                    m.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("expected ',' or '}}' at column {}", self.i + 1)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut l = Vec::new();
                loop {
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        return Ok(Value::List(l));
                    }
                    l.push(self.value()?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return Err(format!("expected ',' or ']' at column {}", self.i + 1)),
                    }
                }
            }
            Some(b'"') => self.quoted().map(Value::Str),
            Some(b'\'') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated '...' string".into()),
                        Some(b'\'') if self.s.get(self.i + 1) == Some(&b'\'') => {
                            out.push(b'\'');
                            self.i += 2;
                        }
                        Some(b'\'') => {
                            self.i += 1;
                            return Ok(Value::Str(String::from_utf8_lossy(&out).into_owned()));
                        }
                        Some(c) => {
                            out.push(c);
                            self.i += 1;
                        }
                    }
                }
            }
            Some(_) => {
                // A plain scalar: up to the next flow indicator.
                let start = self.i;
                while self.i < self.s.len() && !b",}]".contains(&self.s[self.i]) {
                    if self.s[self.i] == b':'
                        && self
                            .s
                            .get(self.i + 1)
                            .is_none_or(|c| c.is_ascii_whitespace())
                    {
                        break;
                    }
                    self.i += 1;
                }
                let t = String::from_utf8_lossy(&self.s[start..self.i]);
                Ok(Value::Str(t.trim().to_string()))
            }
            None => Err("unexpected end of line".into()),
        }
    }

    fn hex(&mut self, n: usize) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + n)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad escape at column {}", self.i))?;
        self.i += n;
        Ok(h)
    }

    fn quoted(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err("unterminated \"...\" string".into());
            };
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err("unterminated escape".into());
                    };
                    self.i += 1;
                    let ch = match e {
                        b'n' => '\n',
                        b't' | b'\t' => '\t',
                        b'r' => '\r',
                        b'0' => '\0',
                        b'a' => '\x07',
                        b'b' => '\x08',
                        b'e' => '\x1b',
                        b'f' => '\x0c',
                        b'v' => '\x0b',
                        b' ' => ' ',
                        b'/' => '/',
                        b'\\' => '\\',
                        b'"' => '"',
                        b'N' => '\u{85}',
                        b'_' => '\u{a0}',
                        b'L' => '\u{2028}',
                        b'P' => '\u{2029}',
                        b'x' => char::from_u32(self.hex(2)?).unwrap_or('\u{fffd}'),
                        b'u' => char::from_u32(self.hex(4)?).unwrap_or('\u{fffd}'),
                        b'U' => char::from_u32(self.hex(8)?).unwrap_or('\u{fffd}'),
                        other => {
                            return Err(format!(
                                "unknown escape '\\{}' at column {}",
                                other as char, self.i
                            ));
                        }
                    };
                    out.push(ch);
                }
                _ => {
                    // Copy one UTF-8 sequence.
                    let start = self.i - 1;
                    let len = match c {
                        0xf0..=0xff => 4,
                        0xe0..=0xef => 3,
                        0xc0..=0xdf => 2,
                        _ => 1,
                    };
                    let end = (start + len).min(self.s.len());
                    out.push_str(&String::from_utf8_lossy(&self.s[start..end]));
                    self.i = end;
                }
            }
        }
    }
}

/// Parses one line; `Ok(None)` for a line that is no record (blank, a comment, a
/// non-LAVA line in a captured stderr).
pub fn parse_line(line: &str) -> Result<Option<Record>, String> {
    let t = line.trim();
    let t = t.strip_prefix("- ").unwrap_or(t);
    if !t.starts_with('{') {
        return Ok(None);
    }
    let mut p = P {
        s: t.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    let Some(lvl) = v.field("lvl").map(str::to_string) else {
        return Ok(None);
    };
    let msg = v.get("msg").cloned().unwrap_or(Value::Str(String::new()));
    Ok(Some(Record { lvl, msg }))
}

/// Every record of a log, and the lines that look like records but cannot be read (line
/// number, why): a log cut short (a killed dispatcher) keeps what it holds.
pub fn parse(text: &str) -> (Vec<Record>, Vec<(usize, String)>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(e) => bad.push((n + 1, e)),
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_and_results_records() {
        let log = r#"
- {"dt": "2026-12-01T23:10:01.1", "lvl": "target", "msg": "ptrace-atf-lava: result z/t_z:a  ->  failed: \"x\" != y\\z  [0.1s]"}
{"dt": "2026-12-01T23:10:02.2", "lvl": "results", "msg": {"case": "t_z.a", "definition": "0_ptrace-atf", "measurement": !!float "0.1", "result": "fail", "units": "seconds"}}
lava-run said something else
{"dt": "x", "lvl": "debug", "msg": {"list": ["a", "b"], "n": 3}}
"#;
        let (r, bad) = parse(log);
        assert!(bad.is_empty());
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].lvl, "target");
        assert_eq!(
            r[0].msg.str(),
            Some("ptrace-atf-lava: result z/t_z:a  ->  failed: \"x\" != y\\z  [0.1s]")
        );
        assert_eq!(r[1].lvl, "results");
        assert_eq!(r[1].msg.field("case"), Some("t_z.a"));
        assert_eq!(r[1].msg.field("measurement"), Some("0.1"));
        assert_eq!(r[1].msg.field("result"), Some("fail"));
        assert_eq!(
            r[2].msg.get("list"),
            Some(&Value::List(vec![
                Value::Str("a".into()),
                Value::Str("b".into())
            ]))
        );
        assert_eq!(r[2].msg.field("n"), Some("3"));
    }

    #[test]
    fn escapes_and_bad_lines() {
        let r = parse_line(r#"{"lvl": "target", "msg": "\e[0m\x41\u00e9\t\N"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(r.msg.str(), Some("\x1b[0mA\u{e9}\t\u{85}"));
        let (r, bad) = parse(
            "{\"lvl\": \"target\", \"msg\": \"unterminated}\n{\"lvl\": \"x\", \"msg\": \"ok\"}\n",
        );
        assert_eq!(r.len(), 1);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 1);
        assert!(parse_line(r#"{"lvl": "x", "msg": "\q"}"#).is_err());
        assert_eq!(parse_line("{\"dt\": \"x\"}").unwrap(), None);
        assert_eq!(parse_line("").unwrap(), None);
    }
}
