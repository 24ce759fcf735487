#!/bin/sh
# Run a command (the FUSE suite) as an ordinary user's root: in a new user namespace where the
# user's uid and gid are mapped to 0, with a new, private mount namespace.
#
#   tests/fuse/userns.sh python3 -m pytest tests/fuse
#
# There the kernel lets the command mount a FUSE filesystem over a file with mount(2) (given a
# /dev/fuse the user may open), create network namespaces and bind-mount them, and see those
# mounts directly; nothing of it is visible outside, and it all goes away with the command.
# Run as real root, or where no user namespace can be made, the command runs as it is (the FUSE
# tests then say why they skip).
set -eu

if [ "$#" -eq 0 ]; then
	echo "usage: $0 COMMAND [ARG]..." >&2
	exit 2
fi
if [ "$(id -u)" = 0 ] && [ "$(tr -s ' ' </proc/self/uid_map 2>/dev/null | sed 's/^ //')" = "0 0 4294967295" ]; then
	exec "$@"
fi
unshare="unshare --user --map-root-user --mount --propagation private"
if ! $unshare true 2>/dev/null; then
	echo "userns.sh: cannot create a user namespace ($($unshare true 2>&1 | head -n 1)); running $1 as $(id -un 2>/dev/null || id -u)" >&2
	exec "$@"
fi
# pytest keeps its temporary directories in /tmp/pytest-of-$LOGNAME and refuses one that the
# current uid does not own: inside, the uid is 0 and getpass would say "root", whose directory
# belongs to the real root. Keep the user's own name (and directory) instead.
name=$(id -un 2>/dev/null || echo "uid$(id -u)")
LOGNAME=$name USER=$name
export LOGNAME USER
exec $unshare "$@"
