"""The Debian package: built with dpkg-buildpackage from a scratch copy of the tree (the dist
tarball unpacked in a temporary directory, since dpkg-buildpackage writes its results into the
parent directory of the source tree), checked with lintian, installed with dpkg -i, run, and
purged again. Slow (about a minute): runs with RCFS_PACKAGING_SLOW=1."""
import os
import re
import tarfile

import pytest

from pkgtest import clean_env, make, require_tool, run

PKG = "resolvconffs"


def installed(pkg):
    p = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
    return p.returncode == 0 and p.stdout.strip() == "install ok installed"


def package_state(pkg):
    p = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
    return p.stdout.strip() if p.returncode == 0 else "unknown"


def resolv_conf_state():
    """What must not change: /etc/resolv.conf's link, content and mount state."""
    path = "/etc/resolv.conf"
    link = os.readlink(path) if os.path.islink(path) else None
    content = open(path, "rb").read() if os.path.exists(path) else None
    mounts = [line for line in open("/proc/self/mountinfo") if "fuse.resolvconffs" in line
              and os.path.realpath(path) in line.split(" ")[4]]
    return link, content, mounts


@pytest.fixture(scope="module")
def deb(tmp_path_factory, version):
    """Build the package from an unpacked dist tarball in a scratch directory."""
    for tool, package in (("dpkg-buildpackage", "dpkg-dev"), ("dh", "debhelper"),
                          ("fakeroot", "fakeroot")):
        require_tool(tool, package)
    work = tmp_path_factory.mktemp("deb")
    make("dist", b=work / "dist")
    with tarfile.open(work / "dist" / f"{PKG}-{version}.tar.gz") as t:
        t.extractall(work)
    src = work / f"{PKG}-{version}"
    # The unit tests run in `make check`; here the package build only has to build the package.
    p = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, timeout=1800,
            env=clean_env(DEB_BUILD_OPTIONS="nocheck"))
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    debs = sorted(work.glob("*.deb"))
    path = work / f"{PKG}_{version}_{arch}.deb"
    assert path in debs, f"no {path.name} among {debs}:\n{p.stdout[-3000:]}"
    return path


@pytest.mark.packaging_slow
def test_package_contents_and_metadata(deb, version):
    files = run(["dpkg-deb", "-c", str(deb)]).stdout
    for f in ("./usr/bin/resolvconffs", "./usr/bin/resolvconffs-sim", "./usr/bin/resolvconffs-ctl",
              "./usr/share/man/man8/resolvconffs-ctl.8.gz",
              "./usr/libexec/resolvconffs/resolvconffs-helper",
              "./usr/share/man/man8/resolvconffs.8.gz",
              "./usr/share/man/man1/resolvconffs-sim.1.gz",
              "./lib/systemd/system/resolvconffs.service", "./etc/default/resolvconffs",
              "./usr/share/doc/resolvconffs/copyright"):
        assert re.search(rf" {re.escape(f)}$", files, re.M), f"{f} is not in the package"
    assert run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip() == version
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    assert re.search(r"(^|, )fuse3(,|$| )", depends.strip()), depends


@pytest.mark.packaging_slow
def test_license_is_shipped(deb, version, tmp_path):
    """MIT or Apache-2.0: both texts in the dist tarball, both named in the installed copyright."""
    src = deb.parent / f"{PKG}-{version}"
    for name in ("LICENSE-MIT", "LICENSE-APACHE"):
        assert (src / name).is_file(), f"{name} is not in the dist tarball"
    run(["dpkg-deb", "-x", str(deb), str(tmp_path)])
    text = (tmp_path / "usr/share/doc" / PKG / "copyright").read_text()
    licenses = re.findall(r"^License: (.*)$", text, re.M)
    assert licenses == ["MIT or Apache-2.0", "MIT", "Apache-2.0"], licenses
    assert "/usr/share/common-licenses/Apache-2.0" in text


@pytest.mark.packaging_slow
def test_lintian_is_clean(deb):
    require_tool("lintian", "lintian")
    changes = next(deb.parent.glob("*.changes"))
    p = run(["lintian", "--pedantic", "--display-info", str(changes)], check=False, timeout=900)
    tags = [line for line in p.stdout.splitlines() if re.match(r"^[EWIP]: ", line)]
    assert tags == [], "lintian:\n" + "\n".join(tags)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.packaging_slow
def test_install_run_and_remove(deb, version):
    if os.geteuid() != 0:
        pytest.skip("dpkg -i needs root")
    assert not installed(PKG), f"{PKG} is installed already: this test would replace it"
    before = resolv_conf_state()
    try:
        run(["dpkg", "-i", str(deb)], env=clean_env(DEBIAN_FRONTEND="noninteractive"))
        assert installed(PKG)
        libfuse = run(["pkg-config", "--modversion", "fuse3"]).stdout.strip()
        out = run(["/usr/bin/resolvconffs", "--version"]).stdout
        assert out == f"resolvconffs {version} (libfuse {libfuse})\n"
        for prog in ("resolvconffs-sim", "resolvconffs-ctl"):
            assert run([prog, "--help"]).stdout.startswith("Usage:")
        assert run(["man", "-w", "resolvconffs"]).stdout.strip() == \
            "/usr/share/man/man8/resolvconffs.8.gz"
        # Installed, not enabled or started: /etc/resolv.conf is untouched.
        assert not os.path.lexists("/etc/systemd/system/multi-user.target.wants/"
                                   "resolvconffs.service")
        assert resolv_conf_state() == before
        p = run(["systemd-analyze", "verify", "/lib/systemd/system/resolvconffs.service"],
                check=False)
        assert (p.returncode, p.stdout + p.stderr) == (0, ""), "systemd-analyze verify"
    finally:
        run(["dpkg", "--purge", PKG], check=False,
            env=clean_env(DEBIAN_FRONTEND="noninteractive"))
    assert package_state(PKG) in ("unknown", "")
    for path in ("/usr/bin/resolvconffs", "/usr/libexec/resolvconffs",
                 "/lib/systemd/system/resolvconffs.service", "/etc/default/resolvconffs"):
        assert not os.path.lexists(path), f"{path} is left after dpkg --purge"
    assert resolv_conf_state() == before
