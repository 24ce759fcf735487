"""resolvconffs-ctl which (issue 12, item 4; README "VPN up-script"): `which --pid PID [-p EXT]
[-P PROCFS] [-k KIND] [--names[=DIR]] [--etc-netns[=DIR]] [-d FILE] [--host-original[=MOUNTPOINT]]
[-v] BACKING_DIR` prints the one absolute path that process or thread is served, given the
daemon's mapping options: its existing backing file (or NAME.<ext>, or its /etc/netns file); a
missing one's path when the daemon would create it from the template, the template's when the
namespace gets the template view, and without -d the path with exit status 1 (the process gets
ENOENT); with --host-original, for the daemon's own namespace without a file, the file beneath
the mount (a symlink's target, resolved; a regular file: MOUNTPOINT itself), looked at in a
private mount namespace when the mount is there. -v says why on stderr, one fact per line."""
import os

import pytest

from featutil import (HostTree, InNamespaceThread, mount_on, private_mounts,  # noqa: F401
                      serving_line, sleeper, unique_ns_id)
from fuseutil import host_netns_id, new_workdir, rcfs_mounts
from test_ctl_set import ctl, ctl_bin, dead_pid  # noqa: F401 (fixture)

TEMPLATE = b"nameserver 192.0.2.1\n"
MINE = b"nameserver 10.0.0.1\n"
MANAGER = b"nameserver 127.0.0.53\n"
HOST = f"{host_netns_id()}.conf"


def layout(files=None, template=True):
    """A workdir with `backing/` (holding files) and, unless template is False, `template`;
    returns (backing, template path or None), both resolved."""
    work = os.path.realpath(new_workdir("ctl-which"))
    backing = os.path.join(work, "backing")
    os.mkdir(backing)
    for name, content in (files or {}).items():
        with open(os.path.join(backing, name), "wb") as f:
            f.write(content)
    tmpl = None
    if template:
        tmpl = os.path.join(work, "template")
        with open(tmpl, "wb") as f:
            f.write(TEMPLATE)
    return backing, tmpl


def which(ctl_bin, pid, *args, expect=0, wrapper=()):
    """(the one stdout line, the stderr lines) of `which --pid pid -v args`; also checks that the
    same run without -v prints the same path and nothing on stderr unless it fails."""
    quiet = ctl(ctl_bin, "which", "--pid", pid, *args, expect=expect, wrapper=wrapper)
    r = ctl(ctl_bin, "which", "--pid", pid, "-v", *args, expect=expect, wrapper=wrapper)
    out = r.stdout.decode().splitlines()
    assert len(out) == 1 and out[0].startswith("/"), out
    assert quiet.stdout == r.stdout
    err = r.stderr.decode().splitlines()
    if expect == 0:
        assert quiet.stderr == b""
    else:
        assert len(quiet.stderr.splitlines()) == 1, quiet.stderr
        assert err[-1] == quiet.stderr.decode().strip(), "-v changed the error line"
    return out[0], err


def test_an_existing_backing_file(ctl_bin, sleeper):
    ns = sleeper("net")
    backing, tmpl = layout({f"{ns.id()}.conf": MINE})
    path = os.path.join(backing, f"{ns.id()}.conf")
    for args in ([backing], ["-d", tmpl, backing]):
        assert which(ctl_bin, ns.pid, *args) == (path, [f"key: net:[{ns.id()}]",
                                                        f"file: {path} (exists)"])
    assert which(ctl_bin, ns.pid, "-p", "hosts", "-d", tmpl, backing)[0] == \
        path[:-len("conf")] + "hosts"


def test_a_relative_backing_directory_is_printed_absolute(ctl_bin, sleeper):
    ns = sleeper("net")
    backing, _ = layout({f"{ns.id()}.conf": MINE})
    rel = os.path.relpath(backing)
    assert which(ctl_bin, ns.pid, rel)[0] == os.path.join(backing, f"{ns.id()}.conf")


def test_a_missing_file_without_a_template(ctl_bin, sleeper):
    ns = sleeper("net")
    backing, _ = layout(template=False)
    path = os.path.join(backing, f"{ns.id()}.conf")
    out, err = which(ctl_bin, ns.pid, backing, expect=1)
    assert out == path
    assert err == [f"key: net:[{ns.id()}]", f"file: {path} (missing: no template)",
                   f"resolvconffs-ctl: {path} does not exist and no template (-d) given: the "
                   f"process gets ENOENT"]
    assert os.listdir(backing) == []


def test_a_missing_file_is_created_or_the_template_view_served(ctl_bin, mount, sleeper,
                                                                caller):
    """A namespace of the daemon's own user namespace gets its file made from the template at
    the path printed; one of another user namespace (what any user can make) is served the
    template view, and the template's path is printed. The daemon agrees."""
    own, foreign = sleeper("net"), sleeper("user", "net")
    m = mount(template=TEMPLATE)
    tmpl = os.path.realpath(m.template)
    backing = os.path.realpath(m.backing)
    path = os.path.join(backing, f"{own.id()}.conf")
    assert which(ctl_bin, own.pid, "-d", tmpl, backing) == (path, [
        f"key: net:[{own.id()}]", f"file: {path} (missing: created from {tmpl} on first access)"])
    fpath = os.path.join(backing, f"{foreign.id('net')}.conf")
    assert which(ctl_bin, foreign.pid, "-d", tmpl, backing) == (tmpl, [
        f"key: net:[{foreign.id('net')}]", f"file: {fpath} (missing: template view, read-only)"])
    assert m.listing() == [], "which created a file"
    assert caller(own.cmd(kinds=("net",)), name="own").read(m.mnt) == TEMPLATE
    assert caller(foreign.cmd(kinds=("net",)), name="foreign").read(m.mnt) == TEMPLATE
    assert m.listing() == [f"{own.id()}.conf"], "the daemon disagrees with which"
    assert which(ctl_bin, own.pid, "-d", tmpl, backing)[1][-1] == f"file: {path} (exists)"


def test_a_thread_in_another_namespace(ctl_bin, netns):
    ns = netns()
    backing, _ = layout({f"{ns.id}.conf": MINE, HOST: MINE})
    with InNamespaceThread(ns.path) as t:
        assert t.netns == f"net:[{ns.id}]"
        out, err = which(ctl_bin, t.tid, backing)
        assert (out, err[0]) == (os.path.join(backing, f"{ns.id}.conf"), f"key: net:[{ns.id}]")
        assert which(ctl_bin, t.pid, backing)[0] == os.path.join(backing, HOST)


def test_names(ctl_bin, sleeper, names_dir):
    names, bind = names_dir
    named, unnamed = sleeper("net"), sleeper("net")
    bind("vpn", named.pid)
    backing, tmpl = layout({"vpn.conf": MINE})
    path = os.path.join(backing, "vpn.conf")
    assert which(ctl_bin, named.pid, f"--names={names}", backing) == (path, [
        f"key: net:[{named.id()}]", "name: vpn", f"file: {path} (exists)"])
    upath = os.path.join(backing, f"{unnamed.id()}.conf")
    assert which(ctl_bin, unnamed.pid, f"--names={names}", "-d", tmpl, backing) == (upath, [
        f"key: net:[{unnamed.id()}]",
        f"file: {upath} (missing: created from {tmpl} on first access)"])
    # Without --names the named namespace is served by its id.
    assert which(ctl_bin, named.pid, "-d", tmpl, backing)[0] == \
        os.path.join(backing, f"{named.id()}.conf")


def test_etc_netns(ctl_bin, sleeper, names_dir):
    names, bind = names_dir
    ns = sleeper("net")
    bind("vpn", ns.pid)
    backing, tmpl = layout({"vpn.conf": MINE})
    etc = os.path.join(os.path.dirname(backing), "etc-netns")
    os.makedirs(os.path.join(etc, "vpn"))
    for name in ("resolv.conf", "hosts"):
        with open(os.path.join(etc, "vpn", name), "wb") as f:
            f.write(b"from /etc/netns\n")
    path = os.path.join(etc, "vpn", "resolv.conf")
    args = [f"--names={names}", f"--etc-netns={etc}", backing]
    assert which(ctl_bin, ns.pid, *args) == (path, [
        f"key: net:[{ns.id()}]", "name: vpn", f"/etc/netns file: {path}", f"file: {path} (exists)"])
    # The file name is that of the mountpoint, as for the daemon: --host-original's.
    hosts = os.path.join(etc, "vpn", "hosts")
    assert which(ctl_bin, ns.pid, "--host-original=/etc/hosts", *args)[0] == hosts
    # No /etc/netns file: NAME.<ext>.
    os.unlink(path)
    assert which(ctl_bin, ns.pid, *args)[0] == os.path.join(backing, "vpn.conf")


def test_uid_key(ctl_bin, sleeper):
    ns = sleeper("net")
    backing, tmpl = layout()
    uid = os.stat(f"/proc/{ns.pid}").st_uid
    path = os.path.join(backing, f"{uid}.conf")
    assert which(ctl_bin, ns.pid, "-k", "uid", "-d", tmpl, backing) == (path, [
        f"key: uid {uid}", f"file: {path} (missing: created from {tmpl} on first access)"])


def test_a_file_recorded_for_an_earlier_namespace(ctl_bin, sleeper):
    """An id-named file whose recorded unique id is another namespace's (the id was recycled):
    the daemon moves it aside at the next open, so the process gets what a missing file gives."""
    ns = sleeper("net")
    backing, tmpl = layout({f"{ns.id()}.conf": MINE})
    path = os.path.join(backing, f"{ns.id()}.conf")
    current = unique_ns_id(ns.pid)
    os.setxattr(path, "user.resolvconffs.nsid", str(current + 1000).encode())
    assert which(ctl_bin, ns.pid, "-d", tmpl, backing) == (path, [
        f"key: net:[{ns.id()}]",
        f"stale: {path} was made for an earlier namespace with this id (unique id "
        f"{current + 1000}, this one's {current}): the daemon moves it aside at the next open",
        f"file: {path} (missing: created from {tmpl} on first access)"])
    os.setxattr(path, "user.resolvconffs.nsid", str(current).encode())
    assert which(ctl_bin, ns.pid, "-d", tmpl, backing)[1][-1] == f"file: {path} (exists)"
    assert sorted(os.listdir(backing)) == [f"{ns.id()}.conf"]


def test_a_fake_procfs(ctl_bin):
    """-P: the administrator's own mapping, read as the daemon reads it."""
    work = new_workdir("ctl-which-fake")
    os.makedirs(os.path.join(work, "proc", "100", "ns"))
    os.symlink("net:[1001]", os.path.join(work, "proc", "100", "ns", "net"))
    backing, tmpl = layout()
    path = os.path.join(backing, "1001.conf")
    assert which(ctl_bin, 100, "-P", os.path.join(work, "proc"), "-d", tmpl, backing) == (path, [
        "key: net:[1001]", f"file: {path} (missing: created from {tmpl} on first access)"])
    r = ctl(ctl_bin, "set", "--pid", 100, "-P", os.path.join(work, "proc"), backing,
            input=MINE)
    assert r.stderr == b""
    with open(path, "rb") as f:
        assert f.read() == MINE


# --- --host-original ---------------------------------------------------------------------------

def test_host_original_unmounted_symlink(ctl_bin, sleeper):
    """Not mounted (yet): the link's target, resolved, for our own namespace without a file;
    its id-named file when there is one; other namespaces as before."""
    h = HostTree("systemd-resolved", MANAGER)
    backing, tmpl = layout()
    me = os.getpid()
    hostfile = os.path.join(backing, HOST)
    target = os.path.realpath(h.target)
    assert which(ctl_bin, me, f"--host-original={h.link}", "-d", tmpl, backing) == (target, [
        f"key: net:[{host_netns_id()}]",
        f"file: {hostfile} (missing: the host original is served)",
        f"host original: {h.link} -> {target}"])
    other = sleeper("net")
    assert which(ctl_bin, other.pid, f"--host-original={h.link}", "-d", tmpl, backing)[0] == \
        os.path.join(backing, f"{other.id()}.conf")
    with open(hostfile, "wb") as f:
        f.write(MINE)
    assert which(ctl_bin, me, f"--host-original={h.link}", backing) == (hostfile, [
        f"key: net:[{host_netns_id()}]", f"file: {hostfile} (exists)"])


def test_host_original_regular_file_and_dangling_link(ctl_bin):
    h = HostTree("resolvconf", content=None)
    backing, tmpl = layout()
    me = os.getpid()
    # The link's target does not exist (yet): its path, exit status 1.
    out, err = which(ctl_bin, me, f"--host-original={h.link}", "-d", tmpl, backing, expect=1)
    assert out == h.target
    assert err[-1] == f"resolvconffs-ctl: {h.target} does not exist: the process gets ENOENT"
    # A regular file: the mountpoint itself.
    os.unlink(h.link)
    with open(h.link, "wb") as f:
        f.write(MANAGER)
    out, err = which(ctl_bin, me, f"--host-original={h.link}", backing)
    assert out == h.link
    assert err[-1] == f"host original: {h.link} -> {h.link}"


def test_host_original_beneath_a_live_mount(private_mounts, ctl_bin, mount_on, caller):
    """The daemon mounted over the link: which looks beneath its mount in a mount namespace of
    its own; the mount stays, for everyone else; a relative MOUNTPOINT works too. Without
    CAP_SYS_ADMIN it says so in one line."""
    h = HostTree("NetworkManager", MANAGER)
    m = mount_on(h.link, args=["--host-original"], template=TEMPLATE)
    assert "own namespace without a file: the file the link names, live" in serving_line(m)
    backing = os.path.realpath(m.backing)
    me = os.getpid()
    expected = (h.target, [f"key: net:[{host_netns_id()}]",
                           f"file: {os.path.join(backing, HOST)} (missing: the host original "
                           f"is served)", f"host original: {h.link} -> {h.target}"])
    assert which(ctl_bin, me, f"--host-original={h.link}", backing) == expected
    assert len(rcfs_mounts(h.link)) == 1, "which changed our mounts"
    assert caller(name="host").read(h.link) == MANAGER
    rel = os.path.relpath(h.link)
    assert which(ctl_bin, me, f"--host-original={rel}", backing) == expected
    # Without CAP_SYS_ADMIN (uid 0 with an empty bounding set), about its own process.
    no_caps = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "sh", "-c",
               'exec "$@" --pid $$', "sh"]
    r = ctl(ctl_bin, "which", f"--host-original={h.link}", backing, expect=None,
            wrapper=no_caps)
    assert r.returncode == 1, r
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"resolvconffs-ctl: --host-original: {h.link} carries a "
                               f"resolvconffs mount"), lines
    assert len(rcfs_mounts(h.link)) == 1
    m.stop()
    assert m.teardown() == []


# --- refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, status", [
    (["--pid", "DEAD", "B"], 1),
    (["--pid", "12x", "B"], 2),
    (["--pid", "", "B"], 2),
    (["--pid", "0", "B"], 2),
    (["B"], 2),
    (["--pid", "1", "--netns", "x", "B"], 2),
    (["--pid", "1", "--id", "1", "B"], 2),
    (["--pid", "1", "--delete", "B"], 2),
    (["--pid", "1", "-k", "uid", "--host-original", "B"], 2),
    (["--pid", "1", "-d", "B/nope", "B"], 2),
    (["--pid", "1", "B/nope"], 2),
    (["--pid", "1", "--etc-netns=B/nope", "B"], 2),
], ids=lambda a: " ".join(a) if isinstance(a, list) else str(a))
def test_bad_arguments(ctl_bin, args, status):
    backing, _ = layout({HOST: MINE})
    args = [a.replace("DEAD", str(dead_pid())).replace("B", backing) for a in args]
    before = sorted(os.listdir(backing))
    r = ctl(ctl_bin, "which", *args, expect=status)
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resolvconffs-ctl: "), lines
    assert r.stdout == b""
    assert sorted(os.listdir(backing)) == before
