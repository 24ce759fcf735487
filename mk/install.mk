# Installation, source distribution and Debian package.
#
#   make install     [DESTDIR=] [PREFIX=/usr/local] [BINDIR=] [LIBEXECDIR=] [MANDIR=]
#                    [SYSTEMDUNITDIR=]:
#                    the daemon, resolvconffs-ctl and resolvconffs-sim (BINDIR), the unit's helper
#                    (LIBEXECDIR/resolvconffs), the man pages (MANDIR), resolvconffs.service
#   make uninstall   the same variables: removes exactly what install put there
#   make dist        build/resolvconffs-$(VERSION).tar.gz: a source tree that builds and passes
#                    `make check` by itself
#   make distcheck   unpack that tarball under build/ and run `make check` in it
#   make deb         build the .deb with dpkg-buildpackage from the dist tarball, under build/deb/
#   make print-version
#
# The version lives in one place, VERSION in the Makefile: -DRCFS_VERSION, the tarball name, the
# installed man pages' footer; debian/changelog must carry the same version (debian/rules and
# tests/packaging check it).

PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
LIBEXECDIR     ?= $(PREFIX)/libexec
DATAROOTDIR    ?= $(PREFIX)/share
MANDIR         ?= $(DATAROOTDIR)/man
# systemd reads /usr/local/lib/systemd/system as well; Debian 12 packages use /lib/systemd/system.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL        ?= install

PKG_LIBEXECDIR := $(LIBEXECDIR)/resolvconffs
HELPER         := resolvconffs-helper
MAN_PAGES      := man8/resolvconffs.8 man8/resolvconffs-ctl.8 man1/resolvconffs-sim.1
GEN            := $(B)/install
GEN_FILES      := $(GEN)/resolvconffs.service $(addprefix $(GEN)/,$(notdir $(MAN_PAGES)))
INSTALL_PROGS  := $(B)/resolvconffs $(B)/resolvconffs-ctl $(B)/resolvconffs-sim

DIST_NAME      := resolvconffs-$(VERSION)
DIST_TARBALL   := $(B)/$(DIST_NAME).tar.gz

.PHONY: install uninstall installable dist distcheck deb print-version

print-version:
	@echo $(VERSION)

# Everything `install` copies, built without the unit tests (no Criterion needed to install).
installable: $(INSTALL_PROGS) $(GEN_FILES)

# Generated files depend on the paths they embed: regenerate when PREFIX & co. or VERSION change.
$(GEN)/.paths: FORCE
	@mkdir -p $(GEN)
	@echo '$(VERSION) $(BINDIR) $(PKG_LIBEXECDIR)' | cmp -s - $@ || \
		echo '$(VERSION) $(BINDIR) $(PKG_LIBEXECDIR)' > $@

$(GEN)/resolvconffs.service: systemd/resolvconffs.service.in $(GEN)/.paths
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@PKGLIBEXECDIR@|$(PKG_LIBEXECDIR)|g' $< > $@.tmp
	mv $@.tmp $@

# The source pages say "resolvconffs" in the footer; the installed ones add the version.
$(GEN)/%: man/% $(GEN)/.paths
	sed -e '/^\.TH /s|"resolvconffs"|"resolvconffs $(VERSION)"|' $< > $@.tmp
	mv $@.tmp $@

install: installable
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKG_LIBEXECDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSTEMDUNITDIR)
	$(INSTALL) -m 0755 $(INSTALL_PROGS) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0755 systemd/$(HELPER) $(DESTDIR)$(PKG_LIBEXECDIR)/$(HELPER)
	$(INSTALL) -m 0644 $(GEN)/resolvconffs.8 $(GEN)/resolvconffs-ctl.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 $(GEN)/resolvconffs-sim.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 $(GEN)/resolvconffs.service $(DESTDIR)$(SYSTEMDUNITDIR)/resolvconffs.service

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_PROGS))) \
		$(DESTDIR)$(PKG_LIBEXECDIR)/$(HELPER) \
		$(addprefix $(DESTDIR)$(MANDIR)/,$(MAN_PAGES)) \
		$(DESTDIR)$(SYSTEMDUNITDIR)/resolvconffs.service
	rmdir $(DESTDIR)$(PKG_LIBEXECDIR) 2>/dev/null || true

# The file list: in a git checkout, every tracked or untracked-but-not-ignored file that exists
# (so uncommitted work is included and build output is not); elsewhere (an unpacked tarball),
# every file except build output and caches.
DIST_LIST = if [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ]; then \
		git ls-files -z --cached --others --exclude-standard; \
	else \
		find . \( -path ./build -o -path './$(B)' -o -name .git -o -name .pytest_cache \
			-o -name __pycache__ \
			-o -path ./debian/resolvconffs -o -path ./debian/.debhelper -o -path ./debian/files \
			-o -path ./debian/debhelper-build-stamp -o -name '*.substvars' \) -prune \
			-o \( -type f -o -type l \) -print0 | sed -z 's|^\./||'; \
	fi

dist:
	rm -rf $(B)/dist && mkdir -p $(B)/dist/$(DIST_NAME)
	$(DIST_LIST) | xargs -0 -r sh -c \
		'for f do if [ -e "$$f" ] || [ -L "$$f" ]; then printf "%s\0" "$$f"; fi; done' sh \
		| xargs -0 -r cp -a --parents -t $(B)/dist/$(DIST_NAME)
	tar -C $(B)/dist --sort=name --owner=0 --group=0 --numeric-owner -cf - $(DIST_NAME) \
		| gzip -n > $(DIST_TARBALL).tmp
	mv $(DIST_TARBALL).tmp $(DIST_TARBALL)
	rm -rf $(B)/dist
	@echo "dist: $(DIST_TARBALL)"

# RCFS_PACKAGING_SLOW is unset so the nested check does not build the tarball again.
distcheck: dist
	rm -rf $(B)/distcheck && mkdir -p $(B)/distcheck
	tar -C $(B)/distcheck -xzf $(DIST_TARBALL)
	env -u RCFS_PACKAGING_SLOW -u RCFS_BUILD $(MAKE) -C $(B)/distcheck/$(DIST_NAME) check
	rm -rf $(B)/distcheck
	@echo "distcheck: $(DIST_TARBALL) builds and passes make check"

# dpkg-buildpackage writes next to the source tree, so build in build/deb/, from the tarball.
deb: dist
	rm -rf $(B)/deb && mkdir -p $(B)/deb
	tar -C $(B)/deb -xzf $(DIST_TARBALL)
	cd $(B)/deb/$(DIST_NAME) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS dpkg-buildpackage -us -uc -b
	@ls -1 $(B)/deb/*.deb
