//! Typed test-case metadata: only the properties kyua 0.13 accepts can be expressed, and
//! every value is checked when the program is built, so kyua never sees a bad one.

/// `require.user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    Root,
    Unprivileged,
}

/// The default `timeout` of a case, far below kyua's 300 s.
pub const DEFAULT_TIMEOUT: u32 = 30;

/// The properties of one test case, in the order `-l` prints them (after `ident`).
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    props: Vec<(String, String)>,
    errors: Vec<String>,
}

fn is_word(w: &str) -> bool {
    !w.is_empty() && !w.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_custom_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Parses a kyua byte quantity: digits with an optional fraction and K/M/G/T suffix.
fn is_bytes(v: &str) -> bool {
    let body = v
        .strip_suffix(['k', 'K', 'm', 'M', 'g', 'G', 't', 'T'])
        .unwrap_or(v);
    !body.is_empty() && body.parse::<f64>().is_ok() && !body.starts_with(['+', '-', '.'])
}

impl Metadata {
    /// Sets a property, replacing an earlier value in place (atf-c's map keeps the first
    /// position).
    fn set(&mut self, name: &str, value: String) {
        if value.contains(['\n', '\r']) {
            self.errors
                .push(format!("property '{name}': a newline cannot be expressed"));
            return;
        }
        match self.props.iter_mut().find(|(n, _)| n == name) {
            Some(p) => p.1 = value,
            None => self.props.push((name.to_string(), value)),
        }
    }

    fn error(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn words(&mut self, name: &str, words: &[&str], check: impl Fn(&str) -> Option<String>) {
        if words.is_empty() {
            return self.error(format!("property '{name}': empty list"));
        }
        for w in words {
            if !is_word(w) {
                return self.error(format!(
                    "property '{name}': '{w}' is not a word (kyua splits lists at spaces only)"
                ));
            }
            if let Some(e) = check(w) {
                return self.error(format!("property '{name}': {e}"));
            }
        }
        self.set(name, words.join(" "));
    }

    /// `descr`: free text on one line.
    pub fn descr(&mut self, text: &str) {
        self.set("descr", text.to_string());
    }

    /// `has.cleanup: true`; placed first, as atf-c does.
    pub fn has_cleanup(&mut self) {
        if !self.props.iter().any(|(n, _)| n == "has.cleanup") {
            self.props
                .insert(0, ("has.cleanup".to_string(), "true".to_string()));
        }
    }

    /// `require.arch`.
    pub fn require_arch(&mut self, archs: &[&str]) {
        self.words("require.arch", archs, |_| None);
    }

    /// `require.machine`.
    pub fn require_machine(&mut self, machines: &[&str]) {
        self.words("require.machine", machines, |_| None);
    }

    /// `require.config`: names of configuration variables that must be set.
    pub fn require_config(&mut self, vars: &[&str]) {
        self.words("require.config", vars, |_| None);
    }

    /// `require.files`: absolute paths.
    pub fn require_files(&mut self, files: &[&str]) {
        self.words("require.files", files, |f| {
            (!f.starts_with('/')).then(|| format!("Relative path '{f}' not allowed"))
        });
    }

    /// `require.progs`: absolute paths or bare names looked up in PATH.
    pub fn require_progs(&mut self, progs: &[&str]) {
        self.words("require.progs", progs, |p| {
            (!p.starts_with('/') && p.contains('/'))
                .then(|| format!("Relative path '{p}' not allowed"))
        });
    }

    /// `require.memory`, e.g. `64M`.
    pub fn require_memory(&mut self, amount: &str) {
        if is_bytes(amount) {
            self.set("require.memory", amount.to_string());
        } else {
            self.error(format!(
                "property 'require.memory': '{amount}' is not a byte quantity"
            ));
        }
    }

    /// `require.user`.
    pub fn require_user(&mut self, user: User) {
        let v = match user {
            User::Root => "root",
            User::Unprivileged => "unprivileged",
        };
        self.set("require.user", v.to_string());
    }

    /// `timeout` in seconds; 0 is rejected (kyua kills such a body at once).
    pub fn timeout(&mut self, secs: u32) {
        if secs == 0 {
            return self.error(
                "property 'timeout': 0 makes kyua kill the body at once (it is not 'no limit')"
                    .into(),
            );
        }
        self.set("timeout", secs.to_string());
    }

    /// `X-<name>`: custom metadata.
    pub fn custom(&mut self, name: &str, value: &str) {
        if !is_custom_name(name) {
            return self.error(format!("property 'X-{name}': invalid custom name"));
        }
        self.set(&format!("X-{name}"), value.to_string());
    }

    /// Fills in the defaults every case must carry (an explicit timeout).
    pub fn finish(&mut self, default_timeout: u32) {
        if !self.props.iter().any(|(n, _)| n == "timeout") {
            self.timeout(default_timeout);
        }
    }

    /// The value of a property, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The properties in `-l` order.
    pub fn props(&self) -> &[(String, String)] {
        &self.props
    }

    /// The validation errors found while building.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The timeout in seconds.
    pub fn timeout_secs(&self) -> u32 {
        self.get("timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(DEFAULT_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn errs(f: impl FnOnce(&mut Metadata)) -> Vec<String> {
        let mut m = Metadata::default();
        f(&mut m);
        m.errors().to_vec()
    }

    #[rstest]
    #[case::relative_file(errs(|m| m.require_files(&["x/y"])), "Relative path 'x/y' not allowed")]
    #[case::relative_prog(errs(|m| m.require_progs(&["bin/ls"])), "Relative path 'bin/ls' not allowed")]
    #[case::zero_timeout(errs(|m| m.timeout(0)), "kill the body at once")]
    #[case::tab(errs(|m| m.require_arch(&["x86_64\ti386"])), "is not a word")]
    #[case::empty_word(errs(|m| m.require_machine(&[""])), "is not a word")]
    #[case::newline(errs(|m| m.descr("a\nb")), "newline")]
    #[case::bad_custom(errs(|m| m.custom("", "v")), "invalid custom name")]
    #[case::bad_memory(errs(|m| m.require_memory("1 GB")), "not a byte quantity")]
    #[case::empty_list(errs(|m| m.require_config(&[])), "empty list")]
    fn bad_values_are_rejected(#[case] errors: Vec<String>, #[case] needle: &str) {
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(needle), "{errors:?}");
    }

    #[test]
    fn good_values_keep_atf_order() {
        let mut m = Metadata::default();
        m.descr("d");
        m.custom("netbsd", "fork1");
        m.require_files(&["/etc/passwd"]);
        m.require_progs(&["/bin/sh", "echo"]);
        m.require_memory("1.5k");
        m.require_user(User::Unprivileged);
        m.has_cleanup();
        m.descr("d2");
        m.finish(DEFAULT_TIMEOUT);
        assert!(m.errors().is_empty(), "{:?}", m.errors());
        let names: Vec<_> = m.props().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "has.cleanup",
                "descr",
                "X-netbsd",
                "require.files",
                "require.progs",
                "require.memory",
                "require.user",
                "timeout"
            ]
        );
        assert_eq!(m.get("descr"), Some("d2"));
        assert_eq!(m.timeout_secs(), DEFAULT_TIMEOUT);
    }
}
