/*
 * dev_test.c -- dev mode (src/dev/): the seed file, reset, and the
 * authentication shortcut of auth/creds.c.
 *
 * Each test starts dev mode in memory (dev_start: random root key, a
 * fresh store with the default account) and drives the seed through
 * dev_seed_apply_json / dev_seed_apply, reset through dev_reset, and
 * authentication through auth_request with requests signed by sigv4_sign.
 *
 * Covered: fixed key id and material (the stored material is the given
 * bytes), aliases, key policy, regions, secrets; every refusal of a bad
 * seed (not an object, unknown section, not a list, bad KeyId, short or
 * non-base64 material, bad Region, bad Aliases/Policy types, a bad alias
 * name, a bad file); policies, users (inline and managed policies, fixed
 * access keys stored wrapped) and roles, with their refusals; the seed's
 * variables ${AccountId} and ${Region} (expanded in every string but the
 * data members, IAM's ${aws:...} left alone, an unknown one refused with
 * the entry named); reset empties the store and re-creates the account
 * and the seed; the region and reset-path predicates; the regions served
 * (--region alone, a --regions list, dev mode's any region and its
 * narrowing); an unknown key is the root (any region, any date), a known
 * key with a wrong secret is refused, and outside dev mode the unknown key
 * is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/creds.h"
#include "auth/sigv4_sign.h"
#include "core/buf.h"
#include "core/secmem.h"
#include "crypto/hash.h"
#include "crypto/keyring.h"
#include "dev/dev.h"
#include "iam/accounts.h"
#include "kms/kms.h"
#include "op/clock.h"
#include "store/store.h"

#define ACCT "000000000000"
#define KEY1 "11111111-2222-3333-4444-555555555555"
#define KEY2 "66666666-7777-8888-9999-000000000000"
/* base64 of bytes 0..31 */
#define MAT "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static struct server_env ENV;

static void ok(tr_result r)
{
    if (tr_failed(r))
        fail_msg("failed: %s: %s", tr_err_type(tr_code(r)),
                 tr_last_error()->has_message ? tr_last_error()->message : "(no message)");
}

static int setup(void **state)
{
    (void)state;
    if (tr_failed(crypto_init())) return -1;
    memset(&ENV, 0, sizeof ENV);
    ENV.default_region = "us-east-1";
    struct dev_opts o = { .account_id = ACCT, .in_memory = true };
    return tr_failed(dev_start(&ENV, &o)) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    dev_stop(&ENV);
    return 0;
}

static tr_result apply(const char *text)
{
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    if (!doc) fail_msg("bad test JSON: %s", err.text);
    tr_result r = dev_seed_apply_json(&ENV, ACCT, doc);
    json_decref(doc);
    return r;
}

static size_t nkeys(const char *region)
{
    struct key_rec *v = NULL;
    size_t n = 0;
    ok(ENV.st[0]->key_list(ENV.st, ACCT, region, NULL, 1000, &v, &n));
    key_list_free(v, n);
    return n;
}

static void test_seed_keys(void **state)
{
    (void)state;
    ok(apply("{\"keys\": ["
             "{\"KeyId\": \"" KEY1 "\", \"Description\": \"seeded\", \"Material\": \"" MAT "\","
             " \"Aliases\": [\"alias/app\", \"alias/other\"]},"
             "{\"KeyId\": \"" KEY2 "\", \"Region\": \"eu-west-1\", \"Policy\": "
             "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Sid\": \"mine\", \"Effect\": \"Allow\","
             " \"Principal\": {\"AWS\": \"arn:aws:iam::" ACCT ":root\"}, \"Action\": \"kms:*\","
             " \"Resource\": \"*\"}]}},"
             "{\"Description\": \"random id and material\"}]}"));
    struct key_rec k;
    ok(kms_key_lookup(ENV.st, KEY1, "us-east-1", &k));
    assert_string_equal(k.region, "us-east-1");
    assert_string_equal(k.description, "seeded");
    assert_string_equal(k.arn, "arn:aws:kms:us-east-1:" ACCT ":key/" KEY1);
    key_rec_free(&k);

    struct buf m = BUF_SECRET(64);
    ok(kms_material_load(ENV.st, ENV.kr, KEY1, 1, &m));
    assert_int_equal(m.len, 32);
    for (unsigned i = 0; i < 32; i++) assert_int_equal(m.data[i], i);
    buf_free(&m);

    struct alias_rec a;
    memset(&a, 0, sizeof a);
    ok(ENV.st[0]->alias_get(ENV.st, ACCT, "us-east-1", "alias/other", &a));
    assert_string_equal(a.target_key_id, KEY1);

    ok(kms_key_lookup(ENV.st, KEY2, "eu-west-1", &k));
    assert_string_equal(k.region, "eu-west-1");
    assert_non_null(strstr(k.policy, "\"mine\""));
    key_rec_free(&k);
    assert_int_equal(nkeys("us-east-1"), 2);
    assert_int_equal(nkeys("eu-west-1"), 1);
}

static void test_seed_secrets(void **state)
{
    (void)state;
    ok(apply("{\"keys\": [{\"KeyId\": \"" KEY1 "\", \"Aliases\": [\"alias/app\"]}],"
             " \"secrets\": [{\"Name\": \"db/password\", \"SecretString\": \"hunter2\","
             " \"KmsKeyId\": \"alias/app\"},"
             " {\"Name\": \"eu\", \"Region\": \"eu-west-1\", \"SecretBinary\": \"AAEC\"}]}"));
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    ok(ENV.st[0]->ent_get(ENV.st, "secret", ACCT, "us-east-1:db/password", &e));
    assert_non_null(strstr(e.arn, "arn:aws:secretsmanager:us-east-1:" ACCT ":secret:db/password-"));
    /* The value is sealed, never stored in the clear. */
    assert_null(strstr(e.doc, "hunter2"));
    ent_rec_free(&e);
    memset(&e, 0, sizeof e);
    ok(ENV.st[0]->ent_get(ENV.st, "secret", ACCT, "eu-west-1:eu", &e));
    ent_rec_free(&e);
}

static void refused(const char *text, const char *words)
{
    tr_result r = apply(text);
    assert_true(tr_failed(r));
    if (!strstr(tr_last_error()->message, words))
        fail_msg("'%s' not in '%s'", words, tr_last_error()->message);
}

static void test_seed_refusals(void **state)
{
    (void)state;
    refused("[]", "JSON object");
    refused("{\"groups\": []}", "unknown section");
    refused("{\"keys\": {}}", "must be a list");
    refused("{\"keys\": [1]}", "must be an object");
    refused("{\"keys\": [{\"KeyId\": \"nope\"}]}", "KeyId");
    refused("{\"keys\": [{\"KeyId\": 7}]}", "KeyId");
    refused("{\"keys\": [{\"Material\": \"c2hvcnQ=\"}]}", "32 bytes");
    refused("{\"keys\": [{\"Material\": \"!!!!\"}]}", "32 bytes");
    refused("{\"keys\": [{\"Material\": 5}]}", "32 bytes");
    refused("{\"keys\": [{\"Region\": \"moon\"}]}", "Region");
    refused("{\"keys\": [{\"Aliases\": \"alias/x\"}]}", "Aliases");
    refused("{\"keys\": [{\"Policy\": 3}]}", "Policy");
    tr_result r = apply("{\"keys\": [{\"Aliases\": [\"not-an-alias\"]}]}");
    assert_true(tr_failed(r));
    r = apply("{\"secrets\": [{\"SecretString\": \"no name\"}]}");
    assert_true(tr_failed(r));
    r = dev_seed_apply(&ENV, ACCT, "/nonexistent/seed.json");
    assert_true(tr_failed(r));
    assert_non_null(strstr(tr_last_error()->message, "seed /nonexistent/seed.json"));
}

static void test_seed_file_and_reset(void **state)
{
    (void)state;
    char path[] = "/tmp/tresor-dev-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char doc[] = "{\"keys\": [{\"KeyId\": \"" KEY1 "\", \"Material\": \"" MAT "\"}]}";
    assert_int_equal(write(fd, doc, sizeof doc - 1), (ssize_t)(sizeof doc - 1));
    close(fd);

    /* A server started with the seed, then reset: the seed comes back,
     * what was made since does not. */
    dev_stop(&ENV);
    memset(&ENV, 0, sizeof ENV);
    ENV.default_region = "us-east-1";
    struct dev_opts o = { .account_id = ACCT, .seed_path = path, .in_memory = true };
    ok(dev_start(&ENV, &o));
    assert_string_equal(dev_account(ENV.dev->state), ACCT);
    assert_int_equal(nkeys("us-east-1"), 1);
    ok(apply("{\"keys\": [{}, {\"Region\": \"ap-south-1\"}]}"));
    assert_int_equal(nkeys("us-east-1"), 2);
    store_t before = ENV.st;
    ok(dev_reset(ENV.dev->state));
    assert_ptr_not_equal(ENV.st, before);
    assert_int_equal(nkeys("us-east-1"), 1);
    assert_int_equal(nkeys("ap-south-1"), 0);
    struct account_rec a;
    ok(ENV.st[0]->account_first(ENV.st, &a));
    assert_string_equal(a.id, ACCT);
    struct buf m = BUF_SECRET(64);
    ok(kms_material_load(ENV.st, ENV.kr, KEY1, 1, &m));
    assert_int_equal(m.data[31], 31);
    buf_free(&m);
    unlink(path);
}


#define AKID "AKIASEEDEDALICE00001"
#define SECRET "alice-secret-alice-secret-alice-secret-0"

static void test_seed_iam(void **state)
{
    (void)state;
    ok(apply("{\"policies\": [{\"PolicyName\": \"app\", \"Path\": \"/team/\", \"PolicyDocument\":"
             " {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\","
             " \"Action\": \"kms:Encrypt\", \"Resource\": \"*\"}]}}],"
             " \"users\": [{\"UserName\": \"alice\", \"Policies\": {\"inline\":"
             " \"{\\\"Version\\\": \\\"2012-10-17\\\", \\\"Statement\\\": {\\\"Effect\\\": \\\"Deny\\\","
             " \\\"Action\\\": \\\"kms:Decrypt\\\", \\\"Resource\\\": \\\"*\\\"}}\"},"
             " \"ManagedPolicies\": [\"arn:aws:iam::" ACCT ":policy/team/app\"],"
             " \"AccessKeys\": [{\"AccessKeyId\": \"" AKID "\", \"SecretAccessKey\": \"" SECRET "\"}]}],"
             " \"roles\": [{\"RoleName\": \"app-role\", \"AssumeRolePolicyDocument\":"
             " {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\", \"Principal\":"
             " {\"AWS\": \"arn:aws:iam::" ACCT ":root\"}, \"Action\": \"sts:AssumeRole\"}]},"
             " \"Policies\": {\"p\": {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\","
             " \"Action\": \"kms:*\", \"Resource\": \"*\"}]}}}]}"));
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    ok(ENV.st[0]->ent_get(ENV.st, "user", ACCT, "alice", &e));
    assert_string_equal(e.arn, "arn:aws:iam::" ACCT ":user/alice");
    ent_rec_free(&e);
    memset(&e, 0, sizeof e);
    ok(ENV.st[0]->ent_get(ENV.st, "role", ACCT, "app-role", &e));
    ent_rec_free(&e);
    memset(&e, 0, sizeof e);
    ok(ENV.st[0]->ent_get(ENV.st, "policy", ACCT, "app", &e));
    ent_rec_free(&e);
    struct access_key_rec k;
    memset(&k, 0, sizeof k);
    ok(ENV.st[0]->access_key_get(ENV.st, AKID, &k));
    assert_int_equal(k.principal_type, PRINCIPAL_USER);
    assert_string_equal(k.principal_arn, "arn:aws:iam::" ACCT ":user/alice");
    /* Only wrapped: the secret is nowhere in the record in the clear. */
    assert_null(memmem(k.wrapped_secret.data, k.wrapped_secret.len, SECRET, sizeof SECRET - 1));
    access_key_rec_free(&k);

    refused("{\"users\": [{\"UserName\": \"bob\", \"AccessKeys\": [{\"AccessKeyId\": \"short\","
            " \"SecretAccessKey\": \"x\"}]}]}", "AccessKeyId");
    refused("{\"users\": [{}]}", "UserName");
    refused("{\"roles\": [{\"RoleName\": \"r\"}]}", "AssumeRolePolicyDocument");
    refused("{\"policies\": [{\"PolicyName\": \"p\", \"PolicyDocument\": 1}]}", "PolicyDocument");
    refused("{\"users\": [{\"UserName\": \"carol\", \"Policies\": []}]}", "Policies");
    assert_true(tr_failed(apply("{\"users\": [{\"UserName\": \"alice\"}]}")));   /* exists */
}

/* ${AccountId} and ${Region}: replaced in every string value of an entry
 * but the data members; IAM's own ${aws:...} variables left alone; an
 * unknown ${Name} refused with the entry named. */
static void test_seed_variables(void **state)
{
    (void)state;
    json_error_t err;
    json_t *doc = json_loads(
        "{\"policies\": [{\"PolicyName\": \"own\", \"PolicyDocument\": {\"Version\": \"2012-10-17\","
        "  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"kms:Encrypt\","
        "  \"Resource\": \"arn:aws:kms:${Region}:${AccountId}:key/*\"}]}}],"
        " \"keys\": [{\"KeyId\": \"" KEY1 "\", \"Region\": \"eu-west-1\","
        "  \"Description\": \"key of ${AccountId} in ${Region}\", \"Policy\": {\"Version\": \"2012-10-17\","
        "  \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"arn:aws:iam::${AccountId}:root\"},"
        "  \"Action\": \"kms:*\", \"Resource\": \"*\"}]}},"
        "  {\"KeyId\": \"" KEY2 "\", \"Region\": \"${Region}\", \"Description\": \"${Region}\"}],"
        " \"secrets\": [{\"Name\": \"s\", \"SecretString\": \"${AccountId} ${Nope}\", \"Region\": \"eu-west-1\","
        "  \"KmsKeyId\": \"arn:aws:kms:${Region}:${AccountId}:key/" KEY1 "\"}],"
        " \"users\": [{\"UserName\": \"alice\", \"ManagedPolicies\": [\"arn:aws:iam::${AccountId}:policy/own\"],"
        "  \"Policies\": {\"home\": {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\","
        "  \"Action\": \"kms:*\", \"Resource\": \"arn:aws:kms:*:${AccountId}:alias/${aws:username}-${*}\"}]}},"
        "  \"AccessKeys\": [{\"AccessKeyId\": \"" AKID "\", \"SecretAccessKey\": \"${Region}\"}]}]}",
        0, &err);
    if (!doc) fail_msg("bad test JSON: %s", err.text);
    ok(dev_seed_apply_json(&ENV, ACCT, doc));

    struct key_rec k;
    ok(kms_key_lookup(ENV.st, KEY1, "eu-west-1", &k));
    assert_string_equal(k.description, "key of " ACCT " in eu-west-1");
    assert_non_null(strstr(k.policy, "arn:aws:iam::" ACCT ":root"));
    key_rec_free(&k);
    ok(kms_key_lookup(ENV.st, KEY2, "us-east-1", &k));
    assert_string_equal(k.region, "us-east-1");          /* ${Region} as Region: the server's */
    assert_string_equal(k.description, "us-east-1");
    key_rec_free(&k);

    /* The document shows what was applied: data members as written, IAM's
     * variables untouched, the rest expanded. */
    json_t *secret = json_array_get(json_object_get(doc, "secrets"), 0);
    assert_string_equal(json_string_value(json_object_get(secret, "SecretString")), "${AccountId} ${Nope}");
    assert_string_equal(json_string_value(json_object_get(secret, "KmsKeyId")),
                        "arn:aws:kms:eu-west-1:" ACCT ":key/" KEY1);
    json_t *user = json_array_get(json_object_get(doc, "users"), 0);
    json_t *stmt = json_array_get(json_object_get(json_object_get(json_object_get(user, "Policies"), "home"),
                                                  "Statement"), 0);
    assert_string_equal(json_string_value(json_object_get(stmt, "Resource")),
                        "arn:aws:kms:*:" ACCT ":alias/${aws:username}-${*}");
    assert_string_equal(json_string_value(json_array_get(json_object_get(user, "ManagedPolicies"), 0)),
                        "arn:aws:iam::" ACCT ":policy/own");
    json_t *ak = json_array_get(json_object_get(user, "AccessKeys"), 0);
    assert_string_equal(json_string_value(json_object_get(ak, "SecretAccessKey")), "${Region}");
    json_t *pstmt = json_array_get(json_object_get(json_object_get(json_array_get(
        json_object_get(doc, "policies"), 0), "PolicyDocument"), "Statement"), 0);
    assert_string_equal(json_string_value(json_object_get(pstmt, "Resource")),
                        "arn:aws:kms:us-east-1:" ACCT ":key/*");
    json_decref(doc);
    /* The user's managed policy was attached through the expanded ARN. */
    struct ent_rec e;
    memset(&e, 0, sizeof e);
    ok(ENV.st[0]->ent_get(ENV.st, "user", ACCT, "alice", &e));
    ent_rec_free(&e);

    /* A misspelt variable stops the seed, naming the entry and the name;
     * so does one inside a policy of a later entry. */
    refused("{\"keys\": [{\"Description\": \"${AcountId}\"}]}", "seed: keys[0]: unknown variable ${AcountId}");
    refused("{\"roles\": [{\"RoleName\": \"ok\", \"AssumeRolePolicyDocument\": {\"Version\": \"2012-10-17\","
            " \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"arn:aws:iam::${AccountId}:root\"},"
            " \"Action\": \"sts:AssumeRole\"}]}},"
            " {\"RoleName\": \"bad\", \"AssumeRolePolicyDocument\": {\"Version\": \"2012-10-17\","
            " \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"arn:aws:iam::${accountid}:root\"},"
            " \"Action\": \"sts:AssumeRole\"}]}}]}", "seed: roles[1]: unknown variable ${accountid}");
    /* Without the variable, another account's root in a key policy is a
     * foreign account, and the key policy would lock this account out. */
    refused("{\"keys\": [{\"Policy\": {\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Allow\","
            " \"Principal\": {\"AWS\": \"arn:aws:iam::123456789012:root\"}, \"Action\": \"kms:*\","
            " \"Resource\": \"*\"}]}}]}", "seed: keys[0]: The new key policy will not allow you");
}

static void test_predicates(void **state)
{
    (void)state;
    assert_true(dev_region_ok("us-east-1"));
    assert_true(dev_region_ok("us-gov-west-1"));
    assert_false(dev_region_ok("moon"));
    assert_false(dev_region_ok("us--east-1"));
    assert_false(dev_region_ok("us-east-x"));
    assert_false(dev_region_ok("US-EAST-1"));
    assert_true(dev_is_reset_path("/moto-api/reset"));
    assert_true(dev_is_reset_path("/_tresor/reset"));
    assert_false(dev_is_reset_path("/moto-api/reset/"));
    assert_false(dev_is_reset_path("/"));
}

/* The regions a server serves: --region alone, a --regions list, dev
 * mode's any region, dev mode narrowed by a list. */
static void test_regions_served(void **state)
{
    (void)state;
    const char *list[] = { "us-east-1", "us-west-2" };
    struct dev_hooks any = { .region_ok = dev_region_ok };
    struct server_env one = { .default_region = "us-east-1" };
    assert_true(server_region_served(&one, "us-east-1"));
    assert_false(server_region_served(&one, "us-west-2"));
    struct server_env two = { .default_region = "us-east-1", .regions = list, .nregions = 2 };
    assert_true(server_region_served(&two, "us-east-1"));
    assert_true(server_region_served(&two, "us-west-2"));
    assert_false(server_region_served(&two, "eu-west-1"));
    assert_false(server_region_served(&two, "us-west-2 "));
    assert_false(server_region_served(&two, "us-west"));
    assert_false(server_region_served(&two, ""));
    struct server_env dev = { .default_region = "us-east-1", .dev = &any };
    assert_true(server_region_served(&dev, "eu-west-1"));
    assert_false(server_region_served(&dev, "moon"));
    struct server_env narrowed = { .default_region = "us-east-1", .dev = &any, .regions = list, .nregions = 2 };
    assert_true(server_region_served(&narrowed, "us-west-2"));
    assert_false(server_region_served(&narrowed, "eu-west-1"));
}

/* ---- authentication ------------------------------------------------------ */

struct signed_req {
    struct sigv4_header h[4];
    char auth[1024], date[32];
    struct sigv4_request rq;
};

static const char BODY[] = "{}";

static void sign(struct signed_req *s, const char *akid, const char *secret, const char *region,
                 const char *amz_date)
{
    memset(s, 0, sizeof *s);
    snprintf(s->date, sizeof s->date, "%s", amz_date);
    s->h[0] = (struct sigv4_header){ "Host", "localhost" };
    s->h[1] = (struct sigv4_header){ "X-Amz-Date", s->date };
    s->rq = (struct sigv4_request){ .method = "POST", .path = "/", .query = "", .headers = s->h,
                                    .nheaders = 2, .body = (const uint8_t *)BODY,
                                    .body_len = sizeof BODY - 1 };
    ok(sigv4_sign(&s->rq, akid, secret, amz_date, region, "kms", "host;x-amz-date",
                  s->auth, sizeof s->auth));
    s->h[2] = (struct sigv4_header){ "Authorization", s->auth };
    s->rq.nheaders = 3;
}

static void test_unknown_key_is_root(void **state)
{
    (void)state;
    struct signed_req s;
    struct principal who;
    struct sigv4_auth a;

    /* Any region, a date years ago, a made-up key. */
    sign(&s, "test", "test", "eu-west-1", "20200101T000000Z");
    ok(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a));
    assert_int_equal(who.type, PRINCIPAL_ROOT);
    assert_string_equal(who.arn, "arn:aws:iam::" ACCT ":root");
    assert_string_equal(who.account_id, ACCT);
    assert_string_equal(a.region, "eu-west-1");

    /* The scope still has to be well formed. */
    sign(&s, "test", "test", "moon", "20200101T000000Z");
    assert_true(tr_failed(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a)));
    assert_int_equal(tr_last_error()->code, TR_E_INVALID_SIGNATURE);

    /* A known key is verified: the root's real key with a wrong secret. */
    struct root_credentials cred;
    ok(account_create(ENV.st, ENV.kr, "999988887777", tr_now(), &cred));
    sign(&s, cred.access_key_id, "wrong-secret-wrong-secret-wrong-secret-00", "us-east-1",
         "20200101T000000Z");
    assert_true(tr_failed(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a)));
    assert_int_equal(tr_last_error()->code, TR_E_INVALID_SIGNATURE);
    sign(&s, cred.access_key_id, cred.secret, "us-east-1", "20200101T000000Z");
    ok(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a));
    assert_string_equal(who.account_id, "999988887777");
    secure_zero(&cred, sizeof cred);

    /* A seeded user's fixed key signs like a real one, as that user. */
    ok(apply("{\"users\": [{\"UserName\": \"alice\", \"AccessKeys\": [{\"AccessKeyId\": \"" AKID "\","
             " \"SecretAccessKey\": \"" SECRET "\"}]}]}"));
    sign(&s, AKID, SECRET, "us-east-1", "20200101T000000Z");
    ok(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a));
    assert_int_equal(who.type, PRINCIPAL_USER);
    assert_string_equal(who.arn, "arn:aws:iam::" ACCT ":user/alice");
    sign(&s, AKID, "not-the-secret", "us-east-1", "20200101T000000Z");
    assert_true(tr_failed(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a)));

    /* Outside dev mode the made-up key is refused, and so are the other
     * region and the old date. */
    const struct dev_hooks *d = ENV.dev;
    ENV.dev = NULL;
    sign(&s, "test", "test", "us-east-1", "20200101T000000Z");
    assert_true(tr_failed(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a)));
    sign(&s, "test", "test", "eu-west-1", "20200101T000000Z");
    assert_true(tr_failed(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a)));
    assert_int_equal(tr_last_error()->code, TR_E_INVALID_SIGNATURE);
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y%m%dT%H%M%SZ", &tm);
    sign(&s, "test", "test", "us-east-1", now);
    assert_true(tr_failed(auth_request(&ENV, &s.rq, "kms", time(NULL), &who, &a)));
    assert_int_equal(tr_last_error()->code, TR_E_UNRECOGNIZED_CLIENT);
    ENV.dev = d;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_file_and_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_iam, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_variables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predicates, setup, teardown),
        cmocka_unit_test(test_regions_served),
        cmocka_unit_test_setup_teardown(test_unknown_key_is_root, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
