//! Reading a `-l` listing with kyua 0.13's rules (engine/atf_list.cpp), including its
//! strictness, so drivers and tests see exactly what kyua would.

/// One listed test case: its name and properties in listed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub ident: String,
    pub props: Vec<(String, String)>,
}

impl Listed {
    /// A property's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The timeout kyua applies (300 s when none is listed).
    pub fn timeout(&self) -> u64 {
        self.get("timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(300)
    }

    /// Whether the case has a cleanup routine.
    pub fn has_cleanup(&self) -> bool {
        self.get("has.cleanup") == Some("true")
    }

    /// A space-separated list property as words.
    pub fn words(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(' ')
                    .filter(|w| !w.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }
}

const HEADER: &str = "Content-Type: application/X-atf-tp; version=\"1\"";

const KNOWN: &[&str] = &[
    "descr",
    "has.cleanup",
    "require.arch",
    "require.config",
    "require.files",
    "require.machine",
    "require.memory",
    "require.progs",
    "require.user",
    "timeout",
];

fn validate(name: &str, value: &str) -> Result<(), String> {
    let invalid = |what: &str| Err(format!("Invalid value for property '{name}': {what}"));
    match name {
        "has.cleanup" if value != "true" && value != "false" => invalid(value),
        "timeout" if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) => {
            invalid(&format!("Invalid time delta {value}"))
        }
        "require.user" if value != "root" && value != "unprivileged" => invalid(value),
        "require.files" => match value
            .split(' ')
            .find(|f| !f.is_empty() && !f.starts_with('/'))
        {
            Some(f) => Err(format!("Relative path '{f}' not allowed")),
            None => Ok(()),
        },
        "require.progs" => {
            match value
                .split(' ')
                .find(|p| !p.starts_with('/') && p.contains('/'))
            {
                Some(p) => Err(format!("Relative path '{p}' not allowed")),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Parses a listing; the error is the message kyua reports in `__test_cases_list__`.
pub fn parse(text: &str) -> Result<Vec<Listed>, String> {
    // kyua reads with getline().good(): an unterminated last line is dropped.
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut lines = complete.split_terminator('\n');
    let first = lines.next().unwrap_or("");
    if first != HEADER {
        return Err(format!(
            "Invalid header for test case list; expecting Content-Type for application/X-atf-tp version 1, got '{first}'"
        ));
    }
    match lines.next() {
        Some("") | None => {}
        Some(other) => {
            return Err(format!(
                "Invalid header for test case list; expecting a blank line, got '{other}'"
            ));
        }
    }
    let mut cases: Vec<Listed> = Vec::new();
    let mut current: Option<Listed> = None;
    for line in lines {
        if line.is_empty() {
            match current.take() {
                Some(c) => {
                    if !cases.iter().any(|k| k.ident == c.ident) {
                        cases.push(c);
                    }
                    continue;
                }
                None => {
                    return Err(
                        "Invalid property line; expecting line of the form 'name: value'".into(),
                    );
                }
            }
        }
        let Some((name, value)) = line.split_once(": ") else {
            return Err("Invalid property line; expecting line of the form 'name: value'".into());
        };
        match current.as_mut() {
            None if name == "ident" && !value.is_empty() => {
                current = Some(Listed {
                    ident: value.to_string(),
                    props: Vec::new(),
                });
            }
            None => {
                return Err(
                    "Invalid test case definition; must be preceeded by the identifier".into(),
                );
            }
            Some(c) => {
                let known = KNOWN.contains(&name) || (name.starts_with("X-") && name.len() > 2);
                if !known {
                    return Err(format!("Unknown test case metadata property '{name}'"));
                }
                if c.props.iter().any(|(n, _)| n == name) {
                    return Err(format!("Duplicate value for property {name}"));
                }
                validate(name, value)?;
                c.props.push((name.to_string(), value.to_string()));
            }
        }
    }
    if let Some(c) = current.take()
        && !cases.iter().any(|k| k.ident == c.ident)
    {
        cases.push(c);
    }
    if cases.is_empty() {
        return Err("No test cases".into());
    }
    cases.sort_by(|a, b| a.ident.cmp(&b.ident));
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const H: &str = "Content-Type: application/X-atf-tp; version=\"1\"\n\n";

    #[test]
    fn parses_and_sorts() {
        let l = parse(&format!(
            "{H}ident: b\ndescr: x: y\n\nident: a\nhas.cleanup: true\nX-foo: bar baz\n"
        ))
        .unwrap();
        assert_eq!(l[0].ident, "a");
        assert!(l[0].has_cleanup());
        assert_eq!(l[1].get("descr"), Some("x: y"));
    }

    #[rstest]
    #[case(
        "Content-Type: application/X-atf-tp; version=\"2\"\n\nident: a\n",
        "Invalid header"
    )]
    #[case(
        "Content-Type: application/X-atf-tp; version=\"1\"\nx\nident: a\n",
        "expecting a blank line"
    )]
    #[case("HDR\n\nident: a\n\n\nident: b\n", "Invalid property line")]
    #[case("HDR\n\ndescr: a\n", "must be preceeded by the identifier")]
    #[case(
        "HDR\n\nident: a\nfoo: 1\n",
        "Unknown test case metadata property 'foo'"
    )]
    #[case(
        "HDR\n\nident: a\nrequire.diskspace: 1\n",
        "Unknown test case metadata property"
    )]
    #[case(
        "HDR\n\nident: a\ndescr: 1\ndescr: 2\n",
        "Duplicate value for property descr"
    )]
    #[case("HDR\n\nident: a\ntimeout: 1.5\n", "Invalid time delta")]
    #[case(
        "HDR\n\nident: a\nhas.cleanup: yes\n",
        "Invalid value for property 'has.cleanup'"
    )]
    #[case(
        "HDR\n\nident: a\nrequire.files: x/y\n",
        "Relative path 'x/y' not allowed"
    )]
    #[case("HDR\n\nident: a", "No test cases")]
    #[case("HDR\n\n", "No test cases")]
    fn rejects_like_kyua(#[case] text: &str, #[case] needle: &str) {
        let text = text.replace("HDR\n", &H[..H.len() - 1]);
        let err = parse(&text).unwrap_err();
        assert!(err.contains(needle), "{err}");
    }

    #[test]
    fn unterminated_last_line_is_dropped() {
        let l = parse(&format!("{H}ident: a\ndescr: x")).unwrap();
        assert_eq!(l[0].get("descr"), None);
    }
}
