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
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "http/op.h"
#include "iam/authz.h"
#include "iam/policy.h"

#define MAX_CTX 32

static const struct cli_opt policy_opts[] = {
    { "principal", 'p', "ARN", NULL, NULL,
      "who asks: arn:aws:iam::A:root, a user ARN, or a role ARN (evaluated as a session of the role)" },
    { "action", 'a', "ACTION", NULL, NULL, "what is asked, such as kms:Decrypt or sts:AssumeRole" },
    { "resource", 'r', "ARN", NULL, "*",
      "on what: a KMS key ARN brings in the key policy, a role ARN with sts:AssumeRole the trust policy" },
    { "context", 'c', "KEY=VALUE", NULL, NULL,
      "a request context key added or overridden, such as kms:EncryptionContext:app=web; repeat it, "
      "up to 32 times" },
    { "format", 'f', "FORMAT", NULL, "text", "text or json" },
    { "data-dir", 'd', "DIR", "TRESOR_DATA_DIR", "./tresor-data", "the data dir of the store" },
    { "region", 'g', "REGION", "TRESOR_REGION", "us-east-1", "the region of the request" },
    { 0 },
};

static const struct cli_cmd policy_cmd = {
    "policy simulate",
    "--principal ARN --action ACTION [--resource ARN] [--context KEY=VALUE ...] "
    "[--format text|json] [--data-dir DIR] [--region REGION]",
    "Evaluate one request with the server's policy engine, over the store of DIR\n"
    "(the server may be running), and print the decision (allowed, implicitDeny\n"
    "or explicitDeny) with the statements that decided it.\n",
    policy_opts,
    "Exit status: 0 allowed, 1 denied, 2 usage or lookup error.\n", NULL,
};

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
        tr_result r = policy_cache_get_stored(k.policy, strlen(k.policy), POLICY_KEY, k.arn, pol);
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
        tr_result r = trust ? policy_cache_get_stored(trust, strlen(trust), POLICY_TRUST, e.arn, pol)
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
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        cli_help(stdout, &policy_cmd);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "simulate") != 0) {    /* the one policy command */
        if (argc < 2) fprintf(stderr, "tresor policy: missing command 'simulate'\n");
        else fprintf(stderr, "tresor policy: unknown command '%s'\n", argv[1]);
        cli_synopsis(stderr, &policy_cmd);
        return 2;
    }
    const char *data_dir = env_or("TRESOR_DATA_DIR", "./tresor-data");
    const char *region = env_or("TRESOR_REGION", "us-east-1");
    const char *principal = NULL, *action = NULL, *resource = "*", *format = "text";
    const char *ctx_kv[MAX_CTX];
    size_t nctx = 0;
    struct cli_parser p;
    int c;
    cli_parser_init(&p, &policy_cmd, argc - 1, argv + 1);
    while ((c = cli_next(&p)) > 0) {
        switch (c) {
        case 'p': principal = optarg; break;
        case 'a': action = optarg; break;
        case 'r': resource = optarg; break;
        case 'c':
            if (!strchr(optarg, '='))
                return cli_usage_error(NULL, &policy_cmd, "--context must be KEY=VALUE, not '%s'", optarg);
            if (nctx >= MAX_CTX)
                return cli_usage_error(NULL, &policy_cmd, "--context: at most %d of them", MAX_CTX);
            ctx_kv[nctx++] = optarg;
            break;
        case 'f': format = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'g': region = optarg; break;
        }
    }
    if (c < 0) return cli_exit(c);
    if (optind < argc - 1)
        return cli_usage_error(NULL, &policy_cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (!principal) return cli_usage_error(NULL, &policy_cmd, "--principal is required");
    if (!action) return cli_usage_error(NULL, &policy_cmd, "--action is required");
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
        return cli_usage_error(NULL, &policy_cmd, "--format must be text or json, not '%s'", format);

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
        /* A KMS key's tags and aliases are for IAM policies only, as the
         * server decides them (kms/authz.c). */
        for (size_t j = 0; j < extra.n && strncmp(label, "key-policy:", 11) == 0; j++)
            if (strcasecmp(extra.e[j].key, key) == 0 &&
                (strncasecmp(key, "aws:ResourceTag/", 16) == 0 ||
                 strcasecmp(key, "kms:ResourceAliases") == 0))
                extra.e[j].identity_only = true;
    }
    struct named_policy np = { .p = pol, .name = label };
    struct authz_req ar = {
        .action = action, .resource = resource, .resource_account = account,
        .resource_policy = pol ? &np : NULL, .mode = mode,
        .extra = extra.e, .nextra = extra.n, .no_fail = true,
    };
    struct eval_result res;
    if (tr_failed(iam_authorize(&rc_, &ar, &res))) { rc = die("evaluate"); goto out; }
    char msg[1024] = "";
    if (res.decision != DECISION_ALLOW) {
        struct eval_request er = {
            .who = { .type = (enum eval_principal_type)rc_.who.type, .arn = rc_.who.arn,
                     .account = rc_.who.account_id, .role_arn = rc_.who.role_arn[0] ? rc_.who.role_arn : NULL },
            .action = action, .resource = resource, .resource_account = account,
        };
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
