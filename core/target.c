#include "target.h"
#include "backing.h"
#include "host.h"
#include "statat.h"

#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

static int with_extension(const struct rcfs_ctx *ctx, const char *base, char *buf, size_t size)
{
	int n = ctx->ext[0] ? snprintf(buf, size, "%s.%s", base, ctx->ext) : snprintf(buf, size, "%s", base);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The iproute2 layout: the file `ip netns exec NAME` would bind-mount over the mountpoint. */
static int etc_netns_file(const struct rcfs_ctx *ctx, const char *name, struct rcfs_target *t)
{
	struct stat st;
	int n = snprintf(t->name, sizeof(t->name), "%s/%s", name, ctx->etc_base), ret;

	if (n < 0 || (size_t)n >= sizeof(t->name))
		return -ENOENT;
	ret = rcfs_statat(ctx, ctx->etc_fd, t->name, &st);
	if (ret)
		return ret == -ELOOP ? ret : -ENOENT; /* absent or unusable: the rules below apply */
	t->dirfd = ctx->etc_fd;
	t->creatable = 0;
	return 0;
}

int rcfs_target_resolve(const struct rcfs_ctx *ctx, const struct rcfs_caller *caller,
			struct rcfs_target *t)
{
	uint64_t key;
	int ret = rcfs_key_resolve(ctx, caller, &key);

	return ret ? ret : rcfs_target_of_key(ctx, key, caller, t);
}

int rcfs_target_of_key(const struct rcfs_ctx *ctx, uint64_t key, const struct rcfs_caller *caller,
		       struct rcfs_target *t)
{
	char name[NAME_MAX + 1];
	int ret;

	t->dirfd = ctx->backing_fd;
	t->creatable = 1;
	t->filter = ctx->filter_loopback && key != ctx->own_net_ns;
	t->recyclable = 0;
	t->host = 0;
	t->key = key;
	if (caller)
		t->caller = *caller;
	else
		memset(&t->caller, 0, sizeof(t->caller));
	if (ctx->names && rcfs_names_lookup(ctx->names, key, name, sizeof(name)) == 0) {
		ret = ctx->etc_fd >= 0 ? etc_netns_file(ctx, name, t) : -ENOENT;
		if (ret != -ENOENT)
			return ret;
		/* No room for NAME.<ext>, or NAME.<ext> is the template (a namespace named `template`
		 * beside template.conf): the name is unusable here, the id rule applies. */
		if (with_extension(ctx, name, t->name, RCFS_NAME_SIZE) == 0 &&
		    strcmp(t->name, ctx->tmpl_base) != 0)
			return 0;
	}
	t->recyclable = ctx->key_source == RCFS_KEY_NS;
	ret = rcfs_backing_name(ctx, key, t->name, RCFS_NAME_SIZE);
	return ret ? ret : rcfs_host_target(ctx, key, t);
}
