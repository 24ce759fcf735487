/* Fuzz rcfs_options_parse, the daemon's command line.
 *
 * Input: argv[1..] as NUL-separated strings (a final NUL is optional); argv[0] is
 * "resolvconffs". At most 64 arguments are used.
 *
 * The oracle is a small model of glibc's getopt_long in its default (permuting) mode over the
 * daemon's own option table, which make extracts from fuse/options.c (fuzz/options_table.sh):
 * options are taken in order wherever they appear, "--" ends them, a long option may be
 * abbreviated to a unique prefix, "--opt=value" or "--opt value" for a required argument, only
 * "--opt=value" for an optional one, "-abc" bundles, "-pVALUE" or "-p VALUE". What each option
 * does is modelled for the options documented in --help; an option the model does not know
 * (added since) only switches the comparison down to the structural invariants.
 * Invariants (abort on violation):
 *  - never crashes; returns RUN only with exactly two positionals, which are the model's two
 *    non-option arguments in order and become backing_dir and mountpoint (mount_basename its
 *    last component);
 *  - for inputs of known options only: the result is the model's, and every setting
 *    (extension, template, procfs, key, names and etc-netns directories, -o list, fallbacks,
 *    flags, --access-check, log level) is the model's, pointing into argv as given; the numbers
 *    of --max-size (1..INT64_MAX) and --gc-interval (1..UINT_MAX), decimal digits only, are
 *    the model's, from strtoull;
 *  - an error is one line "resolvconffs: ... (see --help)\n"; when every argument is printable
 *    ASCII, so is the message; when it names an option, the name is one the user typed (an
 *    argument as given, or "-c" for a letter c of a "-..." bundle);
 *  - nothing is written to err unless the result is an error.
 * Help goes to /dev/null, errors to a memory buffer; both are opened once. */
#include "fuzz_common.h"

#include <limits.h>

#include "../fuse/log.h"
#include "../fuse/options.h"

#define MAX_ARGS 64

struct fuzz_longopt {
	const char *name;
	int has_arg; /* 0 none, 1 required, 2 optional */
	int letter;  /* the short option it stands for, or 0 */
};

/* FUZZ_SHORTOPTS and FUZZ_LONGOPTS, generated from fuse/options.c. */
#include "options_table.h"

#define NLONG (sizeof(FUZZ_LONGOPTS) / sizeof(FUZZ_LONGOPTS[0]))

struct model {
	int result;
	int unmodelled; /* an option the semantic model does not know was used */
	int stopped;    /* the model stopped early: help, or an invalid option or argument */
	struct rcfs_options o; /* only the fields the parser sets; arrays below */
	const char *fuse_opts[MAX_ARGS];
	const char *fallbacks[MAX_ARGS];
	int version;
	const char *pos[MAX_ARGS];
	size_t npos;
};

static FILE *devnull, *errf;
static char errbuf[1 << 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("POSIXLY_CORRECT"); /* the model is of the permuting mode */
	devnull = fopen("/dev/null", "w");
	errf = fmemopen(errbuf, sizeof(errbuf), "w");
	if (!devnull || !errf)
		fuzz_setup_die("fopen", "/dev/null or memory stream");
	return 0;
}

static int level_of(const char *s)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* Reference for --max-size and --gc-interval: decimal digits only (leading zeros allowed), a
 * value from 1 to max; through strtoull on the significant digits, independent of options.c. */
static int ref_count(const char *s, unsigned long long max, unsigned long long *v)
{
	uint64_t n;

	if (!*s)
		return 0;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	while (s[0] == '0' && s[1])
		s++;
	if (!fuzz_ref_u64(s, strlen(s), &n) || n == 0 || n > max)
		return 0;
	*v = n;
	return 1;
}

/* Apply one option, named by its short letter or (for a long-only option) its long name;
 * returns -1 to stop with m->result set. */
static int apply(struct model *m, int letter, const char *name, const char *arg)
{
	/* Long forms of the short options, whatever value options.c gives them. */
	static const char *const alias[][2] = { { "help", "h" },     { "extension", "p" },
						 { "default-file", "d" }, { "procfs", "P" },
						 { "fuse-opt", "o" }, { "version", "V" },
						 { "verbose", "v" },  { "key", "k" } };

	for (size_t i = 0; !letter && i < sizeof(alias) / sizeof(alias[0]); i++)
		if (!strcmp(name, alias[i][0]))
			letter = alias[i][1][0];
	switch (letter) {
	case 'h': m->result = RCFS_PARSE_HELP; return -1;
	case 'p': m->o.cfg.extension = arg; return 0;
	case 'd': m->o.cfg.template_path = arg; return 0;
	case 'P': m->o.cfg.procfs = arg; return 0;
	case 'o': m->fuse_opts[m->o.n_fuse_opts++] = arg; return 0;
	case 'V': m->version = 1; return 0;
	case 'v':
		if (m->o.log_level < RCFS_LOG_DEBUG)
			m->o.log_level++;
		return 0;
	case 'k': m->o.cfg.key_kind = arg; return 0;
	case 0: break;
	default: m->unmodelled = 1; return 0;
	}
	if (!strcmp(name, "log-level")) {
		m->o.log_level = level_of(arg);
		if (m->o.log_level < 0) {
			m->result = RCFS_PARSE_ERROR;
			return -1;
		}
	} else if (!strcmp(name, "access-check")) {
		if (strcmp(arg, "kernel") && strcmp(arg, "daemon")) {
			m->result = RCFS_PARSE_ERROR;
			return -1;
		}
		m->o.kernel_check = arg[0] == 'k';
	} else if (!strcmp(name, "max-size")) {
		unsigned long long v;

		if (!ref_count(arg, (unsigned long long)INT64_MAX, &v)) {
			m->result = RCFS_PARSE_ERROR;
			return -1;
		}
		m->o.cfg.max_size = (long long)v;
	} else if (!strcmp(name, "gc-interval")) {
		unsigned long long v;

		if (!ref_count(arg, UINT_MAX, &v)) {
			m->result = RCFS_PARSE_ERROR;
			return -1;
		}
		m->o.gc_interval = (unsigned)v;
	} else if (!strcmp(name, "takeover")) {
		m->o.takeover = 1;
	} else if (!strcmp(name, "names")) {
		m->o.cfg.names_dir = arg ? arg : "/run/netns";
	} else if (!strcmp(name, "etc-netns")) {
		m->o.cfg.etc_netns_dir = arg ? arg : "/etc/netns";
	} else if (!strcmp(name, "filter-loopback")) {
		m->o.cfg.filter_loopback = 1;
	} else if (!strcmp(name, "fallback-nameserver")) {
		m->fallbacks[m->o.cfg.n_fallbacks++] = arg;
	} else if (!strcmp(name, "gc-on-start")) {
		m->o.gc_on_start = 1;
	} else if (!strcmp(name, "no-recycle-check")) {
		m->o.cfg.no_nsid = 1;
	} else {
		m->unmodelled = 1;
	}
	return 0;
}

static int error(struct model *m)
{
	m->result = RCFS_PARSE_ERROR;
	return -1;
}

static int long_option(struct model *m, int argc, char **argv, int *i)
{
	const char *name = argv[*i] + 2, *eq = strchr(name, '=');
	size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
	int found = -1, matches = 0;
	const struct fuzz_longopt *o;

	for (size_t k = 0; k < NLONG; k++)
		if (strlen(FUZZ_LONGOPTS[k].name) == nlen && !strncmp(FUZZ_LONGOPTS[k].name, name, nlen))
			found = (int)k;
	if (found < 0) {
		for (size_t k = 0; k < NLONG; k++)
			if (!strncmp(FUZZ_LONGOPTS[k].name, name, nlen)) {
				found = (int)k;
				matches++;
			}
		if (matches != 1)
			return error(m); /* unknown or ambiguous */
	}
	o = &FUZZ_LONGOPTS[found];
	(*i)++;
	if (eq) {
		if (o->has_arg == 0)
			return error(m);
		return apply(m, o->letter, o->name, eq + 1);
	}
	if (o->has_arg == 1) {
		if (*i >= argc)
			return error(m);
		return apply(m, o->letter, o->name, argv[(*i)++]);
	}
	return apply(m, o->letter, o->name, NULL);
}

/* How a short option letter takes an argument per FUZZ_SHORTOPTS: -1 not an option, 0 none,
 * 1 required, 2 optional (attached only). */
static int short_kind(char c)
{
	const char *s = FUZZ_SHORTOPTS, *p;

	while (*s == ':' || *s == '+' || *s == '-')
		s++;
	if (c == ':' || c == ';' || !(p = strchr(s, c)))
		return -1;
	return p[1] != ':' ? 0 : p[2] == ':' ? 2 : 1;
}

static int short_options(struct model *m, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	for (size_t j = 1; a[j]; j++) {
		char c = a[j];
		int kind = short_kind(c);

		if (kind < 0)
			return error(m);
		if (kind == 0) {
			if (apply(m, c, NULL, NULL))
				return -1;
			continue;
		}
		if (a[j + 1]) {
			(*i)++;
			return apply(m, c, NULL, a + j + 1);
		}
		if (kind == 2) {
			(*i)++;
			return apply(m, c, NULL, NULL);
		}
		if (*i + 1 >= argc)
			return error(m);
		*i += 2;
		return apply(m, c, NULL, argv[*i - 1]);
	}
	(*i)++;
	return 0;
}

static void model_parse(struct model *m, int argc, char **argv)
{
	int i = 1;

	memset(m, 0, sizeof(*m));
	m->o.log_level = RCFS_LOG_INFO;
	while (i < argc) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				m->pos[m->npos++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			m->pos[m->npos++] = a;
			i++;
			continue;
		}
		if ((a[1] == '-' ? long_option(m, argc, argv, &i) : short_options(m, argc, argv, &i))) {
			m->stopped = 1;
			return;
		}
	}
	if (m->version)
		m->result = RCFS_PARSE_VERSION;
	else if (m->npos != 2)
		m->result = RCFS_PARSE_ERROR;
	else
		m->result = RCFS_PARSE_RUN;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The option an error message names must be one the user typed. */
static void check_named_option(const char *msg, size_t len, char **argv, int argc)
{
	static const struct {
		const char *head, *tail;
	} forms[] = {
		{ "resolvconffs: unknown option '", "' (see --help)\n" },
		{ "resolvconffs: option '", "' needs an argument (see --help)\n" },
	};
	const char *q = NULL, *end = NULL;

	for (size_t f = 0; f < 2 && !q; f++) {
		size_t hl = strlen(forms[f].head), tl = strlen(forms[f].tail);

		if (len >= hl + tl && !strncmp(msg, forms[f].head, hl) &&
		    !strcmp(msg + len - tl, forms[f].tail)) {
			q = msg + hl;
			end = msg + len - tl; /* the name may hold quotes itself */
		}
	}
	if (!q)
		return; /* another kind of error */
	/* Named as typed? */
	for (int i = 1; i < argc; i++)
		if (strlen(argv[i]) == (size_t)(end - q) && !memcmp(argv[i], q, (size_t)(end - q)))
			return;
	/* Or a letter of a short-option bundle. */
	FUZZ_CHECK(end - q == 2 && q[0] == '-',
		   "error names an option that is neither an argument as typed nor '-c'");
	for (int i = 1; i < argc; i++)
		if (argv[i][0] == '-' && argv[i][1] != '-' && strchr(argv[i] + 1, q[1]))
			return;
	FUZZ_CHECK(0, "error names a short option letter the user did not type");
}

static void check_error_message(char **argv, int argc)
{
	static const char head[] = "resolvconffs: ", tail[] = " (see --help)\n";
	long len = ftell(errf);
	int printable = 1;

	FUZZ_CHECK(len > 0, "RCFS_PARSE_ERROR without a message");
	FUZZ_CHECK((size_t)len < sizeof(errbuf) - 1, "error message filled the buffer");
	errbuf[len] = '\0';
	FUZZ_CHECK(!strncmp(errbuf, head, sizeof(head) - 1), "error message lacks its prefix");
	FUZZ_CHECK((size_t)len >= sizeof(tail) - 1 &&
			   !strcmp(errbuf + len - (sizeof(tail) - 1), tail),
		   "error message lacks its (see --help) ending");
	for (int i = 1; i < argc; i++)
		for (const unsigned char *p = (const unsigned char *)argv[i]; *p; p++)
			printable &= *p >= 0x20 && *p < 0x7f;
	if (printable) {
		for (long i = 0; i < len - 1; i++)
			FUZZ_CHECK((unsigned char)errbuf[i] >= 0x20 && (unsigned char)errbuf[i] < 0x7f,
				   "error message has a control byte though every argument is printable");
		FUZZ_CHECK(strlen(errbuf) == (size_t)len, "error message has a NUL byte");
	}
	check_named_option(errbuf, (size_t)len, argv, argc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = fuzz_strndup(data, size);
	char *argv[MAX_ARGS + 2], *orig[MAX_ARGS + 2];
	int argc = 1;
	struct rcfs_options opts;
	struct model m;
	enum rcfs_parse_result r;

	argv[0] = "resolvconffs";
	for (size_t pos = 0; pos < size && argc <= MAX_ARGS; argc++) {
		argv[argc] = copy + pos;
		pos += strlen(copy + pos) + 1;
	}
	argv[argc] = NULL;
	memcpy(orig, argv, sizeof(argv));

	model_parse(&m, argc, orig);
	rewind(errf);
	r = rcfs_options_parse(argc, argv, &opts, devnull, errf);
	fflush(errf);

	FUZZ_CHECK(r == RCFS_PARSE_RUN || r == RCFS_PARSE_HELP || r == RCFS_PARSE_VERSION ||
			   r == RCFS_PARSE_ERROR,
		   "unknown parse result");
	if (r == RCFS_PARSE_ERROR)
		check_error_message(orig, argc);
	else
		FUZZ_CHECK(ftell(errf) == 0, "message on err without an error");
	if (r == RCFS_PARSE_RUN) {
		/* Whatever the options mean: the parser went through every argument, so the model
		 * must have too (no unknown option, no missing argument) and found two positionals. */
		FUZZ_CHECK(!m.stopped, "RUN though the model stops at an invalid option or argument");
		FUZZ_CHECK(m.npos == 2, "RUN without exactly two positionals");
		FUZZ_CHECK(opts.cfg.backing_dir == m.pos[0] && opts.mountpoint == m.pos[1],
			   "positionals are not the two non-option arguments in order");
		FUZZ_CHECK(opts.cfg.mount_basename && !strchr(opts.cfg.mount_basename, '/') &&
				   opts.cfg.mount_basename >= opts.mountpoint &&
				   opts.cfg.mount_basename <= opts.mountpoint + strlen(opts.mountpoint),
			   "mount_basename is not the mountpoint's last component");
	}
	if (m.unmodelled) {
		rcfs_options_free(&opts);
		free(copy);
		return 0;
	}
	if ((int)r != m.result)
		fprintf(stderr, "parser says %d, model says %d\n", (int)r, m.result);
	FUZZ_CHECK((int)r == m.result, "result differs from the getopt_long model");
	if (r == RCFS_PARSE_RUN) {
		FUZZ_CHECK(opts.cfg.extension == m.o.cfg.extension &&
				   opts.cfg.template_path == m.o.cfg.template_path &&
				   opts.cfg.procfs == m.o.cfg.procfs && opts.cfg.key_kind == m.o.cfg.key_kind,
			   "extension/default-file/procfs/key differ from the model");
		FUZZ_CHECK(same_str(opts.cfg.names_dir, m.o.cfg.names_dir) &&
				   same_str(opts.cfg.etc_netns_dir, m.o.cfg.etc_netns_dir),
			   "names/etc-netns directories differ from the model");
		FUZZ_CHECK(opts.log_level == m.o.log_level && opts.gc_on_start == m.o.gc_on_start &&
				   opts.cfg.filter_loopback == m.o.cfg.filter_loopback &&
				   opts.cfg.no_nsid == m.o.cfg.no_nsid &&
				   opts.kernel_check == m.o.kernel_check && opts.takeover == m.o.takeover,
			   "flags or log level differ from the model");
		FUZZ_CHECK(opts.cfg.max_size == m.o.cfg.max_size && opts.gc_interval == m.o.gc_interval,
			   "--max-size or --gc-interval differs from the model");
		FUZZ_CHECK(opts.n_fuse_opts == m.o.n_fuse_opts &&
				   opts.cfg.n_fallbacks == m.o.cfg.n_fallbacks,
			   "-o or --fallback-nameserver count differs from the model");
		for (size_t i = 0; i < opts.n_fuse_opts; i++)
			FUZZ_CHECK(opts.fuse_opts[i] == m.fuse_opts[i], "-o list differs from the model");
		FUZZ_CHECK(opts.fuse_opts[opts.n_fuse_opts] == NULL, "-o list not NULL-terminated");
		for (size_t i = 0; i < opts.cfg.n_fallbacks; i++)
			FUZZ_CHECK(opts.cfg.fallbacks[i] == m.fallbacks[i],
				   "fallback list differs from the model");
	}
	rcfs_options_free(&opts);
	free(copy);
	return 0;
}
