/*
 * snapshot_test.c -- reading snapshot files (src/analyze/snapshot.c,
 * docs/SNAPSHOTS.md).
 *
 * The fixtures of tests/data/snapshots/ are assembled by hand in the
 * shapes of AWS's documentation examples (the AWS CLI's output): pages of
 * GetAccountAuthorizationDetails with IsTruncated and Marker, ListKeys and
 * ListSecrets over two pages, single responses where the CLI merged the
 * pages, a policy version as the Query API's URL-encoded text, a gap in
 * the manifest.  They load with what they hold counted.  Then the
 * negative cases, each with the file and place its message names, and a
 * tamper loop: every member of the fixture removed, and every value
 * replaced by null, a number, a string, a list and an object, one at a
 * time -- each either loads or fails with ValidationException and a
 * message naming the file, never anything else (and under ASan, never a
 * bad read).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/snapshot.h"
#include "core/errors.h"

#define FIXTURE_A TR_TESTDATA_DIR "/snapshots/aws-cli-111111111111.json"
#define FIXTURE_B TR_TESTDATA_DIR "/snapshots/aws-cli-222222222222.json"

static const char *msg(void)
{
    return tr_last_error()->message;
}

static void fixture_loads(void **state)
{
    (void)state;
    struct snapshot s;
    assert_true(tr_ok(snapshot_load(FIXTURE_A, &s)));
    assert_string_equal(s.account, "111111111111");
    assert_int_equal(s.nregions, 1);
    assert_string_equal(s.regions[0], "us-west-2");
    assert_int_equal(s.nusers, 2);      /* page 1 */
    assert_int_equal(s.ngroups, 2);     /* one on each page */
    assert_int_equal(s.nroles, 1);      /* page 2 */
    assert_int_equal(s.npolicies, 1);
    assert_int_equal(s.nkeys, 2);
    assert_int_equal(s.naliases, 2);
    assert_int_equal(s.nsecrets, 2);    /* one on each ListSecrets page */
    size_t grants = 0;
    for (size_t i = 0; i < s.nkeys; i++) {
        grants += s.keys[i].ngrants;
        if (strcmp(s.keys[i].key_id, "0987dcba-09fe-87dc-65ba-ab0987654321") == 0)
            assert_null(s.keys[i].policy);  /* refused: the gap */
        else
            assert_non_null(strstr(s.keys[i].policy, "Enable IAM User Permissions"));
    }
    assert_int_equal(grants, 1);
    /* The refused GetKeyPolicy is the one gap: in the manifest, not
     * counted twice for the response the file lacks. */
    assert_int_equal(s.ngaps, 1);
    assert_true(s.gaps[0].listed);
    assert_non_null(strstr(s.gaps[0].what, "GetKeyPolicy us-west-2 arn:aws:kms:"));
    assert_non_null(strstr(s.gaps[0].what, "AccessDeniedException"));
    size_t with_policy = 0;
    for (size_t i = 0; i < s.nsecrets; i++) with_policy += s.secrets[i].resource_policy != NULL;
    assert_int_equal(with_policy, 1);
    snapshot_free(&s);

    assert_true(tr_ok(snapshot_load(FIXTURE_B, &s)));   /* one merged page each */
    assert_int_equal(s.nusers, 1);
    assert_int_equal(s.nroles, 1);
    assert_int_equal(s.nkeys, 0);
    assert_int_equal(s.ngaps, 0);
    snapshot_free(&s);
}

/* Parse text as "t.json"; expect a ValidationException whose message
 * contains want. */
static void refused(const char *text, const char *want)
{
    struct snapshot s;
    tr_result rc = snapshot_parse(text, strlen(text), "t.json", &s);
    if (tr_ok(rc)) fail_msg("accepted: %s", text);
    assert_int_equal(tr_last_error()->code, TR_E_VALIDATION);
    if (!strstr(msg(), want)) fail_msg("message '%s' lacks '%s'", msg(), want);
    assert_memory_equal(msg(), "t.json: ", 8);
    assert_null(s.doc);
}

#define M "\"Manifest\":{\"Account\":\"111122223333\",\"Regions\":[\"us-east-1\"],\"CollectedAt\":\"x\"}"

static void bad_documents(void **state)
{
    (void)state;
    refused("", "not JSON (line");
    refused("{\"TresorSnapshot\":1,", "not JSON (line 1");
    refused("[]", "a snapshot is a JSON object, not a list");
    refused("{}", "TresorSnapshot (the format's version) is missing");
    refused("{\"TresorSnapshot\":2," M "}", "TresorSnapshot: version other than 1 is not supported");
    refused("{\"TresorSnapshot\":\"1\"," M "}", "not supported");
    refused("{\"TresorSnapshot\":1}", "Manifest is missing");
    refused("{\"TresorSnapshot\":1,\"Manifest\":[]}", "Manifest must be an object, not a list");
    refused("{\"TresorSnapshot\":1,\"Manifest\":{\"Account\":\"12345\",\"Regions\":[\"us-east-1\"],"
            "\"CollectedAt\":\"x\"}}", "Manifest: Account '12345' is not a 12-digit account id");
    refused("{\"TresorSnapshot\":1,\"Manifest\":{\"Account\":\"111122223333\",\"Regions\":[],"
            "\"CollectedAt\":\"x\"}}", "Regions must be a non-empty list");
    refused("{\"TresorSnapshot\":1,\"Manifest\":{\"Account\":\"111122223333\",\"Regions\":[\"Mars\"],"
            "\"CollectedAt\":\"x\"}}", "Regions[0] is not a region");
    refused("{\"TresorSnapshot\":1,\"Manifest\":{\"Account\":\"111122223333\",\"Regions\":[\"us-east-1\","
            "\"us-east-1\"],\"CollectedAt\":\"x\"}}", "names us-east-1 twice");
    refused("{\"TresorSnapshot\":1,\"Manifest\":{\"Account\":\"111122223333\",\"Regions\":[\"us-east-1\"]}}",
            "Manifest: CollectedAt is missing");
    refused("{\"TresorSnapshot\":1,\"Manifest\":{\"Account\":\"111122223333\",\"Regions\":[\"us-east-1\"],"
            "\"CollectedAt\":\"x\",\"Gaps\":[{\"Service\":\"kms\"}]}}", "Manifest.Gaps[0]: Operation is missing");
    refused("{\"TresorSnapshot\":1," M ",\"TresorSnapshot\":1}", "duplicate");
    refused("{\"TresorSnapshot\":1," M ",\"GetCallerIdentity\":{\"Account\":\"444455556666\"}}",
            "GetCallerIdentity: Account 444455556666 is not the manifest's account 111122223333");
    refused("{\"TresorSnapshot\":1," M ",\"GetAccountAuthorizationDetails\":[{\"UserDetailList\":{}}]}",
            "GetAccountAuthorizationDetails[0]: UserDetailList must be a list, not an object");
    refused("{\"TresorSnapshot\":1," M ",\"GetAccountAuthorizationDetails\":[7]}",
            "GetAccountAuthorizationDetails: page 0 must be an object, not a number");
    refused("{\"TresorSnapshot\":1," M ",\"GetAccountAuthorizationDetails\":{\"RoleDetailList\":[{\"RoleName\":"
            "\"r\",\"RoleId\":\"AROA1\",\"Arn\":\"arn:aws:iam::111122223333:role/r\"}]}}",
            "role 0: AssumeRolePolicyDocument is missing");
    refused("{\"TresorSnapshot\":1," M ",\"GetAccountAuthorizationDetails\":{\"UserDetailList\":[{\"UserName\":"
            "\"u\",\"UserId\":7}]}}", "user 0: UserId must be a string, not a number");
    refused("{\"TresorSnapshot\":1," M ",\"Regions\":{\"us-east-1\":{\"Keys\":{\"k1\":{\"DescribeKey\":{}}}}}}",
            "Regions.us-east-1.Keys.k1.DescribeKey: KeyMetadata is missing");
    refused("{\"TresorSnapshot\":1," M ",\"Regions\":{\"us-east-1\":{\"Keys\":{\"k1\":{\"DescribeKey\":"
            "{\"KeyMetadata\":{\"KeyId\":\"k2\",\"Arn\":\"a\",\"KeyState\":\"Enabled\"}}}}}}}",
            "KeyId 'k2' is not the key it is filed under");
    refused("{\"TresorSnapshot\":1," M ",\"Regions\":{\"us-east-1\":{\"Keys\":{\"k1\":{\"GetKeyPolicy\":"
            "{\"Policy\":{}}}}}}}", "Keys.k1.GetKeyPolicy: Policy must be a string, not an object");
    refused("{\"TresorSnapshot\":1," M ",\"Regions\":{\"us-east-1\":{\"Keys\":{\"k1\":{\"ListGrants\":"
            "[{\"Grants\":[{\"GrantId\":\"g\",\"GranteePrincipal\":\"p\"}]}]}}}}}",
            "grant 0: Operations must be a list");
    refused("{\"TresorSnapshot\":1," M ",\"Regions\":{\"us-east-1\":{\"ListSecrets\":[{\"SecretList\":"
            "[{\"Name\":\"s\"}]}]}}}", "ListSecrets: secret 0: ARN is missing");
    refused("{\"TresorSnapshot\":1," M ",\"Regions\":{\"us-east-1\":{\"ListSecrets\":{\"SecretList\":"
            "[{\"Name\":\"s\",\"ARN\":\"a\"}]},\"Secrets\":{\"a\":{\"GetResourcePolicy\":{\"ResourcePolicy\":5}}}}}}",
            "Secrets.a.GetResourcePolicy: ResourcePolicy must be a string, not a number");
    refused("{\"TresorSnapshot\":1," M ",\"Regions\":{\"eu-west-1\":{}}}",
            "Regions: eu-west-1 is not in Manifest.Regions");
    refused("{\"TresorSnapshot\":1," M ",\"Regions\":[]}", "Regions must be an object, not a list");

    struct snapshot s;
    assert_false(tr_ok(snapshot_load(TR_TESTDATA_DIR "/snapshots/no-such-file.json", &s)));
    assert_non_null(strstr(msg(), "no-such-file.json: cannot open: No such file"));
}

/* What the file lacks is a gap, as much as what the manifest lists. */
static void missing_parts_are_gaps(void **state)
{
    (void)state;
    static const char text[] =
        "{\"TresorSnapshot\":1,\"Manifest\":{\"Account\":\"111122223333\",\"Regions\":[\"us-east-1\","
        "\"eu-west-1\"],\"CollectedAt\":\"x\"},"
        "\"Regions\":{\"us-east-1\":{\"ListKeys\":{\"Keys\":[{\"KeyId\":\"k1\"}]},\"ListAliases\":{\"Aliases\":[]},"
        "\"ListSecrets\":{\"SecretList\":[{\"ARN\":\"arn:s\",\"Name\":\"s\"}]}}}}";
    struct snapshot s;
    assert_true(tr_ok(snapshot_parse(text, sizeof text - 1, "t.json", &s)));
    const char *want[] = {
        "iam GetAccountAuthorizationDetails: not in the snapshot",
        "kms DescribeKey, GetKeyPolicy, ListGrants us-east-1 k1: not in the snapshot",
        "secretsmanager GetResourcePolicy arn:s: not in the snapshot",
        "kms, secretsmanager eu-west-1: the region is not in the snapshot",
    };
    assert_int_equal(s.ngaps, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(s.gaps[i].what, want[i]);
        assert_false(s.gaps[i].listed);
    }
    snapshot_free(&s);
}

/* ---- tamper loop --------------------------------------------------------- */

static size_t loaded, refusals;

static void try_doc(json_t *root)
{
    char *text = json_dumps(root, JSON_COMPACT);
    assert_non_null(text);
    struct snapshot s;
    tr_result rc = snapshot_parse(text, strlen(text), "f.json", &s);
    if (tr_ok(rc)) {
        loaded++;
        snapshot_free(&s);
    } else {
        refusals++;
        assert_int_equal(tr_last_error()->code, TR_E_VALIDATION);
        assert_memory_equal(msg(), "f.json: ", 8);
    }
    free(text);
}

/* Every value under v, in turn: removed (an object member), and replaced
 * by each of the wrong types. */
static void tamper(json_t *root, json_t *v)
{
    json_t *kinds[] = { json_null(), json_integer(7), json_string("x"), json_array(), json_object() };
    if (json_is_object(v)) {
        /* The names first: a member set again goes to the end of the
         * object's order, so iterating while tampering would not end. */
        size_t n = json_object_size(v), i = 0;
        char **names = calloc(n ? n : 1, sizeof *names);
        assert_non_null(names);
        const char *k;
        json_t *child;
        json_object_foreach(v, k, child) names[i++] = strdup(k);
        for (i = 0; i < n; i++) {
            const char *name = names[i];
            assert_non_null(name);
            json_t *keep = json_incref(json_object_get(v, name));
            json_object_del(v, name);
            try_doc(root);
            for (size_t j = 0; j < 5; j++) {
                json_object_set(v, name, kinds[j]);
                try_doc(root);
            }
            json_object_set(v, name, keep);
            tamper(root, keep);
            json_decref(keep);
        }
        for (i = 0; i < n; i++) free(names[i]);
        free(names);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *keep = json_incref(json_array_get(v, i));
            for (size_t j = 0; j < 5; j++) {
                json_array_set(v, i, kinds[j]);
                try_doc(root);
            }
            json_array_set(v, i, keep);
            tamper(root, keep);
            json_decref(keep);
        }
    }
    for (size_t i = 0; i < 5; i++) json_decref(kinds[i]);
}

static void tamper_every_member(void **state)
{
    (void)state;
    json_error_t je;
    json_t *root = json_load_file(FIXTURE_A, 0, &je);
    assert_non_null(root);
    loaded = refusals = 0;
    tamper(root, root);
    json_decref(root);
    /* Both outcomes happen: optional members go, required ones refuse. */
    assert_true(loaded > 100);
    assert_true(refusals > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_loads),
        cmocka_unit_test(bad_documents),
        cmocka_unit_test(missing_parts_are_gaps),
        cmocka_unit_test(tamper_every_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
