/*
 * metrics.h -- the server's counters, rendered for GET /metrics in the
 * Prometheus text exposition format 0.0.4.
 *
 * Off unless `tresor serve --metrics` turns it on (metrics_enable): then
 * every request is counted by service, operation and HTTP status, its
 * latency goes into a histogram by service and operation, and every store
 * commit's latency into one more histogram.  Each thread counts into its
 * own shard (relaxed atomic loads and stores by the owner only: no lock
 * and no read-modify-write on the request path); metrics_render sums the
 * shards under the registry lock.  Labels are operation names, service
 * names, status codes and cache class names: never a secret, an ARN, a
 * principal, a key id or anything else a request carries.
 *
 * Usage: register the series (metrics_add_series, once per service and
 * operation, before the workers start), metrics_enable(true), then
 * metrics_request from the request path, metrics_commit from the store.
 */
#ifndef TR_METRICS_H
#define TR_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

#define METRICS_SERIES_MAX 1024     /* (service, operation) pairs */
#define METRICS_NONE 0u             /* the series of "no service, no operation" (registered first) */

void metrics_enable(bool on);
bool metrics_enabled(void);

/* A series for (service, operation): two static strings of letters,
 * digits, '-', '_' and '.', kept by pointer.  *index receives its number,
 * for metrics_request.  Not thread-safe: call before the workers start,
 * never after the first metrics_request. */
TR_RESULT metrics_add_series(const char *service, const char *operation, unsigned *index);

/* One request of series `index`, answered with HTTP status `status`
 * after latency_us microseconds.  No-op when metrics are off or index is
 * out of range. */
void metrics_request(unsigned index, int status, int64_t latency_us);
/* One store commit (COMMIT and the sync that made it durable). */
void metrics_commit(int64_t latency_us);

/* Another source of metrics (the audit log's lines written, ...): fn
 * appends complete metric families (# HELP, # TYPE, samples) to out.
 * At most 8; call before the workers start. */
typedef TR_RESULT (*metrics_collector)(struct buf *out);
TR_RESULT metrics_add_collector(metrics_collector fn);
/* tresor_sealed: set by whoever seals and unseals the root key (serve's
 * start, http/control.c). */
void metrics_set_sealed(bool sealed);

/* The exposition: every registered series that has counted something,
 * the store commits, the caches (cache_stats), tresor_sealed and the
 * collectors', appended to out. */
TR_RESULT metrics_render(struct buf *out);

/* Turn metrics off and drop every registration and count: the end of
 * serve, once the workers are joined (a thread still alive must not count
 * again), and the unit tests. */
void metrics_reset(void);

#endif
