#!/bin/bash
# Run libFuzzer targets built by mk/fuzz.mk:  fuzz/run.sh BUILD_DIR SECONDS TARGET...
#
# Per target: replay fuzz/regressions/TARGET-*.bin (each must pass), copy the seeds from
# fuzz/corpus/TARGET/ into the scratch corpus BUILD_DIR/corpus/TARGET/, fuzz for SECONDS with
# -print_final_stats=1, print executions, exec/s and wall time. The fuzzer's output goes
# through a pipe into BUILD_DIR/TARGET.log (fuzz_sim limits its own file sizes with
# RLIMIT_FSIZE; a pipe is not subject to it). Crash inputs land in BUILD_DIR/artifacts/.
# A summary table is printed at the end and written to BUILD_DIR/summary.md; the exit status
# is 1 when any target failed. Extra libFuzzer options come from $FUZZ_ARGS.
set -u
shopt -s nullglob

build=$1
seconds=$2
shift 2
top=$(pwd)
mkdir -p "$build/artifacts" "$build/corpus" "$build/tmp"
rows=()
failed=()

field() { # field NAME LOG: the value of libFuzzer's "stat::NAME: value" line
	sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

for t in "$@"; do
	bin=$build/fuzz_$t
	corpus=$build/corpus/$t
	log=$build/$t.log
	status=ok
	# (again per target: a concurrent `make clean` may have removed build/)
	mkdir -p "$corpus" "$build/artifacts" "$build/tmp"
	if [ ! -x "$bin" ]; then
		echo "!! $t: $bin is missing (was build/ cleaned during the run?)"
		failed+=("$t")
		rows+=("| $t | - | - | - | - | - | - | MISSING |")
		continue
	fi
	seeds=("$top/fuzz/corpus/$t"/*)
	((${#seeds[@]})) && cp -- "${seeds[@]}" "$corpus"/
	tmp=$(mktemp -d "$build/tmp/$t.XXXXXX")
	dict=()
	[ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")

	regs=("$top/fuzz/regressions/$t"-*.bin)
	if ((${#regs[@]})); then
		echo "== $t: replaying ${#regs[@]} regression input(s)"
		if ! TMPDIR=$tmp "$bin" "${regs[@]}" >"$build/$t.regressions.log" 2>&1; then
			echo "!! $t: a regression input fails again; see $build/$t.regressions.log:"
			grep -E 'ERROR|invariant|check:|Running:' "$build/$t.regressions.log" | head -n 20
			status=REGRESSION
		fi
	fi

	echo "== $t: fuzzing for ${seconds}s (${#seeds[@]} seeds, corpus $corpus)"
	start=$(date +%s.%N)
	# shellcheck disable=SC2086
	TMPDIR=$tmp "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
		-max_len=4096 -artifact_prefix="$build/artifacts/$t-" "${dict[@]}" ${FUZZ_ARGS:-} \
		"$corpus" 2>&1 | cat >"$log"
	rc=${PIPESTATUS[0]}
	end=$(date +%s.%N)
	rm -rf "$tmp"

	execs=$(field number_of_executed_units "$log")
	eps=$(field average_exec_per_sec "$log")
	newu=$(field new_units_added "$log")
	rss=$(field peak_rss_mb "$log")
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	units=$(find "$corpus" -type f | wc -l)
	if [ "$rc" -ne 0 ]; then
		status="FAIL(rc=$rc)"
		echo "!! $t: the fuzzer failed; end of $log:"
		grep -E -A3 'ERROR: |invariant violated|runtime error|SUMMARY' "$log" | head -n 40
		grep -E '^(Test unit written to|artifact_prefix)' "$log"
	fi
	[ "$status" = ok ] || failed+=("$t")
	printf '   %s: %s execs in %ss (%s exec/s), %s new units, corpus %s, %s, peak RSS %s MB: %s\n' \
		"$t" "${execs:-?}" "$wall" "${eps:-?}" "${newu:-?}" "$units" "${cov:-cov ?}" "${rss:-?}" "$status"
	rows+=("| $t | ${execs:-?} | ${eps:-?} | $wall | $units | ${cov:-?} | ${rss:-?} | $status |")
done

{
	echo "Fuzzing run of $(date -u +%Y-%m-%dT%H:%MZ), ${seconds} s per target, $(nproc) CPUs, $("${FUZZ_CC:-clang}" --version | head -n 1)"
	echo
	echo "| target | executions | exec/s | wall s | corpus files | coverage | peak RSS MB | result |"
	echo "|---|---:|---:|---:|---:|---|---:|---|"
	printf '%s\n' "${rows[@]}"
} >"$build/summary.md"
echo
cat "$build/summary.md"
if ((${#failed[@]})); then
	echo
	echo "fuzz: FAILED: ${failed[*]} (crash inputs in $build/artifacts/, logs in $build/*.log)"
	exit 1
fi
echo
echo "fuzz: all ${#} targets ran ${seconds}s without a crash"
