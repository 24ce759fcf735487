#!/bin/sh
# Run a command (the test suites) as an ordinary user's root: in a new user namespace, with a new,
# private mount namespace and a new network namespace (its loopback up).
#
#   tests/fuse/userns.sh [--if-ids] python3 -m pytest tests/fuse
#
# With a subordinate id range of at least 65536 in /etc/subuid and /etc/subgid, and newuidmap and
# newgidmap (Debian package uidmap), the namespace has many ids (RCFS_USERNS=ids):
#
#   inside 0           -> your own uid and gid
#   inside 1..65536    -> your first subordinate range of at least 65536 ids (65534 is nobody's
#                         stand-in), for uids and gids alike
#
# so that callers of other uids and gids can be made with setpriv. Otherwise only your own uid and
# gid are mapped, to 0 (RCFS_USERNS=single, RCFS_USERNS_REASON says why); setting RCFS_USERNS=single
# beforehand asks for that. With --if-ids the command runs in a namespace only when it can have
# the many ids, and as you otherwise (the unit tests, as root of a namespace with your own ids
# alone, would try other ids and fail rather than skip).
#
# Either way the command finds a private, empty, writable /run/netns and /etc/netns, where
# `ip netns add` and `ip netns exec` work: a tmpfs on each that exists, and for one that does not
# a writable copy of /run or /etc with it added (see add_dir). The kernel lets the command mount a
# FUSE filesystem over a file (given a /dev/fuse the user may open), create network namespaces and
# bind-mount them; nothing of it is visible outside, and it all goes away with the command. Run
# as real root, or where no user namespace can be made, the command runs as it is (the tests then
# say why they skip).
set -eu

# Inside 1..IDS map to the subordinate range: enough for 65534 (nobody) and 65535 (-1 is never
# an id) to be ordinary ids inside.
IDS=65536

if_ids=
if [ "${1:-}" = --if-ids ]; then
	if_ids=1
	shift
fi
if [ "$#" -eq 0 ]; then
	echo "usage: $0 [--if-ids] COMMAND [ARG]..." >&2
	exit 2
fi

# --- inside the namespace -----------------------------------------------------------------------

# Whether anything is mounted beneath the directory $1.
has_submounts() {
	awk -v p="$1/" 'index($5, p) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Put a new directory $1 where there is none, in a new copy of its parent directory P that root
# here may write (root of this namespace may not write the real one). The copy is an overlay of P,
# its upper layer on a tmpfs, when the kernel allows one: it refuses a lower layer with mounts
# beneath it that came from the outer namespace (this one may not unmount them), and overlayfs in
# a user namespace needs Linux 5.11. Otherwise it is a tmpfs holding a bind mount (--rbind: with
# whatever is mounted beneath it) of each of P's entries and a copy of each symbolic link. Either
# is assembled in a temporary directory and then moved over P.
add_dir() {
	parent=$(dirname "$1")
	t=$(mktemp -d "${TMPDIR:-/tmp}/rcfs-userns-XXXXXX")
	if ! has_submounts "$parent"; then
		mount -n -t tmpfs -o mode=0700 rcfs-userns "$t" &&
			mkdir "$t/upper" "$t/work" "$t/merged" &&
			mount -n -t overlay -o "lowerdir=$parent,upperdir=$t/upper,workdir=$t/work,userxattr" \
				rcfs-userns "$t/merged" 2>/dev/null &&
			mkdir -m 0755 "$t/merged/${1##*/}" &&
			mount -n --move "$t/merged" "$parent" &&
			umount -n -l "$t" && rmdir "$t" && return 0
		umount -n -R "$t" 2>/dev/null
	fi
	mount -n -t tmpfs -o mode=0755 rcfs-userns "$t" && bind_entries "$parent" "$t" &&
		mkdir -m 0755 "$t/${1##*/}" && mount -n --move "$t" "$parent" && rmdir "$t" && return 0
	umount -n -R "$t" 2>/dev/null
	rmdir "$t"
	return 1
}

# Into the directory $2, a bind mount of each entry of $1 and a copy of each symbolic link.
bind_entries() {
	for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
		b=${e##*/}
		if [ -L "$e" ]; then
			cp -P "$e" "$2/$b" || return 1
		elif [ -d "$e" ]; then
			mkdir "$2/$b" && mount -n --rbind "$e" "$2/$b" || return 1
		elif [ -e "$e" ]; then
			: >"$2/$b" && mount -n --rbind "$e" "$2/$b" || return 1
		fi
	done
}

# A private, empty directory at $1 that root here may write.
private_dir() {
	if [ -d "$1" ]; then
		mount -n -t tmpfs -o mode=0755 rcfs-userns "$1"
	else
		add_dir "$1"
	fi
}

if [ "$1" = --rcfs-userns-inside ]; then
	sync=$2
	shift 2
	if [ -n "$sync" ]; then
		# Wait for the ids: until they are mapped, this process is nobody here and the
		# command would run without capabilities.
		echo "$$" >"$sync/ready"
		read -r mapped <"$sync/mapped"
		rm -rf "$sync"
		if [ "$mapped" != ok ]; then
			echo "userns.sh: mapping the subordinate ids failed: $mapped" >&2
			exit 125
		fi
	fi
	# A network namespace of this user namespace's own, its loopback up as the host's is:
	# `ip netns add` returns to the namespace it started in (setns(2)), which needs
	# CAP_SYS_ADMIN over that namespace's owner, and only this user namespace is ours.
	ip link set lo up
	for d in /run/netns /etc/netns; do
		if ! err=$(private_dir "$d" 2>&1); then
			echo "userns.sh: no private $d (named namespaces will be missing): $err" >&2
			RCFS_USERNS_NETNS="no private $d: $err"
			export RCFS_USERNS_NETNS
		fi
	done
	exec "$@"
fi

# --- outside: decide the ids, make the namespace ------------------------------------------------

if [ "$(id -u)" = 0 ] && [ "$(tr -s ' ' </proc/self/uid_map 2>/dev/null | sed 's/^ //')" = "0 0 4294967295" ]; then
	exec "$@"
fi
unshare="unshare --user --mount --net --propagation private"
if ! $unshare true 2>/dev/null; then
	echo "userns.sh: cannot create a user namespace ($($unshare true 2>&1 | head -n 1)); running $1 as $(id -un 2>/dev/null || id -u)" >&2
	exec "$@"
fi
uid=$(id -u)
gid=$(id -g)
# pytest keeps its temporary directories in /tmp/pytest-of-$LOGNAME and refuses one that the
# current uid does not own: inside, the uid is 0 and getpass would say "root", whose directory
# belongs to the real root. Keep the user's own name (and directory) instead.
name=$(id -un 2>/dev/null || echo "uid$uid")
LOGNAME=$name USER=$name
export LOGNAME USER

# The start of the first range of at least IDS subordinate ids that file $1 gives this user (by
# name or uid, as newuidmap and newgidmap look them up).
subordinate() {
	[ -r "$1" ] || return 0
	awk -F: -v n="$name" -v u="$uid" -v want="$IDS" \
		'($1 == n || $1 == u) && $3 >= want { print $2; exit }' "$1"
}

# Map the ids of the process whose pid the namespace's first process writes to $1/ready, and
# answer it in $1/mapped: "ok", or why not.
mapper() {
	read -r pid <"$1/ready" || return 0
	if err=$(newuidmap "$pid" 0 "$uid" 1 1 "$subuid" "$IDS" 2>&1 &&
		newgidmap "$pid" 0 "$gid" 1 1 "$subgid" "$IDS" 2>&1); then
		echo ok >"$1/mapped"
	else
		printf '%s\n' "$err" | tr '\n' ' ' | sed 's/ *$//; s/$/\n/' >"$1/mapped"
	fi
}

# Run "$@" in a new namespace with the many ids; "$1" = exec: in place of this shell.
with_ids() {
	how=$1
	shift
	sync=$(mktemp -d "${TMPDIR:-/tmp}/rcfs-userns-XXXXXX")
	mkfifo "$sync/ready" "$sync/mapped"
	# Twice forked, so that no child of the command is left behind when it ends.
	(mapper "$sync" &)
	if [ "$how" = exec ]; then
		exec $unshare sh "$0" --rcfs-userns-inside "$sync" "$@"
	fi
	status=0
	$unshare sh "$0" --rcfs-userns-inside "$sync" "$@" || status=$?
	if [ -d "$sync" ]; then
		# The namespace ended before it had its ids: let the mapper waiting for it go
		# (opening a FIFO waits for the other end; O_RDWR opens both).
		for f in ready mapped; do
			exec 3<>"$sync/$f"
			exec 3>&-
		done
		rm -rf "$sync"
	fi
	return "$status"
}

fix="add a range with usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $name"
subuid=$(subordinate /etc/subuid)
subgid=$(subordinate /etc/subgid)
reason=
if [ "${RCFS_USERNS:-}" = single ]; then
	reason="RCFS_USERNS=single asks for your own ids alone"
elif ! command -v newuidmap >/dev/null || ! command -v newgidmap >/dev/null; then
	reason="no newuidmap and newgidmap (Debian package uidmap) to map subordinate ids for $name"
elif [ -z "$subuid" ] || [ -z "$subgid" ]; then
	reason="no subordinate ids for $name: $fix"
elif ! err=$(with_ids probe true 2>&1); then
	reason="subordinate ids for $name could not be mapped ($err)"
fi
if [ -z "$reason" ]; then
	RCFS_USERNS=ids
	export RCFS_USERNS
	with_ids exec "$@"
fi
if [ -n "$if_ids" ]; then
	echo "userns.sh: running $1 as $name, not in a user namespace: $reason" >&2
	exec "$@"
fi
echo "userns.sh: only your own ids are mapped (as 0): $reason" >&2
RCFS_USERNS=single RCFS_USERNS_REASON=$reason
export RCFS_USERNS RCFS_USERNS_REASON
exec unshare --user --map-root-user --mount --net --propagation private \
	sh "$0" --rcfs-userns-inside "" "$@"
