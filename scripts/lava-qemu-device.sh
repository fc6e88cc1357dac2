#!/usr/bin/env bash
# Renders a LAVA device description for a local QEMU device, as a LAVA server would for a
# job: Debian's lava-server device-type template qemu.jinja2, a device dictionary
# (`netdevice: user`: no bridge or tap needed) and the job's `context:` section.
#
#   scripts/lava-qemu-device.sh JOB.yaml DEVICE.yaml [CACHE_DIR]
#
# The templates come from /usr/share/lava-server/device-types when lava-server is installed,
# otherwise from `apt-get download lava-server` unpacked into CACHE_DIR (default
# target/lava-server). Needs python3-jinja2 and python3-yaml (lava-dispatcher brings both).
# Exit status: 0 written, 2 usage, 3 templates or python modules missing.
set -euo pipefail
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 JOB.yaml DEVICE.yaml [CACHE_DIR]" >&2
    exit 2
fi
job=$1 device=$2 cache=${3:-target/lava-server}
[ -f "$job" ] || { echo "$0: $job: no such job definition" >&2; exit 2; }
types=/usr/share/lava-server/device-types
# Debian's python3 (python3-jinja2, python3-yaml), not another one first in PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if [ ! -f "$types/qemu.jinja2" ]; then
    types=$cache/usr/share/lava-server/device-types
    if [ ! -f "$types/qemu.jinja2" ]; then
        mkdir -p "$cache"
        deb=$(ls "$cache"/lava-server_*.deb 2>/dev/null | head -1 || true)
        if [ -z "$deb" ]; then
            (cd "$cache" && apt-get download lava-server >/dev/null) ||
                { echo "$0: cannot download lava-server (apt-get download lava-server)" >&2; exit 3; }
            deb=$(ls "$cache"/lava-server_*.deb | head -1)
        fi
        dpkg-deb -x "$deb" "$cache"
    fi
fi
"$py" - "$types" "$job" "$device" <<'PY' || exit 3
import sys
import jinja2
import yaml

types, job, device = sys.argv[1:]
with open(job) as f:
    context = (yaml.safe_load(f) or {}).get("context", {}) or {}
env = jinja2.Environment(loader=jinja2.FileSystemLoader(types), autoescape=False)
variables = {"netdevice": "user"}
variables.update(context)
text = env.from_string("{% extends 'qemu.jinja2' %}").render(**variables)
yaml.safe_load(text)  # it must be YAML
with open(device, "w") as f:
    f.write(text)
print(f"{device}: LAVA qemu device from {types}/qemu.jinja2 with {variables}")
PY
