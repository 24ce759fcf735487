"""Facts about the environment the tests run in, shared by every suite."""
import os

# Inside ids 1..SUBORDINATE_IDS come from the user's subordinate range (tests/fuse/userns.sh).
SUBORDINATE_IDS = 65536
USERNS_SH = "tests/fuse/userns.sh"


def is_real_root():
    """Root of the initial user namespace (not just uid 0 inside a user namespace)."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def user_name():
    return os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())


def subordinate_fix(user=None):
    """How to give a user the subordinate ids userns.sh needs."""
    user = user or user_name()
    return ("add a range with usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "
            f"{user}")


def _maps_all(path, count):
    """Whether the id map at path maps every inside id 0..count."""
    try:
        with open(path) as f:
            ranges = sorted((int(inside), int(n)) for inside, _, n in
                            (line.split() for line in f if line.strip()))
    except (OSError, ValueError):
        return False
    end = 0
    for inside, n in ranges:
        if inside > end:
            break
        end = max(end, inside + n)
    return end > count


def multi_id_reason():
    """None when this process may act as root does in the tests that need other ids: real root,
    or root of a user namespace that maps uids and gids 0..65536 (tests/fuse/userns.sh with a
    subordinate range), where /run/netns and /etc/netns are its own to write. Otherwise why not."""
    if is_real_root():
        return None
    if os.geteuid() != 0:
        return (f"not root: run as root of a user namespace with other ids, through {USERNS_SH} "
                "(`make check` does)")
    if not (_maps_all("/proc/self/uid_map", SUBORDINATE_IDS)
            and _maps_all("/proc/self/gid_map", SUBORDINATE_IDS)):
        return (os.environ.get("RCFS_USERNS_REASON")
                or f"no subordinate ids for {user_name()}: {subordinate_fix()}")
    if os.environ.get("RCFS_USERNS_NETNS"):
        return os.environ["RCFS_USERNS_NETNS"]
    for d in ("/run/netns", "/etc/netns"):
        if not os.access(d, os.W_OK):
            return f"{d} is not writable here ({USERNS_SH} makes a private one)"
    return None


def can_act_as_root():
    """Real root, or root of a user namespace with other uids and gids (multi_id_reason)."""
    return multi_id_reason() is None
