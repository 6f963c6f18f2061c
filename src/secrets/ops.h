/*
 * ops.h -- the Secrets Manager service as the rest of tresor sees it: its
 * operation table (ops.def), its handlers and its periodic maintenance.
 */
#ifndef TR_SECRETS_OPS_H
#define TR_SECRETS_OPS_H

#include <stdint.h>

#include "core/result.h"
#include "op/op.h"

/* The operation table (NULL-name terminated), made from ops.def, and the
 * service main.c registers. */
extern const struct op_def sm_ops[];
extern const struct op_service sm_service;

/* Purge the secrets whose recovery window has ended (manage.c), each in
 * its own transaction, one log line each.  Called at start-up and every
 * minute by the server. */
TR_RESULT sm_maintenance(const struct server_env *env, int64_t now);

/* The handlers, one per row of ops.def (manage.c, tags.c, password.c,
 * policy.c, replication.c, values.c, versions.c); SM_HANDLER(sm_op_x)
 * { ... } defines one. */
#define SM_HANDLER(fn) OP_JSON_HANDLER(fn)
#define OP(name, handler, flags, members) SM_HANDLER(handler);
#include "secrets/ops.def"

#endif
