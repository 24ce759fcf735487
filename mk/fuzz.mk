# libFuzzer targets for every parser that reads outside input (fuzz/fuzz_<name>.c; see each
# file's head comment for its input format and invariants).
#
#   make fuzz              build each target, replay fuzz/regressions/<name>-*.bin, then fuzz each
#                          for FUZZ_SECONDS (default 60) from the seeds in fuzz/corpus/<name>/;
#                          fails if any target crashes, leaks, times out or breaks an invariant
#   make fuzz-ci           the same with FUZZ_SECONDS=10 (what .ci/run should call)
#   make fuzz-NAME         one target (nslink, filter, options, sim, access, names, nsid)
#   make fuzz-build        just build them
#   make fuzz-clean        drop build/fuzz (binaries, grown corpora, logs, crash artifacts)
#
# Needs clang with its libFuzzer runtime (Debian 12: clang, libclang-rt-14-dev). Each target is
# one clang invocation over its harness and the project sources it needs, into build/fuzz/ only:
# nothing is shared with the normal build's objects. The seeds are copied into a scratch corpus
# under build/fuzz/corpus/NAME/, which grows across runs; the repo's seeds stay small. Per
# target the run prints libFuzzer's final stats (executions, exec/s) and the wall time, and
# build/fuzz/summary.md collects them. FUZZ_ARGS adds libFuzzer options (e.g. -jobs=2).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
FUZZ_B       := $(B)/fuzz
FUZZ_TARGETS := nslink filter options sim access names nsid
FUZZ_CFLAGS  ?= -g -O1
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# The project sources each harness is linked with.
FUZZ_SRC_nslink  := core/nslink.c
FUZZ_SRC_filter  := core/filter.c
FUZZ_SRC_options := fuse/options.c fuse/log.c
FUZZ_SRC_sim     := sim/protocol.c $(CORE_SRC)
FUZZ_SRC_access  := $(CORE_SRC)
FUZZ_SRC_names   := core/names.c
FUZZ_SRC_nsid    := core/nsid.c
FUZZ_DEPS        := $(wildcard core/*.h fuse/*.h sim/*.h) fuzz/fuzz_common.h
# fuzz_options models getopt over the daemon's own option table, extracted at build time.
FUZZ_GEN_options := $(FUZZ_B)/options_table.h

.PHONY: fuzz fuzz-ci fuzz-build fuzz-clean $(addprefix fuzz-,$(FUZZ_TARGETS))

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)

# Rebuild when the compiler or flags change, as the main build does.
$(FUZZ_B)/.flags: FORCE
	@mkdir -p $(FUZZ_B)
	@echo '$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN)' | cmp -s - $@ || \
		echo '$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN)' > $@

$(FUZZ_B)/options_table.h: fuse/options.c fuzz/options_table.sh
	@mkdir -p $(FUZZ_B)
	bash fuzz/options_table.sh $< > $@.tmp
	mv $@.tmp $@

define FUZZ_RULE
$(FUZZ_B)/fuzz_$(1): fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) $(FUZZ_GEN_$(1)) $(FUZZ_DEPS) $(FUZZ_B)/.flags
	$(FUZZ_CC) $(CPPFLAGS) -I$(FUZZ_B) -std=c11 -Wall -Wextra $(FUZZ_CFLAGS) $(FUZZ_SAN) -o $$@ \
		fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) -lpthread
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

fuzz: fuzz-build
	FUZZ_CC='$(FUZZ_CC)' FUZZ_ARGS='$(FUZZ_ARGS)' bash fuzz/run.sh $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci: FUZZ_SECONDS := 10
fuzz-ci: fuzz-build
	FUZZ_CC='$(FUZZ_CC)' FUZZ_ARGS='$(FUZZ_ARGS)' bash fuzz/run.sh $(FUZZ_B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

$(addprefix fuzz-,$(FUZZ_TARGETS)): fuzz-%: $(FUZZ_B)/fuzz_%
	FUZZ_CC='$(FUZZ_CC)' FUZZ_ARGS='$(FUZZ_ARGS)' bash fuzz/run.sh $(FUZZ_B) $(FUZZ_SECONDS) $*

fuzz-clean:
	rm -rf $(FUZZ_B)
