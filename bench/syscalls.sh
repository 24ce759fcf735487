#!/bin/bash
# Daemon syscalls per client operation, for resolvconffs and bench-floor: strace -f -c attached to
# the daemon during one bench-loadgen run per mode, from one network namespace. Needs root and
# strace. Counts are what matter here; strace makes everything slow, so ignore its times.
#   bench/syscalls.sh [BUILD_DIR [RESOLVCONFFS_ARGS...]]     (BUILD_DIR default: build)
# VIA_TEMPLATE=1: the namespace's backing file is created by the daemon from a -d template (and
# then written through the mount), as in production, instead of being written directly.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "${1:-$HERE/../build}" && pwd); shift || true
command -v strace >/dev/null || { echo "syscalls.sh: needs strace" >&2; exit 2; }
T=$(mktemp -d /tmp/rcfs-syscalls-XXXXXX)
mount -t tmpfs -o size=16m rcfs-syscalls "$T"
NS=rcfs-syscalls-$$
DPID= SPID=
cleanup() {
	set +e
	[ -n "$SPID" ] && kill -INT "$SPID" && wait "$SPID" 2>/dev/null
	[ -n "$DPID" ] && kill -TERM "$DPID" && wait "$DPID" 2>/dev/null
	if grep -q " $T/m " /proc/self/mountinfo; then fusermount3 -u "$T/m" || umount -l "$T/m"; fi
	umount "$T" && rmdir "$T"
	ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS"
id=$(stat -c %i "/run/netns/$NS")
host=$(stat -L -c %i /proc/self/ns/net)
mkdir "$T/b" "$T/exp-r" "$T/exp-f"
printf 'nameserver 10.9.9.9\noptions timeout:1\n# %0150d\n' 0 > "$T/exp-r/$NS"
printf 'nameserver 192.0.2.1\n' > "$T/template"
cp "$T/exp-r/$NS" "$T/b/$host.conf"
[ "${VIA_TEMPLATE:-0}" = 1 ] || cp "$T/exp-r/$NS" "$T/b/$id.conf"
/usr/bin/python3 -c "import sys; sys.path.insert(0, '$HERE'); import run; sys.stdout.write(run.floor_content($id))" > "$T/exp-f/$NS"
touch "$T/m"
for subj in resolvconffs floor; do
	if [ $subj = resolvconffs ]; then
		"$BIN/resolvconffs" "$@" -d "$T/template" "$T/b" "$T/m" 2>"$T/err" & DPID=$!; exp=$T/exp-r
		until [ "$(stat -c %d "$T/m")" != "$(stat -c %d "$T")" ]; do sleep 0.01; done
		[ -e "$T/b/$id.conf" ] || ip netns exec "$NS" cp "$T/exp-r/$NS" "$T/m"
	else
		"$BIN/bench-floor" "$T/m" 2>"$T/err" & DPID=$!; exp=$T/exp-f
	fi
	until [ "$(stat -c %d "$T/m")" != "$(stat -c %d "$T")" ]; do sleep 0.01; done
	for mode in stat read resolv glibc write; do
		strace -f -c -o "$T/st" -p "$DPID" 2>/dev/null & SPID=$!
		sleep 0.5
		out=$("$BIN/bench-loadgen" --mode $mode --path "$T/m" --seconds 1 --netns "$NS" --expect-dir "$exp")
		sleep 0.3
		kill -INT "$SPID"; wait "$SPID" || true; SPID=
		ops=$(echo "$out" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["ops"])')
		printf '%-12s %-6s %6d ops:' $subj $mode "$ops"
		awk -v ops="$ops" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" && $4 / ops >= 0.05 {
			printf " %s=%.2f", $NF, $4 / ops } $NF == "total" { t = $4 / ops }
			END { printf "  (total %.2f)\n", t }' "$T/st"
	done
	kill -TERM "$DPID"; wait "$DPID" || true; DPID=
	until [ "$(stat -c %d "$T/m")" = "$(stat -c %d "$T")" ]; do sleep 0.01; done
done
