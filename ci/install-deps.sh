#!/bin/bash
# Install the Debian packages resolvconffs needs to build, test and demonstrate itself.
# Used by the README's commands and by .ci/run; safe to run again (installed packages are skipped).
set -euo pipefail

packages=(
	build-essential pkg-config clang      # compilers: gcc for the build, clang for warnings and fuzzing
	libclang-rt-14-dev                    # libFuzzer and sanitizer runtimes for clang
	libfuse3-dev fuse3                    # the FUSE frontend and fusermount3
	libcriterion-dev valgrind             # unit tests and the memcheck stage
	python3 python3-pytest                # integration tests (run with /usr/bin/python3)
	iproute2 util-linux procps            # ip netns, unshare/nsenter/setpriv, pkill-free process checks
	uidmap                                # newuidmap, newgidmap: subordinate ids in userns.sh
	passwd                                # usermod: .ci/run's subordinate ids for its unprivileged user
	dnsmasq-base libc-bin                 # the real-resolver test: dnsmasq and getent
	mandoc groff-base man-db              # man page lint and rendering
	debhelper dpkg-dev fakeroot lintian   # the Debian package and its test
	systemd                               # systemd-analyze verify for the unit
)

if [ "$(id -u)" -ne 0 ]; then
	echo "ci/install-deps.sh: run as root (apt-get needs it)" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "ci/install-deps.sh: all packages present"
	exit 0
fi
echo "ci/install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
