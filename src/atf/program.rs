//! A test program: its cases, its command line, and how a body or cleanup is run.

use super::case::{Tc, TestCase};
use super::cli::{self, Part, Usage};
use super::metadata::DEFAULT_TIMEOUT;
use super::monitor::{self, Monitor};
use super::repeat;
use super::result::TestResult;
use super::state::{self, Finish, Sink};
use super::timescale;
use super::watchdog::Watchdog;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Runs after every body, in the body's process, whatever the body did: the place to kill
/// and reap what a case left behind. An `Err` fails a case that otherwise passed.
pub type Teardown = Box<dyn Fn(&Tc) -> Result<(), String>>;

/// A test program: the cases it registers and how it ends each body.
pub struct Program {
    cases: Vec<TestCase>,
    teardown: Option<Teardown>,
    monitor: Option<RefCell<Box<dyn Monitor>>>,
    default_timeout: u32,
}

impl Default for Program {
    fn default() -> Self {
        Self::new()
    }
}

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Records a panic's message and location for the runner; prints nothing, so a `-l` run
/// or a body keeps stderr for what the case itself says.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(install_hook_now);
}

fn install_hook_now() {
    panic::set_hook(Box::new(|info| {
        if info.payload().downcast_ref::<Finish>().is_some() {
            return;
        }
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            s.to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_string()
        };
        // One location format for every failure, `file:line: message`, as `require!` and
        // atf-c's ATF_REQUIRE write it (atf-c itself aborts on a panic: no format to keep).
        let full = match info.location() {
            Some(l) => format!("{}:{}: {msg}", l.file(), l.line()),
            None => msg,
        };
        if std::thread::current().name() != Some("main") {
            eprintln!(
                "*** panic in thread {:?}: {full}",
                std::thread::current().name()
            );
        }
        if let Ok(mut g) = LAST_PANIC.try_lock() {
            *g = Some(full);
        }
    }));
}

/// The result a caught unwind stands for.
fn unwind_result(payload: Box<dyn std::any::Any + Send>) -> TestResult {
    match payload.downcast::<Finish>() {
        Ok(f) => f.0,
        Err(_) => {
            let msg = LAST_PANIC
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_else(|| "panic".to_string());
            state::fail_result(msg)
        }
    }
}

impl Program {
    /// An empty program.
    pub fn new() -> Program {
        Program {
            cases: Vec::new(),
            teardown: None,
            monitor: None,
            default_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The `timeout` of cases that set none.
    pub fn default_timeout(&mut self, secs: u32) -> &mut Self {
        self.default_timeout = secs;
        self
    }

    /// Sets the monitor that watches every body (see `monitor`).
    pub fn monitor(&mut self, m: impl Monitor + 'static) -> &mut Self {
        self.monitor = Some(RefCell::new(Box::new(m)));
        self
    }

    /// Registers a case.
    pub fn add(&mut self, case: TestCase) -> &mut Self {
        self.cases.push(case);
        self
    }

    /// Registers many cases (a variant table mapped to cases).
    pub fn extend(&mut self, cases: impl IntoIterator<Item = TestCase>) -> &mut Self {
        self.cases.extend(cases);
        self
    }

    /// Sets the routine run after every body.
    pub fn teardown(&mut self, f: impl Fn(&Tc) -> Result<(), String> + 'static) -> &mut Self {
        self.teardown = Some(Box::new(f));
        self
    }

    /// The registered cases, with defaults filled in.
    pub fn cases(&mut self) -> &[TestCase] {
        let t = self.default_timeout;
        for c in &mut self.cases {
            c.meta.finish(t);
        }
        &self.cases
    }

    /// Multiplies every case's `timeout` by the slow-kernel factor (see `timescale`); called
    /// once, before anything is listed or run.
    fn scale_timeouts(&mut self, factor: u32) {
        let t = self.default_timeout;
        for c in &mut self.cases {
            c.meta.finish(t);
            if factor > 1 {
                let base = c.meta.timeout_secs();
                c.meta.timeout(timescale::scaled_secs(base, factor));
            }
        }
    }

    /// Every problem in the program's definition: bad metadata, duplicate names, no cases.
    pub fn validate(&mut self) -> Result<(), Vec<String>> {
        let mut errs: Vec<String> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for c in self.cases() {
            errs.extend(c.errors());
            if !seen.insert(c.name.clone()) {
                errs.push(format!("test case '{}': registered twice", c.name));
            }
        }
        if self.cases.is_empty() {
            errs.push("no test cases".into());
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }

    /// The `-l` output, byte for byte as atf-c prints it.
    pub fn list_text(&mut self) -> String {
        let mut out = String::from("Content-Type: application/X-atf-tp; version=\"1\"\n\n");
        for (i, c) in self.cases().iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&format!("ident: {}\n", c.name));
            for (n, v) in c.meta.props() {
                out.push_str(&format!("{n}: {v}\n"));
            }
        }
        out
    }

    /// Runs the program with this process's arguments and exits.
    pub fn main(mut self) -> ! {
        let argv: Vec<String> = std::env::args().collect();
        let code = self.run(&argv);
        let _ = std::io::stdout().flush();
        std::process::exit(code)
    }

    /// Runs the program with `argv` (argv[0] included); returns the exit status.
    pub fn run(&mut self, argv: &[String]) -> i32 {
        let argv0 = argv.first().map(String::as_str).unwrap_or("t");
        let prog = cli::progname(argv0);
        let usage = |Usage(msg): Usage| {
            eprintln!("{prog}: ERROR: {msg}");
            eprintln!("{prog}: See atf-test-program(1) for usage details.");
            1
        };
        let args = match cli::parse(argv.get(1..).unwrap_or_default()) {
            Ok(a) => a,
            Err(u) => return usage(u),
        };
        let srcdir = match find_srcdir(args.srcdir.as_deref(), argv0, &prog) {
            Ok(d) => d,
            Err(msg) => {
                eprintln!("{prog}: ERROR: {msg}");
                return 1;
            }
        };
        let mut config = args.config.clone();
        config.insert("srcdir".into(), srcdir.display().to_string());
        let factor = match timescale::from_env() {
            Ok(f) => f,
            Err(msg) => {
                eprintln!("{prog}: ERROR: {msg}");
                return 1;
            }
        };
        timescale::set(factor);
        self.scale_timeouts(factor);
        if let Err(errs) = self.validate() {
            eprintln!("{prog}: ERROR: invalid test program: {}", errs.join("; "));
            return 1;
        }
        if args.list {
            let text = self.list_text();
            let mut out = std::io::stdout().lock();
            return match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{prog}: ERROR: cannot write the list: {e}");
                    1
                }
            };
        }
        let (name, part) = args.case.clone().expect("parse gives a case without -l");
        let Some(idx) = self.cases.iter().position(|c| c.name == name) else {
            return usage(Usage(format!("Unknown test case `{name}'")));
        };
        // The process runs one case from here on: the others are dropped and their memory
        // returned, so that every fork(2) a body makes copies fewer page-table entries.
        self.cases.swap(0, idx);
        self.cases.truncate(1);
        self.cases.shrink_to_fit();
        // SAFETY: malloc_trim only releases free heap memory.
        unsafe { libc::malloc_trim(0) };
        let idx = 0;
        if std::env::var("__RUNNING_INSIDE_ATF_RUN").as_deref() != Ok("internal-yes-value") {
            eprintln!("{prog}: WARNING: Running test cases outside of kyua(1) is unsupported");
            eprintln!(
                "{prog}: WARNING: No isolation nor timeout control is being applied; you may get unexpected failures; see atf-test-case(4)"
            );
        }
        if let Some(v) = config.get(timescale::CONFIG) {
            match timescale::parse(v) {
                Ok(f) => timescale::set(f),
                Err(e) => {
                    return usage(Usage(format!("config variable {}: {e}", timescale::CONFIG)));
                }
            }
        }
        let tc = Tc::new(&name, config, srcdir, &prog);
        match part {
            Part::Body if std::env::var_os(repeat::ENV).is_some() => {
                let value = std::env::var(repeat::ENV).unwrap_or_default();
                match repeat::Spec::parse(&value) {
                    Ok(spec) => {
                        let code = repeat::run(&spec, &|| {
                            self.run_body_watched(idx, &tc, Sink::Discard, false)
                        });
                        state::end();
                        code
                    }
                    Err(e) => {
                        eprintln!("{prog}: ERROR: {}: {e}", repeat::ENV);
                        1
                    }
                }
            }
            Part::Body => {
                let result = self.run_body(idx, &tc, Sink::from_arg(&args.resfile));
                if let Err(e) = Sink::from_arg(&args.resfile).write(&result) {
                    eprintln!("{prog}: ERROR: {e}");
                    return 1;
                }
                result.exit_code()
            }
            Part::Cleanup => self.run_cleanup(idx, &tc),
        }
    }

    /// Runs body `idx` and the teardown in this process; returns the final result (not yet
    /// written). Results an `expect_*` call writes early go to `sink` at the call.
    pub fn run_body(&self, idx: usize, tc: &Tc, sink: Sink) -> TestResult {
        self.run_body_watched(idx, tc, sink, true)
    }

    /// `run_body`, or (`watch` false) a loop iteration: no watchdog thread (the waiters'
    /// deadlines bound it) and the last iteration's state reused when nothing touched it.
    fn run_body_watched(&self, idx: usize, tc: &Tc, sink: Sink, watch: bool) -> TestResult {
        let case = &self.cases[idx];
        install_panic_hook();
        if watch {
            state::begin(sink.clone());
        } else {
            state::begin_again(sink.clone());
        }
        let watchdog = watch.then(|| Watchdog::start(case.meta.timeout_secs(), sink, &case.name));
        if let Some(m) = &self.monitor {
            m.borrow_mut().begin();
        }
        let body = case
            .body
            .as_ref()
            .expect("validated: every case has a body");
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(tc))).map_err(unwind_result);
        if let Some(w) = &watchdog {
            w.body_ended(outcome.as_ref().err());
        }
        let teardown = self
            .teardown
            .as_ref()
            .map(|t| panic::catch_unwind(AssertUnwindSafe(|| t(tc))));
        let result = match outcome {
            Err(body_result) => body_result,
            Ok(()) => match teardown {
                Some(Ok(Err(msg))) => state::fail_result(msg),
                Some(Err(payload)) => unwind_result(payload),
                _ => state::end_of_body(),
            },
        };
        let result = match self.monitor.as_ref().map(|m| m.borrow_mut().end()) {
            Some(Err(problem)) => monitor::overrule(&problem, &result),
            _ => result,
        };
        drop(watchdog);
        if watch {
            state::end();
        } else {
            state::end_kept();
        }
        result
    }

    /// Runs cleanup `idx`: exit 0 unless it fails or panics.
    fn run_cleanup(&self, idx: usize, tc: &Tc) -> i32 {
        let Some(cleanup) = self.cases[idx].cleanup.as_ref() else {
            return 0;
        };
        install_panic_hook();
        state::begin(Sink::Stdout);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| cleanup(tc)));
        let code = match outcome {
            Ok(()) => 0,
            Err(payload) => {
                let r = unwind_result(payload);
                eprintln!("cleanup of {}: {r}", tc.name());
                r.exit_code().max(1)
            }
        };
        state::end();
        code
    }
}

/// atf-c's srcdir: `-s` or argv[0]'s directory, made absolute, without a libtool `.libs`;
/// the program must be found there.
fn find_srcdir(given: Option<&str>, argv0: &str, prog: &str) -> Result<PathBuf, String> {
    let dir = match given {
        Some(d) => PathBuf::from(d),
        None => match argv0.rfind('/') {
            Some(0) => PathBuf::from("/"),
            Some(i) => PathBuf::from(&argv0[..i]),
            None => PathBuf::from("."),
        },
    };
    let mut dir = if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cannot get the working directory: {e}"))?
            .join(dir)
    };
    if dir.file_name() == Some(std::ffi::OsStr::new(".libs")) {
        dir.pop();
    }
    if Path::new(&dir).join(prog).exists() {
        Ok(dir)
    } else {
        Err(format!(
            "Cannot find the test program in the source directory `{}'",
            dir.display()
        ))
    }
}

/// Config variables as a map (for tests and the loop driver).
pub fn config_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
