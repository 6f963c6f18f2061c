/*
 * sts.c -- the STS operations (query protocol).
 *
 * GetCallerIdentity needs no permission and cannot be denied (STS API
 * reference; SEMANTICS 1.10): it reports the authenticated principal.
 */
#include "http/query_proto.h"

static TR_RESULT op_get_caller_identity(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    (void)in;
    xml_text(out, "UserId", rc->who.id);
    xml_text(out, "Account", rc->who.account_id);
    xml_text(out, "Arn", rc->who.arn);
    return TR_OK;
}

const struct query_op sts_ops[] = {
    { "GetCallerIdentity", "sts:GetCallerIdentity", op_get_caller_identity, 0 },
    { NULL, NULL, NULL, 0 },
};
