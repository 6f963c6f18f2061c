/*
 * policy.c -- `tresor policy simulate`: ask the server's own policy engine
 * whether a principal may perform an action on a resource, and which
 * statements decide.  Reads the store (the server may be running) and
 * evaluates exactly as a request would be evaluated: the principal's
 * identity policies, boundary and session policies, plus the resource's
 * policy when the resource has one (a KMS key's key policy; a role's trust
 * policy for sts:AssumeRole).  Context keys given with --context are added
 * to (or override) the request context.
 *
 * Exit status: 0 allowed, 1 denied, 2 usage or lookup error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "http/op.h"
#include "iam/authz.h"
#include "iam/policy.h"

#define MAX_CTX 32

static void usage(FILE *f)
{
    fprintf(f,
        "usage: tresor policy simulate --principal ARN --action ACTION [--resource ARN]\n"
        "                              [--context KEY=VALUE ...] [--format text|json]\n"
        "                              [--data-dir DIR] [--region REGION]\n"
        "\n"
        "Evaluate one request with the policy engine and print the decision\n"
        "(allowed, implicitDeny or explicitDeny) with the deciding statements.\n"
        "PRINCIPAL: arn:aws:iam::A:root, a user ARN, or a role ARN (evaluated as a\n"
        "session of the role).  RESOURCE defaults to \"*\"; a KMS key ARN brings in\n"
        "the key policy, a role ARN with sts:AssumeRole the trust policy.\n"
        "Exit status: 0 allowed, 1 denied, 2 error.\n");
}

/* The resource's own policy, if it has one the engine must consider. */
static int resource_policy(store_t st, const char *action, const char *resource,
                           struct policy **pol, enum resource_mode *mode, char *account,
                           char *label, size_t label_len)
{
    *pol = NULL;
    *mode = RES_NONE;
    char region[64], acct[16], key_id[64];
    if (sscanf(resource, "arn:aws:kms:%63[^:]:%15[^:]:key/%63s", region, acct, key_id) == 3) {
        struct key_rec k = { 0 };
        if (tr_failed(st[0]->key_get(st, key_id, &k))) {
            fprintf(stderr, "tresor policy simulate: no key %s\n", resource);
            return 2;
        }
        tr_result r = policy_cache_get_bound(k.policy, strlen(k.policy), POLICY_KEY, k.policy_ids, pol);
        snprintf(account, 13, "%s", k.account_id);
        key_rec_free(&k);
        if (tr_failed(r)) return die("key policy");
        *mode = RES_REQUIRED;
        snprintf(label, label_len, "key-policy:%s", resource);
        return 0;
    }
    if (strncasecmp(action, "sts:AssumeRole", 14) == 0 && strstr(resource, ":role/")) {
        struct ent_rec e = { 0 };
        if (tr_failed(st[0]->ent_get_arn(st, "role", resource, &e))) {
            fprintf(stderr, "tresor policy simulate: no role %s\n", resource);
            return 2;
        }
        json_t *doc = json_loads(e.doc ? e.doc : "{}", 0, NULL);
        const char *trust = json_string_value(json_object_get(doc, "trust"));
        const char *ids = json_string_value(json_object_get(doc, "trust_ids"));
        tr_result r = trust ? policy_cache_get_bound(trust, strlen(trust), POLICY_TRUST, ids, pol)
                            : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "role has no trust policy");
        snprintf(account, 13, "%s", e.account_id);
        json_decref(doc);
        ent_rec_free(&e);
        if (tr_failed(r)) return die("trust policy");
        *mode = RES_REQUIRED;
        snprintf(label, label_len, "trust:%s", resource);
        return 0;
    }
    return 0;
}

static const char *decision_word(enum decision d)
{
    return d == DECISION_ALLOW ? "allowed" : d == DECISION_EXPLICIT_DENY ? "explicitDeny" : "implicitDeny";
}

static const char *type_word(enum policy_type_word t)
{
    switch (t) {
    case PT_IDENTITY: return "identity";
    case PT_RESOURCE: return "resource";
    case PT_BOUNDARY: return "boundary";
    case PT_SESSION: return "session";
    default: return "";
    }
}

static void print_result(const struct eval_result *res, const char *msg, bool json_out,
                         const struct principal *who, const char *action, const char *resource)
{
    if (json_out) {
        json_t *o = json_object(), *arr = json_array(), *conds = json_array();
        json_object_set_new(o, "decision", json_string(decision_word(res->decision)));
        json_object_set_new(o, "principal", json_string(who->arn));
        json_object_set_new(o, "action", json_string(action));
        json_object_set_new(o, "resource", json_string(resource));
        for (size_t i = 0; i < res->nrefs; i++) {
            const struct stmt_ref *s = &res->refs[i];
            json_t *e = json_object();
            json_object_set_new(e, "policy", json_string(s->policy ? s->policy->name : ""));
            json_object_set_new(e, "index", json_integer((json_int_t)s->index));
            json_object_set_new(e, "sid", s->sid ? json_string(s->sid) : json_null());
            json_object_set_new(e, "effect", json_string(s->effect == EFFECT_DENY ? "Deny" : "Allow"));
            json_object_set_new(e, "type", json_string(type_word(s->type)));
            json_array_append_new(arr, e);
        }
        for (size_t i = 0; i < res->ncond_refs; i++) {
            const struct stmt_ref *s = &res->cond_refs[i];
            json_t *e = json_object();
            json_object_set_new(e, "policy", json_string(s->policy ? s->policy->name : ""));
            json_object_set_new(e, "index", json_integer((json_int_t)s->index));
            json_array_append_new(conds, e);
        }
        json_object_set_new(o, "matchedStatements", arr);
        json_object_set_new(o, "conditional", json_boolean(res->conditional));
        json_object_set_new(o, "conditionalStatements", conds);
        if (res->decision != DECISION_ALLOW) {
            json_object_set_new(o, "denyType", json_string(type_word(res->deny_type)));
            json_object_set_new(o, "message", json_string(msg));
        }
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s) { puts(s); free(s); }
        json_decref(o);
        return;
    }
    printf("decision:  %s\nprincipal: %s\naction:    %s\nresource:  %s\n",
           decision_word(res->decision), who->arn, action, resource);
    if (res->decision != DECISION_ALLOW) printf("why:       %s\n", msg);
    if (res->nrefs) printf("deciding statements:\n");
    for (size_t i = 0; i < res->nrefs; i++) {
        const struct stmt_ref *s = &res->refs[i];
        printf("  %-5s %-9s %s statement %zu%s%s%s\n", s->effect == EFFECT_DENY ? "Deny" : "Allow",
               type_word(s->type), s->policy ? s->policy->name : "?", s->index,
               s->sid ? " (Sid " : "", s->sid ? s->sid : "", s->sid ? ")" : "");
    }
    if (res->conditional)
        printf("note: the decision holds only if the conditions of %zu statement(s) hold\n",
               res->ncond_refs);
}

int cmd_policy(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "simulate") != 0) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    const char *data_dir = env_or("TRESOR_DATA_DIR", "./tresor-data");
    const char *region = env_or("TRESOR_REGION", "us-east-1");
    const char *principal = NULL, *action = NULL, *resource = "*", *format = "text";
    const char *ctx_kv[MAX_CTX];
    size_t nctx = 0;
    static const struct option lo[] = {
        { "principal", required_argument, 0, 'p' },
        { "action", required_argument, 0, 'a' },
        { "resource", required_argument, 0, 'r' },
        { "context", required_argument, 0, 'c' },
        { "format", required_argument, 0, 'f' },
        { "data-dir", required_argument, 0, 'd' },
        { "region", required_argument, 0, 'g' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'p': principal = optarg; break;
        case 'a': action = optarg; break;
        case 'r': resource = optarg; break;
        case 'c':
            if (nctx >= MAX_CTX || !strchr(optarg, '=')) { usage(stderr); return 2; }
            ctx_kv[nctx++] = optarg;
            break;
        case 'f': format = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'g': region = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!principal || !action || (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)) {
        usage(stderr);
        return 2;
    }

    char dir[PATH_MAX];
    struct keyring *kr;
    store_t st;
    if (open_data_dir(data_dir, dir, &kr, &st)) return 2;

    int rc = 2;
    struct policy *pol = NULL;
    struct req_ctx rc_ = { 0 };
    struct server_env env = { .st = st, .kr = kr, .default_region = region };
    struct ctx_builder extra = { 0 };
    char account[16] = "", label[600] = "";
    enum resource_mode mode;

    rc_.env = &env;
    rc_.st = st;
    rc_.kr = kr;
    rc_.now = tr_now();
    snprintf(rc_.region, sizeof rc_.region, "%s", region);
    snprintf(rc_.service, sizeof rc_.service, "%.*s", (int)strcspn(action, ":"), action);
    if (tr_failed(iam_principal_from_arn(st, principal, &rc_.who))) {
        fprintf(stderr, "tresor policy simulate: unknown principal %s\n", principal);
        goto out;
    }
    if (resource_policy(st, action, resource, &pol, &mode, account, label, sizeof label)) goto out;
    if (!account[0]) snprintf(account, sizeof account, "%s", rc_.who.account_id);

    for (size_t i = 0; i < nctx; i++) {
        char key[256];
        const char *eq = strchr(ctx_kv[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - ctx_kv[i]), ctx_kv[i]);
        if (tr_failed(iam_ctx_add(&extra, key, eq + 1))) { rc = die("context"); goto out; }
    }
    struct named_policy np = { .p = pol, .name = label };
    struct authz_req ar = {
        .action = action, .resource = resource, .resource_account = account,
        .resource_policy = pol ? &np : NULL, .mode = mode,
        .extra = extra.e, .nextra = extra.n, .no_fail = true,
    };
    struct eval_result res;
    if (tr_failed(iam_authorize(&rc_, &ar, &res))) { rc = die("evaluate"); goto out; }
    char msg[TR_ERR_MSG_MAX] = "";
    if (res.decision != DECISION_ALLOW) {
        struct eval_request er = {
            .action = action, .resource = resource, .resource_account = account,
        };
        iam_eval_principal(&rc_.who, &er.who);
        policy_denied_message(&er, &res, resource, msg, sizeof msg);
    }
    print_result(&res, msg, strcmp(format, "json") == 0, &rc_.who, action, resource);
    rc = res.decision == DECISION_ALLOW ? 0 : 1;
out:
    iam_ctx_free(&extra);
    iam_identity_release(&rc_);
    if (pol) policy_unref(pol);
    close_data_dir(kr, st);
    return rc;
}
