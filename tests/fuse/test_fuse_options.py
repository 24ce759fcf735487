"""Command-line options that shape a running mount: -p/--extension and -o/--fuse-opt."""
import errno

import pytest

from fuseutil import FSNAME, host_netns_id, rcfs_mounts, run

HOST = b"nameserver 10.0.0.1\n"


@pytest.mark.parametrize("args,name", [
    ([], "{id}.conf"),
    (["-p", "resolv"], "{id}.resolv"),
    (["--extension=conf.d"], "{id}.conf.d"),
    (["-p", ""], "{id}"),
], ids=["default", "-p resolv", "--extension=conf.d", "-p ''"])
def test_extension(mount, netns, args, name):
    ns = netns()
    m = mount(args=args, template=HOST)
    assert run(["cat", m.mnt], check=True).stdout == HOST
    assert ns.run("cat", m.mnt, check=True).stdout == HOST
    assert m.listing() == sorted([name.format(id=host_netns_id()), name.format(id=ns.id)])


def test_extension_selects_the_file(mount):
    """With -p, only the file with that extension is served; <id>.conf is ignored."""
    hid = host_netns_id()
    m = mount(args=["-p", "alt"], files={f"{hid}.conf": b"wrong\n", f"{hid}.alt": HOST})
    assert run(["cat", m.mnt], check=True).stdout == HOST


def test_fuse_opt_read_only(mount, caller):
    m = mount(args=["-o", "ro"], files={f"{host_netns_id()}.conf": HOST})
    (entry,) = rcfs_mounts(m.mnt)
    assert entry["line"].split(" - ")[0].split()[5].split(",")[0] == "ro", entry["line"]
    c = caller(name="host")
    assert c.read(m.mnt) == HOST
    assert c.errno_of("open", m.mnt, "O_WRONLY") == errno.EROFS
    r = run(["sh", "-c", f"echo x >> {m.mnt}"])
    assert r.returncode != 0 and b"Read-only file system" in r.stderr, r.stderr
    assert m.read_backing(f"{host_netns_id()}.conf") == HOST


def test_fuse_opt_repeatable_and_comma_lists(mount):
    m = mount(args=["-o", "noexec,nodev", "--fuse-opt=nosuid", "-o", "noatime"],
              files={f"{host_netns_id()}.conf": HOST})
    (entry,) = rcfs_mounts(m.mnt)
    vfs_opts = entry["line"].split(" - ")[0].split()[5].split(",")
    for opt in ("noexec", "nodev", "nosuid", "noatime"):
        assert opt in vfs_opts, (opt, entry["line"])
    assert entry["source"] == FSNAME
    assert "allow_other" in entry["options"].split(",")
    # The daemon decides permissions; the kernel's check comes only with --access-check=kernel.
    assert "default_permissions" not in entry["options"].split(",")
    assert run(["cat", m.mnt], check=True).stdout == HOST
