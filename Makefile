# resolvconffs — `make` builds into build/, `make check` runs every test, `make check SAN=1` does
# the same with AddressSanitizer and UBSan (the valgrind stage is skipped there).

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

check: all unit $(if $(filter 1,$(SAN)),,valgrind) pytest

unit: $(B)/unit-tests
	$(B)/unit-tests --jobs 2

valgrind: $(B)/unit-tests $(B)/resolvconffs-sim
	tests/valgrind.sh $(B)

# Run by an ordinary user, the FUSE suite runs as root of a user namespace of that user's own, in
# a private mount namespace (tests/fuse/userns.sh), and the other suites as the user: two pytest
# sessions, both always run, failing if either fails.
PYTEST_ENV = RCFS_BUILD=$(abspath $(B)) SAN=$(SAN)
PYTEST     = $(PYTEST_ENV) $(PYTHON) -m pytest -q
PYTEST_FUSE_USERNS = $(PYTEST_ENV) sh tests/fuse/userns.sh $(PYTHON) -m pytest -q tests/fuse
pytest: $(PROGS)
ifeq ($(shell id -u),0)
	$(PYTEST) tests
else
	@status=0; \
	echo '$(PYTEST) tests --ignore=tests/fuse'; \
	$(PYTEST) tests --ignore=tests/fuse || status=$$?; \
	echo '$(PYTEST_FUSE_USERNS)'; \
	$(PYTEST_FUSE_USERNS) || status=$$?; \
	exit $$status
endif

clean:
	rm -rf $(B)

# Feature areas (install, bench, fuzz, ...) keep their rules in mk/*.mk.
include $(wildcard mk/*.mk)

-include $(CORE_OBJ:.o=.d) $(SIM_OBJ:.o=.d) $(CTL_OBJ:.o=.d) $(FUSE_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)

demo: $(B)/resolvconffs
	RCFS_BUILD=$(abspath $(B)) tests/demo.sh
