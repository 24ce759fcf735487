# resolvconffs — `make` builds into build/, `make check` runs every test, `make check SAN=1` does
# the same with AddressSanitizer and UBSan (the valgrind stage is skipped there, as it is with
# NO_VALGRIND=1).

CC      ?= cc
PYTHON  ?= /usr/bin/python3
B       := build
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror
# Linux-only: O_TMPFILE, AT_EMPTY_PATH, getrandom and strerrorname_np are GNU extensions.
CPPFLAGS += -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
VERSION := 0.1.0
CPPFLAGS += -DRCFS_VERSION=\"$(VERSION)\"
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null)

CORE_SRC := $(wildcard core/*.c)
SIM_SRC  := $(wildcard sim/*.c)
CTL_SRC  := $(wildcard ctl/*.c)
FUSE_SRC := $(wildcard fuse/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)

CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
SIM_OBJ  := $(SIM_SRC:%.c=$(B)/%.o)
CTL_OBJ  := $(CTL_SRC:%.c=$(B)/%.o)
FUSE_OBJ := $(FUSE_SRC:%.c=$(B)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(B)/%.o)

LIB      := $(B)/libresolvconffs.a
PROGS    := $(B)/resolvconffs-sim $(B)/resolvconffs-ctl $(if $(FUSE_SRC),$(B)/resolvconffs)

.PHONY: all check unit valgrind pytest demo clean
all: $(PROGS) $(B)/unit-tests

# Objects depend on the flags they were built with, so SAN=1 and plain builds never mix.
$(B)/.flags: FORCE
	@mkdir -p $(B)
	@echo '$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS)' > $@
FORCE:

$(B)/%.o: %.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/fuse/%.o: CFLAGS += $(FUSE_CFLAGS)

$(LIB): $(CORE_OBJ)
	$(AR) rcs $@ $^

$(B)/resolvconffs-sim: $(SIM_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/resolvconffs-ctl: $(CTL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/resolvconffs: $(FUSE_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(FUSE_LIBS) -lpthread

$(B)/unit-tests: $(UNIT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lpthread

check: all unit $(if $(filter 1,$(SAN) $(NO_VALGRIND)),,valgrind) pytest

# Run by an ordinary user, the unit tests and the tests that need other ids run as root of a user
# namespace of that user's own with a subordinate id range (tests/fuse/userns.sh; inside 0 is
# the user, 1..65536 the range): there chown to other ids, callers of other ids and private mount
# namespaces work as they do for real root. Without a range the unit tests run as the user, and
# those that need root skip. Skipped unit tests are listed as pytest -rs lists its own.
USERNS := $(if $(filter 0,$(shell id -u)),,sh tests/fuse/userns.sh)
unit: $(B)/unit-tests
	$(if $(USERNS),$(USERNS) --if-ids )$(B)/unit-tests --jobs 2 --tap=$(B)/unit-tests.tap
	@sed -n 's/^ok - \([^ ]*\) *# SKIP \(.*\)/SKIPPED [1] unit-tests: \1: \2/p' $(B)/unit-tests.tap; \
	n=$$(grep -c '# SKIP' $(B)/unit-tests.tap); echo "unit tests: $$n skipped"; \
	if [ "$$CI" = true ] && [ "$$n" -ne 0 ]; then \
		echo "unit tests: under CI=true a skip is a failure"; exit 1; fi

# The unit tests run under valgrind where they ran above, so that none is left out for want of root.
valgrind: $(B)/unit-tests $(B)/resolvconffs-sim
	$(if $(USERNS),$(USERNS) --if-ids )tests/valgrind.sh $(B)

# Run by an ordinary user, the FUSE suite and the other suites' tests marked needs_real_root or
# needs_init_userns run as root of that user's namespace (tests/fuse/userns.sh; with a
# subordinate id range, other uids and gids exist there), the rest of the other suites as the
# user: three pytest sessions, all always run, failing if any fails (one that selects no test is
# not a failure). pytest -rs lists every skip with its reason.
PYTEST_ENV = RCFS_BUILD=$(abspath $(B)) SAN=$(SAN)
PYTEST     = $(PYTEST_ENV) $(PYTHON) -m pytest -q -rs
PYTEST_USERNS = $(PYTEST_ENV) $(USERNS) $(PYTHON) -m pytest -q -rs
ROOT_MARKS = needs_real_root or needs_init_userns
pytest: $(PROGS)
ifeq ($(USERNS),)
	$(PYTEST) tests
else
	@status=0; \
	echo '$(PYTEST) tests --ignore=tests/fuse -m "not ($(ROOT_MARKS))"'; \
	$(PYTEST) tests --ignore=tests/fuse -m "not ($(ROOT_MARKS))" || status=$$?; \
	echo '$(PYTEST_USERNS) tests --ignore=tests/fuse -m "$(ROOT_MARKS)"'; \
	$(PYTEST_USERNS) tests --ignore=tests/fuse -m "$(ROOT_MARKS)" || \
		{ s=$$?; [ "$$s" -eq 5 ] || status=$$s; }; \
	echo '$(PYTEST_USERNS) tests/fuse'; \
	$(PYTEST_USERNS) tests/fuse || status=$$?; \
	exit $$status
endif

clean:
	rm -rf $(B)

# Feature areas (install, bench, fuzz, ...) keep their rules in mk/*.mk.
include $(wildcard mk/*.mk)

-include $(CORE_OBJ:.o=.d) $(SIM_OBJ:.o=.d) $(CTL_OBJ:.o=.d) $(FUSE_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)

demo: $(B)/resolvconffs
	RCFS_BUILD=$(abspath $(B)) tests/demo.sh
