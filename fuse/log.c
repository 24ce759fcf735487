#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The longest message kept before escaping; a longer one is cut. */
#define MSG_MAX 1024

static const char *const level_names[] = { "error", "warning", "info", "debug" };

int rcfs_log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Copy s to out[0..cap) (cap > 0), writing every control byte, DEL and the backslash as \xNN.
 * Messages carry names from outside (entries of /run/netns, file names): a newline in one would
 * forge a log line of its own, an escape sequence would drive the reader's terminal. The
 * backslash is escaped too so that a literal "\x0a" in a name cannot pass for an escaped newline.
 * An escape that does not fit whole is left out with everything after it. */
static void escape(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\') {
			if (cap - o < 5)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		} else {
			if (cap - o < 2)
				break;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void rcfs_log(int threshold, enum rcfs_log_level level, const char *fmt, ...)
{
	char msg[MSG_MAX];
	/* Room for every byte of msg escaped: nothing vsnprintf kept is lost here. */
	char line[(MSG_MAX - 1) * 4 + 1];
	va_list ap;

	if ((int)level > threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	escape(line, sizeof(line), msg);
	/* One write per line, so lines from concurrent request threads never interleave. */
	fprintf(stderr, "resolvconffs: %s%s\n", level == RCFS_LOG_WARNING ? "warning: " : "", line);
}
