# Benchmark: resolvconffs against a minimal per-namespace FUSE file (bench-floor) and a plain file
# on tmpfs, driven by bench/run.py (needs root: network namespaces and mounts).
#   make bench                       the default run (pinned 1-thread and unpinned 2-thread tables)
#   make bench BENCH_ARGS='--scale'  1,000 namespaces; any bench/run.py option goes in BENCH_ARGS
#   make bench-quick                 a smoke run, about a second per subject
#   make bench-build                 just build the tools

BENCH_PROGS := $(B)/bench-loadgen $(B)/bench-floor $(B)/resolvconffs

.PHONY: bench bench-quick bench-build
bench-build: $(BENCH_PROGS)

$(B)/bench-loadgen: bench/loadgen.c $(B)/.flags
	@mkdir -p $(B)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lpthread

$(B)/bench-floor: bench/floor.c $(B)/.flags
	@mkdir -p $(B)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(FUSE_CFLAGS) $(LDFLAGS) -o $@ $< $(FUSE_LIBS) -lpthread

bench: bench-build
	$(PYTHON) bench/run.py --build $(abspath $(B)) $(BENCH_ARGS)

bench-quick: bench-build
	$(PYTHON) bench/run.py --build $(abspath $(B)) --quick $(BENCH_ARGS)
