//! `ptrace-atf truss`: a syscall tracer built on the toolkit that counts entries, exits,
//! errors and missed events per syscall (the table NetBSD's truss printed).

use std::process::ExitCode;

/// Options of `ptrace-atf truss`.
#[derive(clap::Args)]
pub struct Args {
    /// Follow forked children too.
    #[arg(short = 'f')]
    pub follow_forks: bool,
    /// Write the table to FILE instead of stderr.
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Attach to a running process instead of starting COMMAND.
    #[arg(short = 'p', value_name = "PID", conflicts_with = "command")]
    pub pid: Option<i32>,
    /// The command to run and trace.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Runs the tracer.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("ptrace-atf: truss is not built yet");
    ExitCode::from(3)
}
