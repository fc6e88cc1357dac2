//! The case `ptrace-atf loop` runs: a target resolved to exactly one case.

use crate::cases::{self, Case};
use std::path::Path;

/// The binary, waiter and case a target names (one case; its program under one waiter).
pub(super) fn resolve(target: &str, bins: &Path) -> Result<(Case, Option<String>), (u8, String)> {
    let filter = cases::parse(target).map_err(|e| (2, e))?;
    let catalog = cases::catalog(bins).map_err(|e| (3, e))?;
    let matches: Vec<&Case> = catalog.iter().filter(|c| filter.matches(c)).collect();
    let Some(first) = matches.first() else {
        return Err((
            2,
            format!("'{target}' names no test case (see: ptrace-atf list)"),
        ));
    };
    let mut distinct: Vec<String> = matches
        .iter()
        .map(|c| format!("{}/{}:{}", c.area, c.base, c.listed.ident))
        .collect();
    distinct.dedup();
    if distinct.len() > 1 {
        let shown: Vec<String> = distinct.iter().take(8).cloned().collect();
        return Err((
            2,
            format!(
                "'{target}' names {} cases ({}{}); loop runs one: name it as `ptrace-atf list` prints it",
                distinct.len(),
                shown.join(", "),
                if distinct.len() > 8 { ", ..." } else { "" }
            ),
        ));
    }
    if matches.len() == 1 {
        return Ok(((*first).clone(), None));
    }
    // One case under several waiter programs: the default waiter's.
    let chosen = matches
        .iter()
        .find(|c| c.waiter() == "waitpid")
        .unwrap_or(first);
    let note = format!(
        "'{target}' names the case under {} waiter programs; running {} (the default waiter; name another program to choose)",
        matches.len(),
        chosen.id()
    );
    Ok(((*chosen).clone(), Some(note)))
}
