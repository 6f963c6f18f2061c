/*
 * authz_audit.c -- every decision of a request into its audit record
 * (audit/audit.h), through the authorization observer's result hook
 * (authz.h iam_authz_observe_result): the engine's own result, never a
 * second evaluation.
 *
 * One decision:
 *   {"action": "kms:Decrypt", "resource": "<ARN or *>",
 *    "decision": "allow" | "implicit deny" | "explicit deny",
 *    "statements": [{"kind": "identity", "policy": "<ARN or name>",
 *                    "index": 0, "sid": "S" | null, "effect": "Allow"}],
 *    "missing": "identity"}       -- implicit deny: the kind that lacked an Allow
 * policy is the policy's ARN for a managed policy, else its name as the
 * analyzer writes it ("inline:user/alice/p1", "key-policy:<key ARN>",
 * "resource-policy:<secret ARN>", "trust:<role ARN>").  A decision made
 * while another service acts for the caller (rc->via_service: Secrets
 * Manager's KMS hop) goes into the record's "kms" list; hypothetical
 * decisions (ar->what_if) are not the request's and are left out.
 */
#include <jansson.h>

#include "audit/audit.h"
#include "iam/authz.h"

static const char *decision_word(enum decision d)
{
    return d == DECISION_ALLOW ? "allow" : d == DECISION_EXPLICIT_DENY ? "explicit deny" : "implicit deny";
}

static void audit_one(const struct req_ctx *rc, const struct authz_req *ar, const struct eval_result *res)
{
    if (!rc->audit || ar->what_if) return;
    json_t *stmts = json_array();
    for (size_t i = 0; stmts && i < res->nrefs; i++) {
        const struct stmt_ref *s = &res->refs[i];
        json_array_append_new(stmts, json_pack("{s:s, s:s?, s:I, s:s?, s:s}", "kind", policy_type_name(s->type),
                                               "policy", s->policy ? s->policy->name : NULL,
                                               "index", (json_int_t)s->index, "sid", s->sid,
                                               "effect", s->effect == EFFECT_DENY ? "Deny" : "Allow"));
    }
    json_t *d = json_pack("{s:s, s:s, s:s, s:o*}", "action", ar->action, "resource", ar->resource,
                          "decision", decision_word(res->decision), "statements", stmts);
    if (d && res->decision == DECISION_IMPLICIT_DENY)
        json_object_set_new(d, "missing", json_string(policy_type_name(res->deny_type)));
    if (d) audit_req_note(rc->audit, d, rc->via_service != NULL, ar->resource);
}

void iam_authz_audit_enable(void)
{
    iam_authz_observe_result(audit_one);
}
