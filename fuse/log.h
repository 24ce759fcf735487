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

/* Print one line "resolvconffs: <message>" to stderr when level <= threshold. Control bytes,
 * DEL and backslashes in the formatted message come out as \xNN (lowercase hex), so a name with
 * a newline or a terminal escape in it stays inside its line: "a\nb" logs as a\x0ab. A message
 * longer than 1023 bytes is cut. */
void rcfs_log(int threshold, enum rcfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
