/*
 * server_h2o.h -- SPIKE: the h2o engine (server_h2o.c), built only with
 * make CONF=spike; server.c hands over to it when TRESOR_HTTP_ENGINE=h2o.
 * The same contract as server.h's http_server_* functions.
 */
#ifndef TR_SERVER_H2O_H
#define TR_SERVER_H2O_H

#include <stdbool.h>

#include "core/result.h"
#include "op/op.h"

struct h2o_engine;

TR_RESULT h2o_engine_start(const struct server_env *env, int listen_fd, unsigned threads,
                           struct h2o_engine **out);
unsigned h2o_engine_port(const struct h2o_engine *e);
unsigned h2o_engine_quiesce(struct h2o_engine *e, unsigned *idle_closed);
bool h2o_engine_drain(struct h2o_engine *e, unsigned ms, unsigned *left);
unsigned h2o_engine_stop(struct h2o_engine *e);

#endif
