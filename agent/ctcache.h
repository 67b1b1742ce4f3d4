/* ctcache.h: the containers that requests named, remembered while the engine's event stream
 * reports no change.
 *
 * Finding the container of `rexec HOST web CMD` takes two Engine API calls (the service's
 * containers, then the one picked, inspected): some 4 ms of every session, most of what a
 * direct exec costs beyond its fork. The answer changes only when a container is created,
 * started, stopped, renamed, paused or removed, and the engine announces each of those on
 * GET /events (what `docker events` and compose's `up` watch). So the agent keeps one such
 * stream open on its loop and reuses an answer until the next event. Any event forgets every
 * answer (events are rare next to sessions); so does losing the stream, and while there is
 * none, nothing is kept and every session asks the engine, as without a cache.
 *
 * Lookups run on the thread pool, the stream on the loop: a generation number, taken before
 * the engine is asked, keeps an answer only when no event came while it was being found. A
 * container that died a moment ago and whose event is still on its way is caught by its
 * init's start time, which the caller compares (procfs_start_time). */
#ifndef REXEC_AGENT_CTCACHE_H
#define REXEC_AGENT_CTCACHE_H

#include <cJSON.h>
#include <uv.h>

#include "agent/engine.h"

#define CTCACHE_KEY_MAX 320 /* a longer key is never kept */

struct ctcache;

/* Starts watching E's events on LOOP (retrying while the engine cannot be reached). */
struct ctcache *ctcache_new(uv_loop_t *loop, const struct engine *e);

/* Stops watching (on the loop); lookups keep working and find nothing. */
void ctcache_close(struct ctcache *c);

/* Frees C once the loop has ended: no job on the thread pool may still use it. */
void ctcache_free(struct ctcache *c);

/* Thread pool side (any thread). */

/* The generation to give ctcache_put(), taken before the engine is asked; 0 while there is
 * no event stream (nothing would be kept). */
unsigned long ctcache_begin(struct ctcache *c);

/* A copy of the inspect kept for KEY (the caller frees it) and its init's start time in
 * *START; NULL when there is none from the current generation. */
cJSON *ctcache_get(struct ctcache *c, const char *key, unsigned long long *start);

/* Keeps a copy of INSPECT, whose init started at START, for KEY, if GEN is still current. */
void ctcache_put(struct ctcache *c, unsigned long gen, const char *key, const cJSON *inspect,
		 unsigned long long start);

/* Forgets KEY's answer (its container was found changed). */
void ctcache_forget(struct ctcache *c, const char *key);

#endif
