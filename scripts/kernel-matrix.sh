#!/usr/bin/env bash
# The kernel matrix: Debian's 6.1 cloud, 6.12 cloud and 6.12 rt (PREEMPT_RT) kernels, each
# booted under QEMU with `-cpu max` (5-level paging) and `-cpu max,la57=off`, the whole
# suite (or FILTERS) run inside by `ptrace-atf vm`, which prints a table of result counts
# per boot and the cases whose result differs. The output is kept in
# target/kernel-matrix-DATE.txt.
#
#   scripts/kernel-matrix.sh [-d DIR] [--bin-dir DIR] [-- VM-OPTIONS...] [FILTERS...]
#
# DIR (default: target/kernels) holds the linux-image-*.deb to boot; when it has none, the
# current 6.1 cloud, 6.12 cloud and 6.12 rt packages are fetched with `apt-get download`.
# Under TCG the whole suite takes 4-8 minutes a boot, so the matrix takes 30-50 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/kernels
bins=target/release
vm_opts=()
filters=()
while [ $# -gt 0 ]; do
    case "$1" in
        -d) dir=$2; shift 2 ;;
        --bin-dir) bins=$2; shift 2 ;;
        --) shift; while [ $# -gt 0 ] && [ "$1" != "--" ]; do vm_opts+=("$1"); shift; done
            [ $# -gt 0 ] && shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) filters+=("$1"); shift ;;
    esac
done

mkdir -p "$dir"
# The package a metapackage stands for now (versions move), e.g.
# linux-image-6.12-cloud-amd64 -> linux-image-6.12.117+deb12-cloud-amd64.
resolve() {
    apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' || true
}
shopt -s nullglob
debs=("$dir"/linux-image-*.deb)
if [ ${#debs[@]} -eq 0 ]; then
    for meta in linux-image-cloud-amd64 linux-image-6.12-cloud-amd64 linux-image-6.12-rt-amd64; do
        pkg=$(resolve "$meta")
        if [ -z "$pkg" ]; then
            echo "kernel-matrix: cannot resolve $meta (apt-get update?)" >&2
            exit 1
        fi
        (cd "$dir" && apt-get download "$pkg")
    done
    debs=("$dir"/linux-image-*.deb)
fi

args=()
for d in "${debs[@]}"; do args+=(--kernel "$d"); done
out="target/kernel-matrix-$(date +%Y%m%d-%H%M%S).txt"
echo "kernel-matrix: ${#debs[@]} kernels x 2 CPU models; output also in $out"
set +e +o pipefail
"$bins/ptrace-atf" vm "${args[@]}" --qemu-cpu max --qemu-cpu max,la57=off \
    ${vm_opts[@]+"${vm_opts[@]}"} ${filters[@]+"${filters[@]}"} 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e -o pipefail
echo "kernel-matrix: ptrace-atf vm exited with status $status; the table:"
sed -n '/^| kernel |/,$p' "$out"
exit "$status"
