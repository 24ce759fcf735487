"""make install / uninstall into a temporary DESTDIR, the version in one place, the man pages
(lint, rendering, agreement with --help), the systemd unit (systemd-analyze verify), and the dist
tarball (slow: it must build and pass `make check` by itself)."""
import errno
import os
import re
import stat
import subprocess
import tarfile

import pytest

from pkgtest import ROOT, clean_env, make, makefile_version, require_tool, run


def tree(root):
    """{relative path: (kind, mode)} of every file and symlink under root."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            kind = "link" if stat.S_ISLNK(st.st_mode) else "file"
            out[os.path.relpath(p, root)] = (kind, stat.S_IMODE(st.st_mode))
    return out


def expected_tree(bindir, libexecdir, mandir, unitdir):
    strip = lambda p: p.lstrip("/")
    return {
        f"{strip(bindir)}/resolvconffs": ("file", 0o755),
        f"{strip(bindir)}/resolvconffs-ctl": ("file", 0o755),
        f"{strip(bindir)}/resolvconffs-sim": ("file", 0o755),
        f"{strip(libexecdir)}/resolvconffs/resolvconffs-helper": ("file", 0o755),
        f"{strip(mandir)}/man8/resolvconffs.8": ("file", 0o644),
        f"{strip(mandir)}/man8/resolvconffs-ctl.8": ("file", 0o644),
        f"{strip(mandir)}/man1/resolvconffs-sim.1": ("file", 0o644),
        f"{strip(unitdir)}/resolvconffs.service": ("file", 0o644),
    }


def unit_commands(unit_text):
    return {k: v for k, v in re.findall(r"^(Exec\w+)=(.*)$", unit_text, re.M)}


def test_install_default_prefix_and_uninstall(pkg_build, tmp_path, version):
    dest = tmp_path / "dest"
    make("install", f"DESTDIR={dest}", b=pkg_build)
    assert tree(dest) == expected_tree("/usr/local/bin", "/usr/local/libexec",
                                       "/usr/local/share/man", "/usr/local/lib/systemd/system")

    out = run([str(dest / "usr/local/bin/resolvconffs"), "--version"]).stdout
    assert re.fullmatch(rf"resolvconffs {re.escape(version)} \(libfuse \d+\.\d+\.\d+\)\n", out), out
    for prog in ("resolvconffs-sim", "resolvconffs-ctl"):
        assert run([str(dest / "usr/local/bin" / prog), "--help"]).stdout.startswith("Usage:")

    unit = (dest / "usr/local/lib/systemd/system/resolvconffs.service").read_text()
    assert not re.search(r"@[A-Z]+@", unit), "unsubstituted placeholder in the unit"
    cmds = unit_commands(unit)
    helper = "/usr/local/libexec/resolvconffs/resolvconffs-helper"
    # The helper chooses the template and execs the daemon, which stays the unit's main process.
    assert cmds["ExecStart"] == f"{helper} start"
    assert "Environment=RCFS_DAEMON=/usr/local/bin/resolvconffs\n" in unit
    assert cmds["ExecStartPre"] == f"{helper} start-pre"
    assert cmds["ExecStopPost"] == f"{helper} stop-post"

    for page in ("man8/resolvconffs.8", "man8/resolvconffs-ctl.8", "man1/resolvconffs-sim.1"):
        text = (dest / "usr/local/share/man" / page).read_text()
        th = next(line for line in text.split("\n") if line.startswith(".TH "))
        assert f'"resolvconffs {version}"' in th, th

    make("uninstall", f"DESTDIR={dest}", b=pkg_build)
    assert tree(dest) == {}, "uninstall left files behind"


def test_install_honours_every_directory_variable(pkg_build, tmp_path):
    dest = tmp_path / "dest"
    dirs = dict(PREFIX="/usr", BINDIR="/opt/rcfs/sbin", LIBEXECDIR="/opt/rcfs/lib",
                MANDIR="/opt/rcfs/man", SYSTEMDUNITDIR="/etc/systemd/system")
    args = [f"{k}={v}" for k, v in dirs.items()]
    make("install", f"DESTDIR={dest}", *args, b=pkg_build)
    assert tree(dest) == expected_tree(dirs["BINDIR"], dirs["LIBEXECDIR"], dirs["MANDIR"],
                                       dirs["SYSTEMDUNITDIR"])
    unit = (dest / "etc/systemd/system/resolvconffs.service").read_text()
    cmds = unit_commands(unit)
    assert cmds["ExecStart"] == "/opt/rcfs/lib/resolvconffs/resolvconffs-helper start"
    assert "Environment=RCFS_DAEMON=/opt/rcfs/sbin/resolvconffs\n" in unit
    assert cmds["ExecStartPre"] == "/opt/rcfs/lib/resolvconffs/resolvconffs-helper start-pre"
    make("uninstall", f"DESTDIR={dest}", *args, b=pkg_build)
    assert tree(dest) == {}


def test_prefix_only(pkg_build, tmp_path):
    dest = tmp_path / "dest"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr", b=pkg_build)
    assert tree(dest) == expected_tree("/usr/bin", "/usr/libexec", "/usr/share/man",
                                       "/usr/lib/systemd/system")
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr", b=pkg_build)
    assert tree(dest) == {}


def test_version_lives_in_one_place(pkg_build, version):
    """The Makefile's VERSION is what --version, make print-version and debian/changelog say."""
    assert make("print-version", b=pkg_build).stdout.strip() == version
    changelog_top = (ROOT / "debian/changelog").read_text().split("\n", 1)[0]
    m = re.match(r"resolvconffs \(([^)]+)\)", changelog_top)
    assert m, changelog_top
    assert m.group(1).split("-")[0] == version, \
        f"debian/changelog has {m.group(1)}, the Makefile VERSION is {version}"
    libfuse = run(["pkg-config", "--modversion", "fuse3"]).stdout.strip()
    out = run([str(pkg_build / "resolvconffs"), "--version"]).stdout
    assert out == f"resolvconffs {version} (libfuse {libfuse})\n"
    srcs = [p for d in ("core", "fuse", "sim") for p in (ROOT / d).glob("*.[ch]")]
    for p in srcs:
        assert not re.search(rf"(?<![\d.]){re.escape(version)}(?![\d.])", p.read_text()), \
            f"{p} repeats the version"


# --- man pages -------------------------------------------------------------------------------

PAGES = ["man/resolvconffs.8", "man/resolvconffs-ctl.8", "man/resolvconffs-sim.1"]


def generated(pkg_build, page):
    return pkg_build / "install" / os.path.basename(page)


@pytest.mark.parametrize("page", PAGES)
def test_man_page_lints_clean(page, pkg_build):
    require_tool("mandoc", "mandoc")
    require_tool("groff", "groff-base")
    for path in (ROOT / page, generated(pkg_build, page)):
        p = run(["mandoc", "-T", "lint", "-W", "all", str(path)], check=False)
        assert (p.returncode, p.stdout + p.stderr) == (0, ""), f"mandoc -T lint {path}"
        p = run(["groff", "-ww", "-man", "-z", str(path)], check=False)
        assert (p.returncode, p.stderr) == (0, ""), f"groff -ww {path}"


def render(path):
    """The page as `man -l` shows it, plain text, with man's and groff's warnings on."""
    require_tool("man", "man-db")
    p = run(["man", "--warnings", "-l", str(path)], check=False,
            env=clean_env(MANWIDTH="80", MAN_KEEP_FORMATTING="", PAGER="cat", MANPAGER="cat"))
    assert p.returncode == 0 and p.stderr == "", f"man -l {path}:\n{p.stderr}"
    return p.stdout


def dehyphenate(text):
    return re.sub("\u2010\n *", "", text)


def sections(text):
    """{SECTION NAME: body} of a rendered page."""
    out, name = {}, None
    for line in text.split("\n"):
        if re.match(r"^[A-Z][A-Z ]+$", line):
            name = line.strip()
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


@pytest.mark.parametrize("page", PAGES)
def test_man_page_renders(page):
    text = render(ROOT / page)
    assert not re.search(r"\\[(*fs]|@[A-Z]+@", text), "unrendered escape or placeholder"
    assert len(max(text.split("\n"), key=len)) <= 80
    secs = sections(dehyphenate(text))
    for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "EXAMPLES",
                 "SEE ALSO"):
        assert name in secs, f"{page} has no {name} section"


def test_daemon_man_page_contents():
    secs = sections(dehyphenate(render(ROOT / "man/resolvconffs.8")))
    assert {"MAPPING", "FILES", "SYSTEMD SERVICE"} <= set(secs)
    see = secs["SEE ALSO"]
    for ref in ("ip-netns(8)", "resolv.conf(5)", "resolvconffs-sim(1)", "resolvconffs-ctl(8)"):
        assert ref in see
    assert "backing_directory/N.extension" in " ".join(secs["MAPPING"].split())
    for errno in ("ESRCH", "EINVAL", "EACCES", "ENOENT"):
        assert errno in secs["ERRORS"]
    for path in ("/etc/resolv.conf", "/run/resolvconffs", "/etc/default/resolvconffs"):
        assert path in secs["FILES"].replace("\n", "")
    for word in ("network.target", "systemd-resolved", "NetworkManager", "EBUSY"):
        assert word in " ".join(secs["SYSTEMD SERVICE"].split())
    assert secs["EXAMPLES"].strip()


def help_options(help_text):
    """Every -x and --long option of a --help text (from the lines that describe options)."""
    opts = set()
    for line in help_text.split("\n"):
        m = re.match(r"^\s+(-\w(?:, )?)?(--[\w-]+)?", line)
        if m and (m.group(1) or m.group(2)):
            opts.update(re.findall(r"(?<![\w-])(--?[\w][\w-]*)", m.group(0)))
    return opts


def man_options(options_section):
    """The options a rendered OPTIONS section describes: those in its tags (the lines indented
    by 7 columns), a tag ending where two spaces begin the description."""
    opts = set()
    for line in options_section.split("\n"):
        if re.match(r"^ {7}-", line):
            tag = re.split(r"\s{2,}", line.strip())[0]
            opts.update(re.findall(r"(?<![\w-])(--?\w[\w-]*)", tag))
    return opts


def check_help_matches_man(help_text, page):
    secs = sections(dehyphenate(render(ROOT / page)))
    in_help, in_man = help_options(help_text), man_options(secs["OPTIONS"])
    assert in_help, "no options found in --help"
    assert in_help == in_man, (f"--help and {page} differ: only in --help: {in_help - in_man}, "
                               f"only in the man page: {in_man - in_help}")
    flat = " ".join(secs["OPTIONS"].split())
    for default in re.findall(r"default:? (/[\w/.-]+|\w+)", help_text):
        assert default in flat, f"{page} does not give the default {default!r} that --help gives"
    return secs


def test_daemon_help_and_man_page_agree(pkg_build):
    out = run([str(pkg_build / "resolvconffs"), "--help"]).stdout
    secs = check_help_matches_man(out, "man/resolvconffs.8")
    names = set(re.findall(r"\bE[A-Z]+\b", out)) & set(errno.errorcode.values())
    assert {"ESRCH", "EINVAL", "EACCES", "ENOENT"} <= names
    for name in names:
        assert name in secs["ERRORS"], f"--help names {name}, the man page's ERRORS does not"


def test_ctl_help_and_man_page_agree(pkg_build):
    out = run([str(pkg_build / "resolvconffs-ctl"), "--help"]).stdout
    secs = check_help_matches_man(out, "man/resolvconffs-ctl.8")
    for command in re.findall(r"^(\w+)  ", out, re.M):
        assert re.search(rf"^ {{7}}{command}\b", secs["DESCRIPTION"], re.M), command


def test_sim_help_and_man_page_agree(pkg_build):
    out = run([str(pkg_build / "resolvconffs-sim"), "--help"]).stdout
    secs = check_help_matches_man(out, "man/resolvconffs-sim.1")
    commands = re.findall(r"^  ([a-z]+) PID", out, re.M)
    assert commands
    for c in commands:
        assert re.search(rf"^ {{7}}{c} PID", secs["COMMANDS"], re.M), f"command {c} undocumented"


# --- systemd unit ----------------------------------------------------------------------------

def test_unit_passes_systemd_analyze_verify(pkg_build, tmp_path):
    """Installed without DESTDIR under a temporary PREFIX, so the unit's commands and its
    Documentation= man page exist where the unit says."""
    require_tool("systemd-analyze", "systemd")
    prefix = tmp_path / "prefix"
    make("install", f"PREFIX={prefix}", b=pkg_build)
    unit = prefix / "lib/systemd/system/resolvconffs.service"
    p = run(["systemd-analyze", "verify", str(unit)], check=False,
            env=clean_env(MANPATH=str(prefix / "share/man")))
    assert (p.returncode, p.stdout + p.stderr) == (0, ""), "systemd-analyze verify"
    make("uninstall", f"PREFIX={prefix}", b=pkg_build)


def test_unit_takes_over_safely(pkg_build):
    unit = (pkg_build / "install/resolvconffs.service").read_text()
    lines = [line for line in unit.split("\n") if line and not line.startswith("#")]
    assert "Type=simple" in lines and "Restart=on-failure" in lines
    after = " ".join(line.split("=", 1)[1] for line in lines if line.startswith("After="))
    for unit_name in ("network.target", "systemd-resolved.service", "NetworkManager.service"):
        assert unit_name in after.split()
    assert "Before=nss-lookup.target" in lines
    cmds = unit_commands(unit)
    assert cmds["ExecStartPre"].endswith("resolvconffs-helper start-pre")
    assert cmds["ExecStartPost"].endswith("resolvconffs-helper wait-mounted")
    assert cmds["ExecStopPost"].endswith("resolvconffs-helper stop-post")
    for key in ("PrivateTmp", "ProtectSystem", "ProtectHome", "PrivateMounts", "ReadOnlyPaths",
                "ReadWritePaths", "TemporaryFileSystem", "BindPaths", "PrivateDevices",
                "RootDirectory", "MountAPIVFS"):
        assert not any(line.startswith(key + "=") for line in lines), \
            f"{key}= would give the service its own mount namespace"
    assert "WantedBy=multi-user.target" in lines


# --- make dist -------------------------------------------------------------------------------

def dist_members(tarball):
    with tarfile.open(tarball) as t:
        return sorted(m.name for m in t.getmembers() if not m.isdir())


def test_dist_tarball_contents(tmp_path, version):
    """Fast: the tarball is versioned and holds the tree without build output."""
    b = tmp_path / "build"
    make("dist", b=b)
    tarball = b / f"resolvconffs-{version}.tar.gz"
    names = dist_members(tarball)
    top = f"resolvconffs-{version}/"
    assert all(n.startswith(top) for n in names)
    rel = {n[len(top):] for n in names}
    for required in ("Makefile", "README.md", "mk/install.mk", "man/resolvconffs.8",
                     "man/resolvconffs-sim.1", "systemd/resolvconffs.service.in",
                     "systemd/resolvconffs-helper", "debian/control", "debian/rules",
                     "debian/changelog", "tests/conftest.py", "tests/packaging/test_install.py",
                     "docs/INSTALL.md"):
        assert required in rel, f"{required} is missing from the tarball"
    assert not any(r.startswith(("build/", ".git/", ".pytest_cache/")) or "__pycache__" in r
                   for r in rel)
    with tarfile.open(tarball) as t:
        assert t.getmember(top + "debian/rules").mode & 0o111
        assert t.getmember(top + "systemd/resolvconffs-helper").mode & 0o111


@pytest.mark.packaging_slow
def test_dist_tarball_builds_and_checks_by_itself(tmp_path, version):
    """Unpacked elsewhere, the tarball builds, passes `make check`, and makes the same tarball."""
    b = tmp_path / "build"
    make("dist", b=b)
    tarball = b / f"resolvconffs-{version}.tar.gz"
    src = tmp_path / "src"
    src.mkdir()
    with tarfile.open(tarball) as t:
        t.extractall(src)
    tree_dir = src / f"resolvconffs-{version}"
    assert not (tree_dir / ".git").exists()
    assert makefile_version(tree_dir) == version

    p = subprocess.run(["make", "check"], cwd=tree_dir, env=clean_env(), timeout=3600,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert p.returncode == 0, f"make check in the unpacked tarball failed:\n{p.stdout[-12000:]}"

    # Outside git the file list comes from the tree itself: the same files again.
    make("dist", b="build", cwd=tree_dir)
    assert dist_members(tree_dir / "build" / tarball.name) == dist_members(tarball)
