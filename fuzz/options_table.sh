#!/bin/bash
# Extract the daemon's option table from fuse/options.c for fuzz_options.c's getopt model, so
# an option added there is known to the model's structure (which arguments it consumes) at
# once:  fuzz/options_table.sh fuse/options.c > build/fuzz/options_table.h
# Each entry is { "name", 0 none | 1 required | 2 optional, 'c' or 0 }: the short letter when
# the long option returns one. Fails when the table cannot be found.
set -euo pipefail
src=$1
short=$(grep -o 'getopt_long([^"]*"[^"]*"' "$src" | sed 's/.*"\(.*\)"$/\1/' | head -n 1)
if [ -z "$short" ]; then
	echo "options_table.sh: no getopt_long option string in $src" >&2
	exit 1
fi
entries=$(sed -n 's/^[[:space:]]*{ *"\([^"]*\)", *\(no\|required\|optional\)_argument, *NULL, *\([^ ,}]*\) *},.*/\1 \2 \3/p' "$src")
if [ -z "$entries" ]; then
	echo "options_table.sh: no long option table in $src" >&2
	exit 1
fi
echo "/* Generated from $src by fuzz/options_table.sh: do not edit. */"
printf '#define FUZZ_SHORTOPTS "%s"\n' "$short"
echo 'static const struct fuzz_longopt FUZZ_LONGOPTS[] = {'
while read -r name arg val; do
	case $arg in no) a=0 ;; required) a=1 ;; *) a=2 ;; esac
	case $val in "'"?"'") v=$val ;; *) v=0 ;; esac
	printf '\t{ "%s", %d, %s },\n' "$name" "$a" "$v"
done <<<"$entries"
echo '};'
