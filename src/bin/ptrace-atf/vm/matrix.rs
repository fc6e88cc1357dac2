//! Several boots side by side: result counts per kernel (and CPU model), and the cases
//! whose result differs between them.

use super::results::{CaseResult, Counts, Kind};
use std::collections::{BTreeMap, BTreeSet};

/// One column of the matrix: a boot's name, how it ended and its results.
pub struct Column<'a> {
    pub kernel: &'a str,
    pub cpu: &'a str,
    pub accel: &'a str,
    /// "complete", "PANIC", "hung", ...
    pub end: &'a str,
    pub minutes: f64,
    pub results: &'a BTreeMap<String, CaseResult>,
}

/// The table of counts, one row per boot (markdown, as the README carries it).
pub fn table(cols: &[Column]) -> String {
    let mut s = String::from(
        "| kernel | qemu -cpu | accel | passed | skipped | xfail | failed | broken | wall | end |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in cols {
        let n = Counts::of(c.results.values());
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} min | {} |\n",
            c.kernel,
            c.cpu,
            c.accel,
            n.passed,
            n.skipped,
            n.xfail,
            n.failed,
            n.broken,
            c.minutes,
            c.end
        ));
    }
    s
}

/// The cases whose result type is not the same in every boot that reported them, with
/// each boot's result (`-` where a boot has no result for the case).
pub fn differences(cols: &[Column]) -> Vec<(String, Vec<Option<Kind>>)> {
    let ids: BTreeSet<&String> = cols.iter().flat_map(|c| c.results.keys()).collect();
    ids.into_iter()
        .filter_map(|id| {
            let kinds: Vec<Option<Kind>> = cols
                .iter()
                .map(|c| c.results.get(id).map(|r| r.kind))
                .collect();
            let seen: BTreeSet<Kind> = kinds.iter().flatten().copied().collect();
            (seen.len() > 1).then(|| (id.clone(), kinds))
        })
        .collect()
}

/// The differences as text: a case per line, each boot numbered as in the table.
pub fn differences_text(cols: &[Column]) -> String {
    let diffs = differences(cols);
    if diffs.is_empty() {
        return "every case has the same result in every boot\n".into();
    }
    let mut s = format!("{} cases differ between boots:\n", diffs.len());
    for (i, c) in cols.iter().enumerate() {
        s.push_str(&format!("  [{}] {} -cpu {}\n", i + 1, c.kernel, c.cpu));
    }
    for (id, kinds) in diffs {
        let cells: Vec<String> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| format!("[{}] {}", i + 1, k.map(Kind::name).unwrap_or("-")))
            .collect();
        s.push_str(&format!("{id}: {}\n", cells.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::results::collect;

    #[test]
    fn counts_per_boot_and_the_cases_that_differ() {
        let a = collect([
            "d/t_d_wait:dr0  ->  failed: expected EINVAL  [0.1s]",
            "f/t_f_wait:fork1  ->  passed  [0.1s]",
            "f/t_f_pidfd:exec  ->  failed: pidfd_open failed with EINVAL  [0.1s]",
        ]);
        let b = collect([
            "d/t_d_wait:dr0  ->  passed  [0.1s]",
            "f/t_f_wait:fork1  ->  passed  [0.1s]",
        ]);
        let cols = [
            Column {
                kernel: "6.1",
                cpu: "max",
                accel: "tcg",
                end: "complete",
                minutes: 5.0,
                results: &a,
            },
            Column {
                kernel: "6.12",
                cpu: "max,la57=off",
                accel: "tcg",
                end: "PANIC",
                minutes: 2.5,
                results: &b,
            },
        ];
        let t = table(&cols);
        assert!(
            t.contains("| 6.1 | max | tcg | 1 | 0 | 0 | 2 | 0 | 5.0 min | complete |"),
            "{t}"
        );
        assert!(t.contains("| 6.12 | max,la57=off | tcg | 2 | 0 | 0 | 0 | 0 | 2.5 min | PANIC |"));
        let d = differences(&cols);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, "d/t_d_wait:dr0");
        assert_eq!(d[0].1, [Some(Kind::Failed), Some(Kind::Passed)]);
        let text = differences_text(&cols);
        assert!(
            text.contains("d/t_d_wait:dr0: [1] failed, [2] passed"),
            "{text}"
        );
    }
}
