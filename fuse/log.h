/* Logging to stderr with a verbosity threshold: errors always, per-request lines only at debug. */
#ifndef RCFS_LOG_H
#define RCFS_LOG_H

enum rcfs_log_level {
	RCFS_LOG_ERROR,
	RCFS_LOG_WARNING,
	RCFS_LOG_INFO,
	RCFS_LOG_DEBUG,
};

/* Parse a --log-level name (error, warning, info, debug). Returns the level, or -1. */
int rcfs_log_level_parse(const char *name);

/* Print one line "resolvconffs: <message>" to stderr when level <= threshold. */
void rcfs_log(int threshold, enum rcfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
