/* bench-floor: the least any correct per-namespace FUSE file can cost.
 *
 * A multithreaded low-level libfuse filesystem mounted over one regular file. Like resolvconffs it
 * resolves the caller on every request that names the file (getattr without a handle, setattr,
 * open): readlinkat of `<tid>/ns/net` on a procfs dirfd opened once, then a strict parse of
 * `net:[N]`. Instead of a backing file it serves constant bytes for each namespace (floor_content
 * below; bench/run.py writes the same text into its expected-content files). Reads and writes go
 * through the handle, which carries the id resolved at open, as resolvconffs' handle carries its
 * backing fd; writes are accepted and discarded. The mount has what correctness needs and no more:
 * attribute timeout 0, direct I/O without keep-cache, noflush, atomic O_TRUNC, no writeback cache,
 * allow_other and default_permissions.
 *
 * Usage: bench-floor MOUNTPOINT_FILE   (foreground; SIGTERM or SIGINT unmounts; request counts go
 * to stderr at exit). */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONTENT_MAX 256

enum { OP_GETATTR, OP_SETATTR, OP_OPEN, OP_READ, OP_WRITE, OP_FLUSH, OP_RELEASE, OP_COUNT };
static const char *const op_names[OP_COUNT] = { "getattr", "setattr", "open", "read",
						 "write", "flush", "release" };

static struct {
	int procfs_fd;
	struct timespec started;
	atomic_ulong count[OP_COUNT];
} floor_fs;

static void count(int op)
{
	atomic_fetch_add_explicit(&floor_fs.count[op], 1, memory_order_relaxed);
}

/* The caller's network namespace id: the same lookup resolvconffs makes for every request. */
static int caller_ns(fuse_req_t req, uint64_t *id)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	char path[32], link[64];
	uint64_t v = 0;
	ssize_t len;

	if (fc->pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "%d/ns/net", (int)fc->pid);
	len = readlinkat(floor_fs.procfs_fd, path, link, sizeof(link));
	if (len < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	if (len < 7 || len >= (ssize_t)sizeof(link) || memcmp(link, "net:[", 5) != 0 ||
	    link[len - 1] != ']' || len - 6 > 20)
		return -EINVAL;
	for (ssize_t i = 5; i < len - 1; i++) {
		unsigned d = (unsigned char)link[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*id = v;
	return 0;
}

/* The constant bytes namespace id is served; bench/run.py's floor_content() is the same text. */
static size_t floor_content(uint64_t id, char *buf)
{
	int n = snprintf(buf, CONTENT_MAX,
			 "# bench-floor: constant content for network namespace %" PRIu64 "\n"
			 "nameserver 10.%u.%u.%u\n"
			 "options timeout:1 attempts:1\n"
			 "search floor.invalid\n",
			 id, (unsigned)(id >> 16) & 255, (unsigned)(id >> 8) & 255,
			 (unsigned)id & 255);

	return n < 0 ? 0 : (size_t)n;
}

static void reply_attr(fuse_req_t req, uint64_t id)
{
	char buf[CONTENT_MAX];
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = id;
	st.st_mode = S_IFREG | 0644;
	st.st_nlink = 1;
	st.st_size = (off_t)floor_content(id, buf);
	st.st_blksize = 4096;
	st.st_atim = st.st_mtim = st.st_ctim = floor_fs.started;
	fuse_reply_attr(req, &st, 0.0);
}

static void floor_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	uint64_t id;
	int ret;

	(void)ino;
	count(OP_GETATTR);
	if (fi) { /* fstat: the namespace the handle was opened in */
		reply_attr(req, fi->fh);
		return;
	}
	ret = caller_ns(req, &id);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, id);
}

/* Truncation (and any other change) is accepted and forgotten: the content is constant. */
static void floor_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	uint64_t id;
	int ret = 0;

	(void)ino;
	(void)attr;
	(void)to_set;
	count(OP_SETATTR);
	if (fi)
		id = fi->fh;
	else
		ret = caller_ns(req, &id);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, id);
}

static void floor_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	uint64_t id;
	int ret;

	(void)ino;
	count(OP_OPEN);
	ret = caller_ns(req, &id);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = id;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

static void floor_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	char buf[CONTENT_MAX];
	size_t len = floor_content(fi->fh, buf);

	(void)ino;
	count(OP_READ);
	if (off < 0 || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	len -= (size_t)off;
	fuse_reply_buf(req, buf + off, len < size ? len : size);
}

static void floor_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)data;
	(void)off;
	(void)fi;
	count(OP_WRITE);
	fuse_reply_write(req, size);
}

static void floor_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	count(OP_FLUSH);
	fuse_reply_err(req, 0);
}

static void floor_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	count(OP_RELEASE);
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.init = floor_init,
	.getattr = floor_getattr,
	.setattr = floor_setattr,
	.open = floor_open,
	.read = floor_read,
	.write = floor_write,
	.flush = floor_flush,
	.release = floor_release,
};

int main(int argc, char **argv)
{
	char *fargv[] = { argv[0], "-o",
			  "fsname=bench-floor,subtype=bench-floor,allow_other,default_permissions",
			  NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_loop_config *loop;
	struct fuse_session *se;
	struct stat st;
	int ret = 1;

	if (argc != 2) {
		fputs("usage: bench-floor MOUNTPOINT_FILE\n", stderr);
		return 2;
	}
	if (stat(argv[1], &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "bench-floor: %s: not a regular file\n", argv[1]);
		return 2;
	}
	if (clock_gettime(CLOCK_REALTIME, &floor_fs.started) != 0) {
		perror("bench-floor: clock_gettime");
		return 2;
	}
	floor_fs.procfs_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (floor_fs.procfs_fd < 0) {
		perror("bench-floor: /proc");
		return 2;
	}
	se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (!se)
		goto out_fd;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	if (fuse_session_mount(se, argv[1]))
		goto out_signals;
	loop = fuse_loop_cfg_create();
	if (!loop)
		goto out_mount;
	ret = fuse_session_loop_mt(se, loop) ? 1 : 0;
	fuse_loop_cfg_destroy(loop);
out_mount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_fd:
	close(floor_fs.procfs_fd);
	fputs("bench-floor: requests:", stderr);
	for (int op = 0; op < OP_COUNT; op++)
		fprintf(stderr, " %s=%lu", op_names[op],
			atomic_load_explicit(&floor_fs.count[op], memory_order_relaxed));
	fputc('\n', stderr);
	return ret;
}
