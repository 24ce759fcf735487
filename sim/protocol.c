#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/fileops.h"
#include "../core/io.h"
#include "../core/key.h"

static void reply_err(FILE *out, int err)
{
	const char *name = strerrorname_np(err);

	if (name)
		fprintf(out, "err %s\n", name);
	else
		fprintf(out, "err %d\n", err);
}

/* Parse a decimal number that fills [s, end) exactly; pids and sizes are never signed here. */
static int parse_u64(const char *s, const char *end, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;

	if (s == end)
		return -EINVAL;
	for (; s < end; s++) {
		unsigned d = (unsigned char)*s - '0';

		if (d > 9 || n > (max - d) / 10)
			return -EINVAL;
		n = n * 10 + d;
	}
	*v = n;
	return 0;
}

static int do_key(const struct rcfs_ctx *ctx, const struct rcfs_caller *c, FILE *out)
{
	uint64_t key;
	int ret = rcfs_key_resolve(ctx, c, &key);

	if (ret)
		return ret;
	fprintf(out, "ok %" PRIu64 "\n", key);
	return 0;
}

static int do_read(const struct rcfs_ctx *ctx, const struct rcfs_caller *c, FILE *out)
{
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0;
	ssize_t n = 0;
	int fd;

	fd = rcfs_open(ctx, c, O_RDONLY);
	if (fd < 0)
		return fd;
	do {
		len += (size_t)n;
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			grown = realloc(buf, cap);
			if (!grown) {
				n = -ENOMEM;
				break;
			}
			buf = grown;
		}
		n = rcfs_pread(fd, buf + len, cap - len, (off_t)len);
	} while (n > 0);
	rcfs_close(fd);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	fprintf(out, "ok %zu\n", len);
	fwrite(buf, 1, len, out);
	fputc('\n', out);
	free(buf);
	return 0;
}

static int do_stat(const struct rcfs_ctx *ctx, const struct rcfs_caller *c, FILE *out)
{
	struct stat st;
	int ret = rcfs_stat(ctx, c, &st);

	if (ret)
		return ret;
	fprintf(out, "ok size=%jd mode=%o uid=%u gid=%u\n", (intmax_t)st.st_size,
		(unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
	return 0;
}

/* `write` is `echo TEXT > file` (truncate, then write); `append` is `echo TEXT >> file`. */
static int do_write(const struct rcfs_ctx *ctx, const struct rcfs_caller *c, int flags,
		    const char *text, FILE *out)
{
	size_t len = strlen(text);
	char *buf = malloc(len + 1);
	ssize_t n;
	int fd;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, text, len);
	buf[len] = '\n';
	fd = rcfs_open(ctx, c, O_WRONLY | flags);
	n = fd < 0 ? fd : rcfs_write(ctx, fd, buf, len + 1, 0, flags & O_APPEND);
	if (fd >= 0) {
		int ret = rcfs_close(fd);

		if (ret && n >= 0)
			n = ret;
	}
	free(buf);
	if (n < 0)
		return (int)n;
	fprintf(out, "ok %zd\n", n);
	return 0;
}

static int do_truncate(const struct rcfs_ctx *ctx, const struct rcfs_caller *c, const char *arg,
		       FILE *out)
{
	uint64_t size;
	int ret;

	if (!arg || parse_u64(arg, arg + strlen(arg), INT64_MAX, &size))
		return -EINVAL;
	ret = rcfs_truncate(ctx, c, (off_t)size);
	if (ret)
		return ret;
	fputs("ok\n", out);
	return 0;
}

/* Split "VERB PID[ REST]": the verb and pid are single-space separated words; REST is everything
 * after the space that follows the pid, taken verbatim. */
static int dispatch(const struct rcfs_ctx *ctx, const char *line, unsigned uid, unsigned gid,
		    FILE *out)
{
	const char *sp = strchr(line, ' '), *pid_end, *rest = NULL;
	struct rcfs_caller c = { .uid = uid, .gid = gid };
	uint64_t pid;
	size_t vlen;

	if (!sp)
		return -EINVAL;
	vlen = (size_t)(sp - line);
	pid_end = strchr(sp + 1, ' ');
	if (pid_end)
		rest = pid_end + 1;
	else
		pid_end = sp + 1 + strlen(sp + 1);
	if (parse_u64(sp + 1, pid_end, INT32_MAX, &pid))
		return -EINVAL;
	c.pid = (pid_t)pid;

#define VERB(s) (vlen == sizeof(s) - 1 && memcmp(line, s, vlen) == 0)
	if (VERB("key") && !rest)
		return do_key(ctx, &c, out);
	if (VERB("read") && !rest)
		return do_read(ctx, &c, out);
	if (VERB("stat") && !rest)
		return do_stat(ctx, &c, out);
	if (VERB("write") && rest)
		return do_write(ctx, &c, O_TRUNC, rest, out);
	if (VERB("append") && rest)
		return do_write(ctx, &c, O_APPEND, rest, out);
	if (VERB("truncate") && rest)
		return do_truncate(ctx, &c, rest, out);
#undef VERB
	return -EINVAL;
}

void sim_execute(const struct rcfs_ctx *ctx, const char *line, size_t len, unsigned uid,
		 unsigned gid, FILE *out)
{
	/* A NUL inside the line would silently cut TEXT short: refuse the line instead. */
	int ret = strlen(line) != len ? -EINVAL : dispatch(ctx, line, uid, gid, out);

	if (ret)
		reply_err(out, -ret);
	fflush(out);
}
