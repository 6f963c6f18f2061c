/*
 * iam_ops.h -- the IAM service as the rest of tresor sees it: its
 * operation table (iam_ops.def) and its handlers, which live in users.c,
 * access_keys.c, groups.c, roles.c, managed_policies.c, attachments.c,
 * inline_policies.c, boundaries.c, entity_tags.c and account_details.c.
 */
#ifndef TR_IAM_OPS_H
#define TR_IAM_OPS_H

#include "op/op.h"
#include "op/query_proto.h"

/* A service bit of iam_ops.def's flags (OP_SERVICE_FLAGS): the operation
 * changes the role it names, which a service-linked role refuses
 * (iam_load: UnmodifiableEntity, service_linked_roles.c). */
#define IAM_OP_CHANGES_ROLE 0x0100

/* The operation table (NULL-name terminated), made from iam_ops.def, and
 * the service main.c registers. */
extern const struct op_def iam_ops[];
extern const struct op_service iam_service;

/* The handlers, one per row of iam_ops.def. */
#define OP(name, handler, flags) OP_QUERY_HANDLER(handler);
#include "iam/iam_ops.def"

#endif
