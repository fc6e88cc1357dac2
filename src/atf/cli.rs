//! The test program's command line, parsed as atf-c 0.21 does (`getopt("+:lr:s:v:")`).

use std::collections::BTreeMap;

/// Which part of a test case to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Body,
    Cleanup,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub list: bool,
    pub resfile: String,
    pub srcdir: Option<String>,
    pub config: BTreeMap<String, String>,
    pub case: Option<(String, Part)>,
}

/// A usage error: atf-c prints it followed by the "See atf-test-program(1)" line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage(pub String);

/// The program name atf-c prints: argv[0]'s basename without a libtool `lt-` prefix.
pub fn progname(argv0: &str) -> String {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    base.strip_prefix("lt-").unwrap_or(base).to_string()
}

/// Parses argv (without argv[0]).
pub fn parse(args: &[String]) -> Result<Args, Usage> {
    let mut a = Args {
        list: false,
        resfile: "/dev/stdout".to_string(),
        srcdir: None,
        config: BTreeMap::new(),
        case: None,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let chars: Vec<char> = arg[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match c {
                'l' => a.list = true,
                'r' | 's' | 'v' => {
                    let rest: String = chars[j + 1..].iter().collect();
                    let value = if !rest.is_empty() {
                        rest
                    } else if i + 1 < args.len() {
                        i += 1;
                        args[i].clone()
                    } else {
                        return Err(Usage(format!("Option -{c} requires an argument.")));
                    };
                    match c {
                        'r' => a.resfile = value,
                        's' => a.srcdir = Some(value),
                        _ => {
                            let Some((k, v)) = value.split_once('=') else {
                                return Err(Usage(
                                    "-v requires an argument of the form var=value".into(),
                                ));
                            };
                            a.config.insert(k.to_string(), v.to_string());
                        }
                    }
                    j = chars.len();
                    continue;
                }
                other => return Err(Usage(format!("Unknown option -{other}."))),
            }
            j += 1;
        }
        i += 1;
    }
    let operands = &args[i..];
    if a.list {
        if !operands.is_empty() {
            return Err(Usage("Cannot provide test case names with -l".into()));
        }
    } else {
        match operands {
            [] => return Err(Usage("Must provide a test case name".into())),
            [one] => {
                let (name, part) = match one.split_once(':') {
                    None => (one.as_str(), Part::Body),
                    Some((n, "body")) => (n, Part::Body),
                    Some((n, "cleanup")) => (n, Part::Cleanup),
                    Some((_, p)) => return Err(Usage(format!("Invalid test case part `{p}'"))),
                };
                a.case = Some((name.to_string(), part));
            }
            _ => return Err(Usage("Cannot provide more than one test case name".into())),
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn p(args: &[&str]) -> Result<Args, Usage> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[rstest]
    #[case(&[], "Must provide a test case name")]
    #[case(&["-l", "pass"], "Cannot provide test case names with -l")]
    #[case(&["a", "b"], "Cannot provide more than one test case name")]
    #[case(&["pass:foo"], "Invalid test case part `foo'")]
    #[case(&["-x"], "Unknown option -x.")]
    #[case(&["-r"], "Option -r requires an argument.")]
    #[case(&["-v", "foo", "pass"], "-v requires an argument of the form var=value")]
    #[case(&["pass", "-l"], "Cannot provide more than one test case name")]
    fn usage_errors(#[case] args: &[&str], #[case] msg: &str) {
        assert_eq!(p(args), Err(Usage(msg.into())));
    }

    #[test]
    fn glued_and_separate_forms() {
        let a = p(&["-rR", "-v", "a=1=2", "-vb=", "-s", "/s", "tc:cleanup"]).unwrap();
        assert_eq!(a.resfile, "R");
        assert_eq!(a.config["a"], "1=2");
        assert_eq!(a.config["b"], "");
        assert_eq!(a.srcdir.as_deref(), Some("/s"));
        assert_eq!(a.case, Some(("tc".into(), Part::Cleanup)));
        let l = p(&["-lvx=1"]).unwrap();
        assert!(l.list);
        assert_eq!(l.config["x"], "1");
        assert_eq!(progname("/a/b/lt-t_fork"), "t_fork");
    }
}
