#!/bin/bash
# Run the unit tests and a simulator session under valgrind memcheck.
#
#   tests/valgrind.sh BUILD_DIR
#
# Fails (non-zero, with a message naming the log) on any memcheck error or definite leak in any
# process, on a failing unit test, and on a simulator session that does not answer as expected.
#
# Criterion runs each test in a worker process it spawns by re-executing the test binary, and
# some tests fork further children (tmpfs in a private mount namespace, privilege drops): all of
# them run under valgrind through --trace-children=yes. Criterion ignores a worker's exit status,
# so --error-exitcode alone would not fail anything: every process writes its own log and the
# script checks each log's ERROR SUMMARY instead (a log without one means the process died
# before valgrind could finish: also a failure).
#
# Environment: VALGRIND (default: valgrind), VALGRIND_JOBS (parallel test workers, default: the
# number of CPUs), UNIT_ARGS (extra arguments for unit-tests, e.g. "--filter 'nslink*/*'"),
# KEEP_LOGS=1 to keep the log directory.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
unit="$build/unit-tests"
sim="$build/resolvconffs-sim"
for bin in "$unit" "$sim"; do
	if [[ ! -x $bin ]]; then
		echo "valgrind.sh: $bin not found: run make first" >&2
		exit 2
	fi
done
VALGRIND=${VALGRIND:-valgrind}
if ! command -v "$VALGRIND" >/dev/null; then
	echo "valgrind.sh: $VALGRIND not installed" >&2
	exit 2
fi
if ldd "$unit" | grep -q libasan; then
	echo "valgrind.sh: $build was built with SAN=1; valgrind cannot run ASan binaries" >&2
	exit 2
fi

work=$(mktemp -d /tmp/rcfs-valgrind-XXXXXX)
cleanup() {
	if [[ ${KEEP_LOGS:-0} == 1 ]]; then
		echo "valgrind.sh: logs kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

vg_opts=(
	--tool=memcheck
	--error-exitcode=99
	--leak-check=full
	--show-leak-kinds=definite
	--errors-for-leak-kinds=definite
	--track-fds=no
	--num-callers=30
	--read-inline-info=no
	--trace-children=yes
	--child-silent-after-fork=no
	# No gdbserver: its FIFOs in /tmp are named by pid and $USER, and those of a process that was
	# killed stay behind; another user's later process with the same pid then fails to start.
	--vgdb=no
)

failures=0
fail() {
	echo "valgrind.sh: FAIL: $*" >&2
	failures=$((failures + 1))
}

# check_logs DIR LABEL: every log must be complete and report no errors.
check_logs() {
	local dir=$1 label=$2 log n=0 bad=0
	for log in "$dir"/vg.*.log; do
		[[ -e $log ]] || continue
		n=$((n + 1))
		if ! grep -q 'ERROR SUMMARY:' "$log"; then
			fail "$label: $(basename "$log") has no ERROR SUMMARY (process killed?):"
			sed 's/^/    /' "$log" | tail -n 20 >&2
			bad=1
		elif ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
			fail "$label: memcheck errors or definite leaks in $(basename "$log"):"
			sed 's/^/    /' "$log" >&2
			bad=1
		fi
	done
	if [[ $n -eq 0 ]]; then
		fail "$label: no valgrind logs written"
		bad=1
	fi
	[[ $bad -eq 0 ]] && echo "valgrind.sh: $label: $n processes, no errors, no definite leaks"
	return 0
}

# ---- unit tests ---------------------------------------------------------------------------
# Every test is a process of its own, and valgrind's start-up (the test binary pulls in some
# twenty libraries through libcriterion) dominates the run: use every CPU. Criterion warns that
# it was given --jobs under valgrind; the reports stay correct.
jobs=${VALGRIND_JOBS:-$(nproc 2>/dev/null || echo 1)}
mkdir "$work/unit"
echo "valgrind.sh: running $unit under valgrind"
unit_status=0
# shellcheck disable=SC2086 # UNIT_ARGS is split on purpose
"$VALGRIND" "${vg_opts[@]}" --log-file="$work/unit/vg.%p.log" \
	"$unit" --jobs "$jobs" --short-filename ${UNIT_ARGS:-} >"$work/unit/out" 2>&1 || unit_status=$?
cat "$work/unit/out"
if [[ $unit_status -ne 0 ]]; then
	fail "unit tests exited with status $unit_status under valgrind"
fi
if ! grep -q 'Synthesis: Tested: [1-9]' "$work/unit/out"; then
	fail "unit tests did not report a synthesis"
fi
check_logs "$work/unit" "unit tests"

# ---- simulator session --------------------------------------------------------------------
s="$work/sim"
mkdir -p "$s/proc" "$s/backing" "$s/vg"
for entry in 100:1 101:1 200:2 300:garbage 400:../../etc/shadow; do
	pid=${entry%%:*} id=${entry#*:}
	mkdir -p "$s/proc/$pid/ns"
	ln -s "net:[$id]" "$s/proc/$pid/ns/net"
done
printf 'nameserver 192.0.2.53\nsearch example.org\n' >"$s/template"
chmod 0640 "$s/template"

cat >"$s/in" <<'EOF'
key 100
key 101
key 200
key 300
key 400
key 0
key 999
read 100
stat 100
write 100 nameserver 10.0.0.1
append 100 search one.example
read 101
truncate 100 10
read 100
stat 200
append 200 options ndots:2
read 200
write 200
truncate 200 -1
truncate 200 abc
read 300
stat 0
garbage
read
read 100 extra

read 12345678901234567890
EOF

expected=$(cat <<'EOF'
ok 1
ok 1
ok 2
err EINVAL
err EINVAL
err ESRCH
err ESRCH
ok 41
nameserver 192.0.2.53
search example.org

ok size=41 mode=640
ok 20
ok 19
ok 39
nameserver 10.0.0.1
search one.example

ok
ok 10
nameserver
ok size=41 mode=640
ok 16
ok 57
nameserver 192.0.2.53
search example.org
options ndots:2

err EINVAL
err EINVAL
err EINVAL
err EINVAL
err ESRCH
err EINVAL
err EINVAL
err EINVAL
err EINVAL
err EINVAL
EOF
)

echo "valgrind.sh: running a simulator session under valgrind"
sim_status=0
"$VALGRIND" "${vg_opts[@]}" --log-file="$s/vg/vg.%p.log" \
	"$sim" -d "$s/template" -P "$s/proc" "$s/backing" <"$s/in" >"$s/out" 2>"$s/err" || sim_status=$?
if [[ $sim_status -ne 0 ]]; then
	fail "simulator exited with status $sim_status: $(cat "$s/err")"
fi
# stat also prints uid and gid, which depend on who runs this: compare without them.
actual=$(sed -E 's/^(ok size=[0-9]+ mode=[0-7]+) uid=[0-9]+ gid=[0-9]+$/\1/' "$s/out")
if [[ $actual != "$expected" ]]; then
	fail "simulator answers differ from the expected transcript:"
	diff <(echo "$expected") <(echo "$actual") >&2 || true
fi
if [[ -n $(find "$s/backing" -mindepth 1 -name '.*') ]]; then
	fail "temporary files left in the simulator's backing directory"
fi
check_logs "$s/vg" "simulator session"

# Start-up failures must not leak either.
mkdir "$s/vg-init"
for args in "-P $s/proc $s/missing" "-d $s/missing -P $s/proc $s/backing" \
	"-p a/b -P $s/proc $s/backing" "-P $s/missing $s/backing" "--bogus"; do
	status=0
	# shellcheck disable=SC2086 # args is split on purpose
	"$VALGRIND" "${vg_opts[@]}" --log-file="$s/vg-init/vg.%p.log" \
		"$sim" $args </dev/null >/dev/null 2>&1 || status=$?
	if [[ $status -ne 2 ]]; then
		fail "simulator $args exited with $status, want 2"
	fi
done
check_logs "$s/vg-init" "simulator start-up errors"

if [[ $failures -ne 0 ]]; then
	echo "valgrind.sh: $failures failure(s)" >&2
	exit 1
fi
echo "valgrind.sh: PASS"
