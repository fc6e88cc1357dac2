#!/usr/bin/env bash
# Stability check: runs the whole suite N times under kyua with parallelism 2 while CPU
# hogs keep every core busy, and fails when any result differs between runs, any case is
# broken or failed, or any process is left behind (process table compared before and after).
#
#   scripts/stability.sh [-n RUNS] [-j PARALLELISM] [--bin-dir DIR]
#
# Defaults: 5 runs, parallelism 2, programs from target/release (built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5 jobs=2 bins=target/release
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift 2 ;;
        -j) jobs=$2; shift 2 ;;
        --bin-dir) bins=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "stability: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$runs$jobs" in *[!0-9]*|"") echo "stability: -n and -j take numbers" >&2; exit 2 ;; esac
command -v kyua >/dev/null || { echo "stability: kyua is not installed (apt-get install kyua)" >&2; exit 4; }
[ -x "$bins/ptrace-atf" ] || cargo build --release --bins

work=$(mktemp -d /tmp/ptrace-atf-stability.XXXXXX)
# kyua runs the require.user=unprivileged cases as nobody: the tree must be reachable.
chmod 755 "$work"
hogs=()
cleanup() {
    for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bins/ptrace-atf" --bin-dir "$bins" install "$work/tree" >/dev/null

snapshot() { ps -eo pid=,ppid=,stat=,comm= | awk '{print $1, $2, substr($3,1,1), $4}' | sort; }
snapshot > "$work/before"

for _ in $(seq "$(nproc)"); do
    ( while :; do :; done ) &
    hogs+=($!)
done

user=()
[ "$(id -u)" = 0 ] && user=(--variable=unprivileged_user=nobody)
status=0 total=0 bad_total=0
for i in $(seq "$runs"); do
    start=$(date +%s%N)
    (cd "$work/tree" && kyua --variable=parallelism="$jobs" "${user[@]}" test \
        --results-file="$work/run$i.db" >"$work/run$i.log" 2>&1) || true
    kyua db-exec --results-file="$work/run$i.db" --no-headers \
        "SELECT tp.relative_path || ':' || tc.name, tr.result_type FROM test_programs tp
         JOIN test_cases tc USING (test_program_id) JOIN test_results tr USING (test_case_id)" \
        | sort > "$work/run$i.txt"
    end=$(date +%s%N)
    printf 'run %d: %d cases, %d ms, %s\n' "$i" "$(wc -l < "$work/run$i.txt")" \
        "$(( (end - start) / 1000000 ))" "$(tail -1 "$work/run$i.log")"
    bad=$(grep -E ',(failed|broken)$' "$work/run$i.txt" || true)
    total=$((total + $(wc -l < "$work/run$i.txt")))
    bad_total=$((bad_total + $(grep -cE ',(failed|broken)$' "$work/run$i.txt" || true)))
    if [ -n "$bad" ]; then
        echo "run $i: failed or broken cases:"; echo "$bad" | sed 's/^/  /'
        grep -E -- '->  (failed|broken)' "$work/run$i.log" | sed 's/^/  /' || true
        status=1
    fi
    if [ "$i" -gt 1 ] && ! diff -u "$work/run1.txt" "$work/run$i.txt" > "$work/diff$i"; then
        echo "run $i: results differ from run 1:"; sed 's/^/  /' "$work/diff$i"
        status=1
    fi
done

for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
hogs=()
sleep 1
snapshot > "$work/after"
# New processes that are stopped/traced, or orphans of ours, are leftovers.
left=$(comm -13 "$work/before" "$work/after" | awk '$3 ~ /^[Tt]$/ || $4 ~ /^t_/' || true)
if [ -n "$left" ]; then
    echo "processes left behind (pid ppid state command):"; echo "$left" | sed 's/^/  /'
    status=1
fi
if [ "$status" = 0 ]; then
    echo "stability: $runs runs with parallelism $jobs under load: identical results, nothing left behind"
fi
echo "stability: $((total - bad_total)) passed, $bad_total failed"
exit "$status"
