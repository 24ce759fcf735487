#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const level_names[] = { "error", "warning", "info", "debug" };

int rcfs_log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void rcfs_log(int threshold, enum rcfs_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if ((int)level > threshold)
		return;
	/* One write per line, so lines from concurrent request threads never interleave. */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "resolvconffs: %s%s\n", level == RCFS_LOG_WARNING ? "warning: " : "", line);
}
