#!/bin/bash
# One-command demonstration: mount resolvconffs over a temporary file, give two network
# namespaces their own view of it, show every view, and clean everything up again.
# Needs root (ip netns); touches nothing outside a temporary directory and its own namespaces.
set -euo pipefail

build=${RCFS_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (it creates network namespaces with ip netns)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/resolvconffs-demo.XXXXXX)
ns_a=rcfs-demo-$$-a
ns_b=rcfs-demo-$$-b
daemon=

cleanup() {
	if [ -n "$daemon" ]; then
		kill -TERM "$daemon" 2>/dev/null || true
		wait "$daemon" 2>/dev/null || true
	fi
	if grep -qF " $tmp/resolv.conf " /proc/self/mountinfo; then
		fusermount3 -u "$tmp/resolv.conf" 2>/dev/null || umount -l "$tmp/resolv.conf"
	fi
	ip netns del "$ns_a" 2>/dev/null || true
	ip netns del "$ns_b" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir "$tmp/backing"
printf 'nameserver 192.0.2.53\n' > "$tmp/template"
: > "$tmp/resolv.conf"
"$build/resolvconffs" -d "$tmp/template" "$tmp/backing" "$tmp/resolv.conf" 2> "$tmp/daemon.log" &
daemon=$!

for _ in $(seq 100); do
	grep -qF " $tmp/resolv.conf " /proc/self/mountinfo && break
	kill -0 "$daemon" 2>/dev/null || { cat "$tmp/daemon.log" >&2; exit 1; }
	sleep 0.05
done
grep -qF " $tmp/resolv.conf " /proc/self/mountinfo || { echo "demo: mount did not appear" >&2; exit 1; }
sed 's/^/daemon: /' "$tmp/daemon.log"

ip netns add "$ns_a"
ip netns add "$ns_b"
in_ns() { nsenter --net="/run/netns/$1" sh -c "$2"; }

echo
echo "== each namespace writes its own resolver into the same path, $tmp/resolv.conf"
in_ns "$ns_a" "echo 'nameserver 10.0.0.1  # namespace $ns_a' > $tmp/resolv.conf"
in_ns "$ns_b" "echo 'nameserver 10.0.0.2  # namespace $ns_b' > $tmp/resolv.conf"

echo
echo "== host ($(readlink /proc/self/ns/net)) reads:"
cat "$tmp/resolv.conf"
for ns in "$ns_a" "$ns_b"; do
	echo "== $ns ($(in_ns "$ns" 'readlink /proc/self/ns/net')) reads:"
	in_ns "$ns" "cat $tmp/resolv.conf"
done

echo
echo "== backing directory: one file per namespace id (the host's copied from the template)"
(cd "$tmp/backing" && for f in *; do printf '%-20s %s' "$f" "$(cat "$f")"; echo; done)
