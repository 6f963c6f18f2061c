/*
 * simulate.c -- IAM's policy simulator API, answered by tresor's own
 * engine: SimulateCustomPolicy, SimulatePrincipalPolicy,
 * GetContextKeysForCustomPolicy and GetContextKeysForPrincipalPolicy.
 *
 * The decisions are policy_evaluate's, the code every request and
 * `tresor policy simulate` use (docs/AUTHORIZATION.md 2); this file only
 * gathers the policies, builds the request and writes the reply in the
 * botocore model's shapes (SimulatePolicyResponse,
 * GetContextKeysForPolicyResponse).  docs/AUTHORIZATION.md 7.2 is the
 * user's description, with the choices made where AWS says nothing.
 *
 *  - The policies: PolicyInputList (identity policies), the principal's
 *    own for SimulatePrincipalPolicy (a user's inline, attached and its
 *    groups' policies; a group's or a role's inline and attached), one
 *    permissions boundary (PermissionsBoundaryPolicyInputList, else the
 *    principal's), and ResourcePolicy (Secrets Manager's rule: either
 *    side allows in the same account, both across accounts).  Documents
 *    given are validated as IAM validates them (InvalidInput with the
 *    engine's message); stored ones go through policy_cache_get_stored.
 *  - The request: the action, the resource (each of ResourceArns, or
 *    "*"), the caller (CallerArn, else the user of PolicySourceArn), the
 *    resource's account (ResourceOwner, else the resource ARN's, else the
 *    caller's), and only the context keys of ContextEntries -- the
 *    simulator adds no key of its own.
 *  - The reply, one EvaluationResult per action and resource (in that
 *    order, paged by MaxItems and Marker): the decision; the statements
 *    that decided it (the engine's refs) with their positions in the
 *    document's text (policy_text.c); the condition keys the statements
 *    covering the action read that ContextEntries did not give; the
 *    boundary's own decision; per-side decisions for a resource policy
 *    across accounts.
 */
#include "iam/iam_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "iam/context.h"
#include "iam/iam_util.h"
#include "iam/identity.h"
#include "iam/policy.h"
#include "iam/policy_text.h"

#define SIM_POLICY_MAX 131072     /* policyDocumentType */
#define SIM_REL_PAGE 256

/* One policy of a simulation, with what the reply says of it. */
struct sim_pol {
    char *text;                   /* owned */
    struct policy *p;             /* a reference */
    char *id;                     /* SourcePolicyId, owned */
    const char *type;             /* SourcePolicyType */
    struct stmt_span *spans;      /* statement positions; NULL when unknown */
    size_t nspans;
};

struct sim {
    struct sim_pol *pol;          /* identity policies */
    size_t npol, cap;
    struct sim_pol boundary, resource;
    bool has_boundary, has_resource;
    struct named_policy *np, bnp, rnp;
    const char *actions[FORM_MAX_PARAMS];
    size_t nactions;
    const char *resources[FORM_MAX_PARAMS];
    size_t nresources;
    bool resources_given;
    struct ctx_builder *cb;
    const char *caller_arn;       /* "" when none */
    const char *caller_id;        /* the caller's unique id, or NULL */
    char caller_account[ACCOUNT_ID_LEN + 1];
    char owner[ACCOUNT_ID_LEN + 1];
    char marker[24];
};

/* The condition keys gathered for a reply: de-duplicated without regard
 * to case (as keys match), the first spelling kept. */
struct key_set {
    char **v;
    size_t n, cap;
    const struct ctx_builder *given;   /* non-NULL: leave out the keys it has */
};

/* ---- policies ------------------------------------------------------------- */

static void pol_free(struct sim_pol *sp)
{
    free(sp->text);
    free(sp->id);
    free(sp->spans);
    if (sp->p) policy_unref(sp->p);
    memset(sp, 0, sizeof *sp);
}

static void sim_free(struct sim *s)
{
    for (size_t i = 0; i < s->npol; i++) pol_free(&s->pol[i]);
    free(s->pol);
    free(s->np);
    pol_free(&s->boundary);
    pol_free(&s->resource);
    if (s->cb) iam_ctx_free(s->cb);
    free(s->cb);
}

/* Statement positions of sp's text; none when the text is not a policy
 * the cursor can walk (a stored document that no longer compiles). */
static TR_RESULT pol_spans(struct sim_pol *sp)
{
    size_t n = 0, len = strlen(sp->text);
    if (tr_failed(policy_text_spans(sp->text, len, NULL, 0, &n))) {
        tr_clear_error();
        return TR_OK;
    }
    sp->spans = calloc(n ? n : 1, sizeof *sp->spans);
    ENSURE(sp->spans != NULL, TR_E_INTERNAL);
    sp->nspans = n;
    return policy_text_spans(sp->text, len, sp->spans, n, &n);
}

/* Fill sp from a document: `given` (a parameter: validated, a malformed
 * one is InvalidInput with the engine's message) or stored (compiled
 * under the fail-closed rule).  label: the parameter's name, for the
 * character check. */
static TR_RESULT pol_set(struct sim_pol *sp, const char *text, enum policy_kind kind, bool given,
                         const char *label, const char *id, const char *type)
{
    size_t len = strlen(text);
    memset(sp, 0, sizeof *sp);
    sp->type = type;
    sp->text = strdup(text);
    sp->id = strdup(id);
    ENSURE(sp->text && sp->id, TR_E_INTERNAL);
    if (given) {
        if (len < 1 || len > SIM_POLICY_MAX)
            return iam_invalid(label, text, len < 1 ? "Member must have length greater than or equal to 1"
                                                    : "Member must have length less than or equal to 131072");
        GUARD(iam_check_document_chars(label, text));
        tr_result r = policy_compile(text, len, kind, &sp->p);
        if (tr_failed(r) && tr_code(r) == TR_E_POLICY_MALFORMED) {
            char msg[TR_ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", tr_last_error()->message);     /* fits: a message, as large */
            BAIL(TR_E_IAM_INVALID_INPUT, "%s", msg);
        }
        GUARD(r);
        return pol_spans(sp);
    }
    /* A stored document that no longer compiles is one Deny of everything
     * (policy_cache_get_stored, the one rule for stored policies, which
     * such a document always reaches); that statement has no place in
     * the text, so it gets no position. */
    tr_result r = policy_cache_get(text, len, kind, &sp->p);
    if (tr_ok(r)) return pol_spans(sp);
    if (tr_code(r) != TR_E_POLICY_MALFORMED) return r;
    tr_clear_error();
    return policy_cache_get_stored(text, len, kind, NULL, id, &sp->p);
}

static TR_RESULT sim_push(struct sim *s, struct sim_pol **out)
{
    if (s->npol == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct sim_pol *v = realloc(s->pol, cap * sizeof *v);
        ENSURE(v != NULL, TR_E_INTERNAL);
        s->pol = v;
        s->cap = cap;
    }
    *out = &s->pol[s->npol++];
    memset(*out, 0, sizeof **out);
    return TR_OK;
}

/* PolicyInputList.member.N, each as "PolicyInputList.N". */
static TR_RESULT given_policies(struct sim *s, const struct form *in, bool required)
{
    const char *docs[FORM_MAX_PARAMS];
    size_t n = form_list(in, "PolicyInputList", docs, FORM_MAX_PARAMS);
    if (n == 0 && required) return iam_invalid_repr("policyInputList", "null", "Member must not be null");
    for (size_t i = 0; i < n; i++) {
        char id[48];
        struct sim_pol *sp;
        snprintf(id, sizeof id, "PolicyInputList.%zu", i + 1);    /* fits: 16 + 20 digits */
        GUARD(sim_push(s, &sp));
        GUARD(pol_set(sp, docs[i], POLICY_IDENTITY, true, "policyInputList", id, "IAM Policy"));
    }
    const char *b[2];
    size_t nb = form_list(in, "PermissionsBoundaryPolicyInputList", b, 2);
    if (nb > 1)
        BAIL(TR_E_IAM_INVALID_INPUT, "Only one permissions boundary policy may be specified.");
    if (nb == 1) {
        if (s->has_boundary) pol_free(&s->boundary);
        s->has_boundary = true;
        GUARD(pol_set(&s->boundary, b[0], POLICY_IDENTITY, true, "permissionsBoundaryPolicyInputList",
                      "PermissionsBoundaryPolicyInputList.1", "IAM Policy"));
    }
    return TR_OK;
}

/* ---- the principal's policies (SimulatePrincipalPolicy) ------------------- */

static const char *managed_type(const char *arn)
{
    return strncmp(arn, "arn:aws:iam::aws:", 17) == 0 ? "aws-managed" : "user-managed";
}

/* The inline and attached policies of a user, group or role; type: the
 * SourcePolicyType of its inline ones. */
static TR_RESULT entity_policies(struct sim *s, store_t st, const char *arn, const char *type)
{
    static const char *const kinds[] = { "inline", "attached" };
    for (size_t k = 0; k < 2; k++) {
        struct rel_rec *v = NULL;
        size_t n = 0;
        tr_result r = st[0]->rel_list_from(st, kinds[k], arn, NULL, IAM_ALL, &v, &n);
        for (size_t i = 0; tr_ok(r) && i < n; i++) {
            struct sim_pol *sp;
            char *text = NULL;
            r = sim_push(s, &sp);
            if (tr_ok(r) && k == 0) {
                r = pol_set(sp, v[i].doc ? v[i].doc : "", POLICY_IDENTITY, false, NULL, v[i].to, type);
                continue;
            }
            if (tr_ok(r)) r = iam_managed_document(st, v[i].to, &text);
            if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {   /* gone meanwhile: skipped */
                tr_clear_error();
                s->npol--;
                r = TR_OK;
                continue;
            }
            if (tr_ok(r)) r = pol_set(sp, text, POLICY_IDENTITY, false, NULL, v[i].to, managed_type(v[i].to));
            free(text);
        }
        rel_list_free(v, n);
        GUARD(r);
    }
    return TR_OK;
}

/* The entity PolicySourceArn names, with its policies and boundary; the
 * caller defaults to a user source. */
static TR_RESULT principal_policies(struct req_ctx *rc, struct sim *s, const char *arn,
                                    struct ent_rec *e)
{
    static const struct { const char *prefix, *kind; } KINDS[] = {
        { "user/", IAM_USER }, { "group/", IAM_GROUP }, { "role/", IAM_ROLE },
    };
    const char *kind = NULL, *res = NULL;
    if (strncmp(arn, "arn:aws:iam::", 13) == 0 && (res = strchr(arn + 13, ':')) != NULL)
        for (size_t i = 0; i < 3; i++)
            if (strncmp(res + 1, KINDS[i].prefix, strlen(KINDS[i].prefix)) == 0) kind = KINDS[i].kind;
    if (!kind) BAIL(TR_E_IAM_INVALID_INPUT, "Invalid ARN: %s", arn);
    tr_result r = rc->st[0]->ent_get_arn(rc->st, kind, arn, e);
    if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND)
        BAIL(TR_E_IAM_NO_SUCH_ENTITY, "The %s with name %s cannot be found.", kind, iam_arn_name(arn));
    GUARD(r);
    GUARD(iam_authz(rc, rc->op->action, e->arn, strcmp(kind, IAM_GROUP) != 0 ? e : NULL, NULL));
    GUARD(entity_policies(s, rc->st, e->arn, kind));
    if (strcmp(kind, IAM_USER) == 0) {
        struct rel_rec *g = NULL;
        size_t ng = 0;
        r = rc->st[0]->rel_list_to(rc->st, "member", e->arn, &g, &ng);
        for (size_t i = 0; tr_ok(r) && i < ng; i++) r = entity_policies(s, rc->st, g[i].from, "group");
        rel_list_free(g, ng);
        GUARD(r);
        s->caller_arn = e->arn;
        s->caller_id = e->id;
    }
    char b[IAM_ARN_MAX];
    GUARD(iam_boundary_of(e, b));
    if (b[0]) {
        char *text = NULL;
        r = iam_managed_document(rc->st, b, &text);
        if (tr_failed(r) && tr_code(r) == TR_E_STORE_NOT_FOUND) {
            tr_clear_error();
            return TR_OK;
        }
        GUARD(r);
        s->has_boundary = true;
        r = pol_set(&s->boundary, text, POLICY_IDENTITY, false, NULL, b, managed_type(b));
        free(text);
        GUARD(r);
    }
    GUARD(str_copy(s->caller_account, sizeof s->caller_account, e->account_id, "the account"));
    return TR_OK;
}

/* ---- the request ---------------------------------------------------------- */

static const char *const KEY_TYPES[] = {
    "string", "stringList", "numeric", "numericList", "boolean", "booleanList",
    "ip", "ipList", "binary", "binaryList", "date", "dateList",
};

/* ContextEntries.member.N: ContextKeyName, ContextKeyValues, ContextKeyType. */
static TR_RESULT context_entries(struct sim *s, const struct form *in)
{
    s->cb = calloc(1, sizeof *s->cb);
    ENSURE(s->cb != NULL, TR_E_INTERNAL);
    for (size_t i = 1;; i++) {
        char kn[64], kv[64], kt[64], label[64];
        snprintf(kn, sizeof kn, "ContextEntries.member.%zu.ContextKeyName", i);   /* fits: 64 */
        snprintf(kv, sizeof kv, "ContextEntries.member.%zu.ContextKeyValues", i); /* fits: 64 */
        snprintf(kt, sizeof kt, "ContextEntries.member.%zu.ContextKeyType", i);   /* fits: 64 */
        const char *name = form_get(in, kn), *type = form_get(in, kt), *vals[FORM_MAX_PARAMS];
        size_t n = form_list(in, kv, vals, FORM_MAX_PARAMS);
        if (!name && !type && n == 0) break;
        snprintf(label, sizeof label, "contextEntries.%zu.member.contextKeyName", i);  /* fits: 64 */
        if (!name) return iam_invalid_repr(label, "null", "Member must not be null");
        size_t len = strlen(name);
        if (len < 5) return iam_invalid(label, name, "Member must have length greater than or equal to 5");
        if (len > 256) return iam_invalid(label, name, "Member must have length less than or equal to 256");
        bool list = n != 1;
        if (type) {
            size_t t = 0;
            while (t < sizeof KEY_TYPES / sizeof KEY_TYPES[0] && strcmp(KEY_TYPES[t], type) != 0) t++;
            snprintf(label, sizeof label, "contextEntries.%zu.member.contextKeyType", i);  /* fits: 64 */
            if (t == sizeof KEY_TYPES / sizeof KEY_TYPES[0])
                return iam_invalid(label, type, "Member must satisfy enum value set: [string, stringList, "
                                   "numeric, numericList, boolean, booleanList, ip, ipList, binary, "
                                   "binaryList, date, dateList]");
            list = list || strstr(type, "List") != NULL;
        }
        if (s->cb->n >= CTX_MAX) BAIL(TR_E_IAM_INVALID_INPUT, "Too many context entries.");
        if (list) GUARD(iam_ctx_add_multi(s->cb, name, vals, n));
        else GUARD(iam_ctx_add(s->cb, name, vals[0]));
    }
    return TR_OK;
}

/* The account an ARN names (its fifth field), into out; false when it
 * has none of 12 digits. */
static bool arn_account(const char *arn, char out[ACCOUNT_ID_LEN + 1])
{
    const char *p = arn;
    for (int i = 0; i < 4 && p; i++) p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
    if (!p || strncmp(arn, "arn:", 4) != 0) return false;
    size_t n = strcspn(p, ":");
    if (n != ACCOUNT_ID_LEN || strspn(p, "0123456789") < n) return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* ActionNames, ResourceArns, ResourcePolicy, ResourceOwner, CallerArn,
 * ContextEntries, ResourceHandlingOption. */
static TR_RESULT request_params(struct req_ctx *rc, struct sim *s, const struct form *in)
{
    const char *caller = NULL, *owner = NULL, *rp = NULL, *rho = NULL;
    s->nactions = form_list(in, "ActionNames", s->actions, FORM_MAX_PARAMS);
    if (s->nactions == 0) return iam_invalid_repr("actionNames", "null", "Member must not be null");
    for (size_t i = 0; i < s->nactions; i++) {
        size_t len = strlen(s->actions[i]);
        if (len < 3)
            return iam_invalid("actionNames", s->actions[i], "Member must have length greater than or equal to 3");
        if (len > 128)
            return iam_invalid("actionNames", s->actions[i], "Member must have length less than or equal to 128");
    }
    s->nresources = form_list(in, "ResourceArns", s->resources, FORM_MAX_PARAMS);
    s->resources_given = s->nresources > 0;
    for (size_t i = 0; i < s->nresources; i++)
        if (strlen(s->resources[i]) > 2048)
            return iam_invalid("resourceArns", s->resources[i], "Member must have length less than or equal to 2048");
    if (!s->resources_given) {
        s->resources[0] = "*";
        s->nresources = 1;
    }
    GUARD(form_str(in, "CallerArn", false, 1, 2048, &caller));
    GUARD(form_str(in, "ResourceOwner", false, 1, 2048, &owner));
    GUARD(form_str(in, "ResourceHandlingOption", false, 1, 64, &rho));
    GUARD(form_str(in, "ResourcePolicy", false, 1, SIM_POLICY_MAX, &rp));
    if (rp) GUARD(iam_check_document_chars("resourcePolicy", rp));
    if (caller) {
        const char *slash = strchr(caller, '/');
        char acct[ACCOUNT_ID_LEN + 1];
        if (strncmp(caller, "arn:aws:iam::", 13) != 0 || !arn_account(caller, acct) || !slash ||
            strncmp(caller + 13 + ACCOUNT_ID_LEN, ":user/", 6) != 0)
            BAIL(TR_E_IAM_INVALID_INPUT, "Invalid CallerArn: %s. It must be the ARN of an IAM user.", caller);
        s->caller_arn = caller;
        s->caller_id = NULL;
        GUARD(str_copy(s->caller_account, sizeof s->caller_account, acct, "the account"));
    }
    if (!s->caller_account[0])
        GUARD(str_copy(s->caller_account, sizeof s->caller_account, rc->who.account_id, "the account"));
    if (owner) {
        bool digits = strlen(owner) == ACCOUNT_ID_LEN && strspn(owner, "0123456789") == ACCOUNT_ID_LEN;
        if (digits) GUARD(str_copy(s->owner, sizeof s->owner, owner, "the account"));
        else if (!arn_account(owner, s->owner))
            BAIL(TR_E_IAM_INVALID_INPUT, "Invalid ResourceOwner: %s", owner);
    }
    if (rp) {
        if (!s->caller_arn)
            BAIL(TR_E_IAM_INVALID_INPUT, "CallerArn is required when ResourcePolicy is specified and "
                                         "PolicySourceArn is not the ARN of an IAM user.");
        s->has_resource = true;
        GUARD(pol_set(&s->resource, rp, POLICY_RESOURCE, true, "resourcePolicy", "ResourcePolicy",
                      "resource"));
    }
    if (!s->caller_arn) s->caller_arn = "";
    return context_entries(s, in);
}

/* The engine's view of the policies, once they are all loaded. */
static TR_RESULT named_policies(struct sim *s)
{
    s->np = calloc(s->npol ? s->npol : 1, sizeof *s->np);
    ENSURE(s->np != NULL, TR_E_INTERNAL);
    for (size_t i = 0; i < s->npol; i++) s->np[i] = (struct named_policy){ s->pol[i].p, s->pol[i].id };
    s->bnp = (struct named_policy){ s->boundary.p, s->boundary.id };
    s->rnp = (struct named_policy){ s->resource.p, s->resource.id };
    return TR_OK;
}

/* ---- deciding ------------------------------------------------------------- */

enum side { SIDE_ALL, SIDE_IDENTITY, SIDE_RESOURCE, SIDE_BOUNDARY };

static const char *resource_account(const struct sim *s, const char *resource, char buf[ACCOUNT_ID_LEN + 1])
{
    if (s->owner[0]) return s->owner;
    if (arn_account(resource, buf)) return buf;
    return s->caller_account;
}

static TR_RESULT decide(const struct sim *s, const char *action, const char *resource, enum side side,
                        struct eval_result *out)
{
    char acct[ACCOUNT_ID_LEN + 1];
    struct eval_request rq = {
        .who = { .type = EP_USER, .arn = s->caller_arn, .account = s->caller_account,
                 .unique_id = s->caller_id, .unique_id_len = s->caller_id ? strlen(s->caller_id) : 0 },
        .action = action, .resource = resource,
        .resource_account = resource_account(s, resource, acct),
        .ctx = s->cb->e, .nctx = s->cb->n,
    };
    struct policy_set ps = { .mode = RES_NONE };
    if (side == SIDE_ALL || side == SIDE_IDENTITY) {
        ps.identity = s->np;
        ps.nidentity = s->npol;
        ps.boundary = s->has_boundary ? &s->bnp : NULL;
    }
    if ((side == SIDE_ALL || side == SIDE_RESOURCE) && s->has_resource) {
        ps.resource = &s->rnp;
        ps.mode = RES_UNION;
    }
    if (side == SIDE_BOUNDARY) {
        ps.identity = &s->bnp;
        ps.nidentity = 1;
    }
    if (side != SIDE_ALL) rq.resource_account = s->caller_account;   /* each side on its own */
    return policy_evaluate(&rq, &ps, out);
}

static const char *decision_word(enum decision d)
{
    return d == DECISION_ALLOW ? "allowed" : d == DECISION_EXPLICIT_DENY ? "explicitDeny" : "implicitDeny";
}

static const struct sim_pol *ref_policy(const struct sim *s, const struct stmt_ref *ref)
{
    if (ref->policy >= s->np && ref->policy < s->np + s->npol) return &s->pol[ref->policy - s->np];
    if (ref->policy == &s->bnp) return &s->boundary;
    if (ref->policy == &s->rnp) return &s->resource;
    return NULL;
}

static void xml_pos(struct xml *x, const char *tag, struct text_pos p)
{
    xml_open(x, tag);
    xml_int(x, "Line", p.line);
    xml_int(x, "Column", p.column);
    xml_close(x, tag);
}

static void xml_statements(struct xml *x, const struct sim *s, const struct eval_result *r)
{
    xml_open(x, "MatchedStatements");
    for (size_t i = 0; r->decision != DECISION_IMPLICIT_DENY && i < r->nrefs; i++) {
        const struct sim_pol *sp = ref_policy(s, &r->refs[i]);
        if (!sp) continue;
        xml_open(x, "member");
        xml_text(x, "SourcePolicyId", sp->id);
        xml_text(x, "SourcePolicyType", sp->type);
        if (r->refs[i].index < sp->nspans) {
            xml_pos(x, "StartPosition", sp->spans[r->refs[i].index].start);
            xml_pos(x, "EndPosition", sp->spans[r->refs[i].index].end);
        }
        xml_close(x, "member");
    }
    xml_close(x, "MatchedStatements");
}

/* ---- condition keys ------------------------------------------------------- */

static void keys_free(struct key_set *k)
{
    for (size_t i = 0; i < k->n; i++) free(k->v[i]);
    free(k->v);
    memset(k, 0, sizeof *k);
}

static TR_RESULT key_add(void *arg, const char *key, size_t len)
{
    struct key_set *k = arg;
    for (size_t i = 0; i < k->n; i++)
        if (strlen(k->v[i]) == len && strncasecmp(k->v[i], key, len) == 0) return TR_OK;
    for (size_t i = 0; k->given && i < k->given->n; i++)
        if (strlen(k->given->e[i].key) == len && strncasecmp(k->given->e[i].key, key, len) == 0) return TR_OK;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        char **v = realloc(k->v, cap * sizeof *v);
        ENSURE(v != NULL, TR_E_INTERNAL);
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n] = strndup(key, len);
    ENSURE(k->v[k->n] != NULL, TR_E_INTERNAL);
    k->n++;
    return TR_OK;
}

static TR_RESULT pol_keys(const struct sim_pol *sp, const char *action, struct key_set *k)
{
    return sp->text ? policy_text_keys(sp->text, strlen(sp->text), action, key_add, k) : TR_OK;
}

/* The keys of every policy of s (those covering action, when non-NULL). */
static TR_RESULT sim_keys(const struct sim *s, const char *action, struct key_set *k)
{
    for (size_t i = 0; i < s->npol; i++) GUARD(pol_keys(&s->pol[i], action, k));
    if (s->has_boundary) GUARD(pol_keys(&s->boundary, action, k));
    if (s->has_resource) GUARD(pol_keys(&s->resource, action, k));
    return TR_OK;
}

static void xml_keys(struct xml *x, const char *tag, const struct key_set *k)
{
    xml_open(x, tag);
    for (size_t i = 0; k && i < k->n; i++) xml_text(x, "member", k->v[i]);
    xml_close(x, tag);
}

/* ---- the reply ------------------------------------------------------------ */

/* The details every result and resource-specific result share. */
static TR_RESULT xml_details(struct xml *x, const struct sim *s, const char *action, const char *resource,
                             const struct eval_result *r, const struct key_set *missing)
{
    xml_statements(x, s, r);
    xml_keys(x, "MissingContextValues", missing);
    if (s->has_boundary) {
        struct eval_result b;
        GUARD(decide(s, action, resource, SIDE_BOUNDARY, &b));
        xml_open(x, "PermissionsBoundaryDecisionDetail");
        xml_bool(x, "AllowedByPermissionsBoundary", b.decision == DECISION_ALLOW);
        xml_close(x, "PermissionsBoundaryDecisionDetail");
    }
    if (s->has_resource && strcmp(resource, "*") != 0) {
        char acct[ACCOUNT_ID_LEN + 1];
        bool cross = strcmp(resource_account(s, resource, acct), s->caller_account) != 0;
        xml_open(x, "EvalDecisionDetails");
        for (int side = SIDE_IDENTITY; cross && side <= SIDE_RESOURCE; side++) {
            struct eval_result d;
            GUARD(decide(s, action, resource, (enum side)side, &d));
            xml_open(x, "entry");
            xml_text(x, "key", side == SIDE_IDENTITY ? "IAM Policy" : "Resource Policy");
            xml_text(x, "value", decision_word(d.decision));
            xml_close(x, "entry");
        }
        xml_close(x, "EvalDecisionDetails");
    }
    return TR_OK;
}

static TR_RESULT write_result(struct req_ctx *rc, struct xml *x, void *arg, size_t i, const char **key)
{
    struct sim *s = arg;
    const char *action = s->actions[i / s->nresources], *resource = s->resources[i % s->nresources];
    struct eval_result r;
    struct key_set missing = { .given = s->cb };
    (void)rc;
    GUARD(decide(s, action, resource, SIDE_ALL, &r));
    tr_result e = sim_keys(s, action, &missing);
    xml_open(x, "member");
    xml_text(x, "EvalActionName", action);
    xml_text(x, "EvalResourceName", resource);
    xml_text(x, "EvalDecision", decision_word(r.decision));
    if (tr_ok(e)) e = xml_details(x, s, action, resource, &r, s->resources_given ? NULL : &missing);
    if (tr_ok(e) && s->resources_given) {
        xml_open(x, "ResourceSpecificResults");
        xml_open(x, "member");
        xml_text(x, "EvalResourceName", resource);
        xml_text(x, "EvalResourceDecision", decision_word(r.decision));
        e = xml_details(x, s, action, resource, &r, &missing);
        xml_close(x, "member");
        xml_close(x, "ResourceSpecificResults");
    }
    xml_close(x, "member");
    keys_free(&missing);
    snprintf(s->marker, sizeof s->marker, "%zu", i);     /* fits: 20 digits */
    *key = s->marker;
    return e;
}

/* Every result, paged. */
static TR_RESULT simulate(struct req_ctx *rc, struct sim *s, const struct form *in, struct xml *out)
{
    struct iam_page pg;
    size_t first = 0, total = s->nactions * s->nresources;
    GUARD(iam_page_params(in, &pg));
    if (pg.marker) {
        char *end = NULL;
        unsigned long long m = strtoull(pg.marker, &end, 10);
        if (!end || *end || pg.marker[0] < '0' || pg.marker[0] > '9' || m >= total)
            BAIL(TR_E_IAM_INVALID_INPUT, "Invalid Marker.");
        first = (size_t)m + 1;
    }
    GUARD(named_policies(s));
    return iam_page_write(rc, out, "EvaluationResults", &pg, first, total, write_result, s);
}

/* ---- GetContextKeysFor*Policy --------------------------------------------- */

static TR_RESULT context_keys(struct sim *s, struct xml *out)
{
    struct key_set k = { 0 };
    tr_result r = sim_keys(s, NULL, &k);
    if (tr_ok(r)) xml_keys(out, "ContextKeyNames", &k);
    keys_free(&k);
    return r;
}

/* ---- the four operations -------------------------------------------------- */

/* principal: *PrincipalPolicy (PolicySourceArn, authorized on it), else
 * *CustomPolicy (authorized on "*", PolicyInputList required); sim:
 * Simulate*, else GetContextKeysFor*. */
static TR_RESULT run(struct req_ctx *rc, const struct form *in, struct xml *out, bool principal, bool sim)
{
    struct sim s = { 0 };
    struct ent_rec e = { 0 };
    const char *arn = NULL;
    tr_result r = TR_OK;
    if (principal) {
        r = iam_param_arn(in, "PolicySourceArn", true, &arn);
        if (tr_ok(r)) r = principal_policies(rc, &s, arn, &e);
    } else {
        r = iam_authz(rc, rc->op->action, "*", NULL, NULL);
    }
    if (tr_ok(r)) r = given_policies(&s, in, !principal);
    if (tr_ok(r) && sim) r = request_params(rc, &s, in);
    if (tr_ok(r)) r = sim ? simulate(rc, &s, in, out) : context_keys(&s, out);
    sim_free(&s);
    ent_rec_free(&e);
    return r;
}

TR_RESULT iam_simulate_custom_policy(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return run(rc, in, out, false, true);
}

TR_RESULT iam_simulate_principal_policy(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return run(rc, in, out, true, true);
}

TR_RESULT iam_get_context_keys_for_custom_policy(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return run(rc, in, out, false, false);
}

TR_RESULT iam_get_context_keys_for_principal_policy(struct req_ctx *rc, const struct form *in,
                                                    struct xml *out)
{
    return run(rc, in, out, true, false);
}
