/* The command line, kept compatible with the original resolvconffs. */
#ifndef RCFS_OPTIONS_H
#define RCFS_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "../core/context.h"

struct rcfs_options {
	struct rcfs_config cfg;   /* backing directory, extension, template, procfs */
	const char *mountpoint;
	const char **fuse_opts;   /* each -o argument as given (may hold comma lists) */
	size_t n_fuse_opts;
	const char **fallbacks;   /* each --fallback-nameserver, for cfg */
	int log_level;            /* enum rcfs_log_level */
	int gc_on_start;          /* remove id-named files of dead namespaces before mounting */
	int takeover;             /* detach an earlier resolvconffs mount on the mountpoint */
	int kernel_check;         /* --access-check=kernel: default_permissions on top of the daemon's */
	unsigned gc_interval;     /* --gc-interval: seconds between clean-ups; 0: none */
	int host_original;        /* --host-original: the daemon's namespace keeps the covered file */
};

/* What rcfs_options_parse asks the caller to do next. */
enum rcfs_parse_result {
	RCFS_PARSE_RUN,     /* options complete: mount */
	RCFS_PARSE_HELP,    /* help printed: exit 0 */
	RCFS_PARSE_VERSION, /* --version: the caller prints it (it knows the libfuse version) */
	RCFS_PARSE_ERROR,   /* one-line error printed to err: exit 2 */
};

/* Parse argv into opts (pointers into argv; free with rcfs_options_free). Help and version go to
 * out, errors to err. -o arguments are collected, not interpreted: libfuse rejects unknown ones. */
enum rcfs_parse_result rcfs_options_parse(int argc, char **argv, struct rcfs_options *opts,
					  FILE *out, FILE *err);

/* Release what rcfs_options_parse allocated. */
void rcfs_options_free(struct rcfs_options *opts);

#endif
