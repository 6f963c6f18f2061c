/*
 * accounts_test.c -- DIR/config's region (iam/accounts.c,
 * credfile_set_region): the profiles tresor writes there follow the
 * region the server serves, and nothing else in the file moves.
 *
 * Each test works in a fresh mkdtemp directory: a config file as tresor
 * or a user left it, then credfile_set_region, then the exact bytes.
 *
 * And account_create_first: the store's first account made once, however
 * many callers try (the check is inside the write transaction).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/keyring.h"
#include "iam/accounts.h"
#include "store/store.h"

struct tdir { char dir[64]; char path[96]; };

static int setup(void **state)
{
    struct tdir *t = calloc(1, sizeof *t);
    if (!t) return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/accounts_test.XXXXXX");
    if (!mkdtemp(t->dir)) { free(t); return -1; }
    snprintf(t->path, sizeof t->path, "%s/config", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tdir *t = *state;
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", t->path);
    unlink(t->path);
    unlink(tmp);
    rmdir(t->dir);
    free(t);
    return 0;
}

static void put(const struct tdir *t, const char *text)
{
    FILE *f = fopen(t->path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static char *get(const struct tdir *t)
{
    static char buf[4096];
    FILE *f = fopen(t->path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* What serve writes on its first start, restarted with another region. */
static void follows_the_region(void **state)
{
    struct tdir *t = *state;
    char was[32];
    unsigned changed = 99;
    put(t, "[profile tresor]\nregion = us-east-1\n");
    assert_true(tr_ok(credfile_set_region(t->dir, "eu-west-1", was, sizeof was, &changed)));
    assert_int_equal(changed, 1);
    assert_string_equal(was, "us-east-1");
    assert_string_equal(get(t), "[profile tresor]\nregion = eu-west-1\n");
}

/* The same region: nothing to change, and the file is not rewritten. */
static void same_region_leaves_the_file(void **state)
{
    struct tdir *t = *state;
    char was[32];
    unsigned changed = 99;
    struct stat before, after;
    put(t, "[profile tresor]\nregion  =  eu-west-1\n");
    assert_int_equal(stat(t->path, &before), 0);
    assert_true(tr_ok(credfile_set_region(t->dir, "eu-west-1", was, sizeof was, &changed)));
    assert_int_equal(changed, 0);
    assert_string_equal(was, "eu-west-1");
    assert_int_equal(stat(t->path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_string_equal(get(t), "[profile tresor]\nregion  =  eu-west-1\n");
}

/* tresor's own profiles change (tresor, tresor-<12 digits>); another
 * profile, other keys, comments and the layout stay as they were. */
static void only_own_profiles(void **state)
{
    struct tdir *t = *state;
    char was[32];
    unsigned changed = 0;
    put(t, "# mine\n"
           "[profile tresor]\n"
           "output = json\n"
           "region=us-east-1\n"
           "\n"
           "[profile tresor-444455556666]\n"
           "region = ap-south-1\n"
           "[profile tresor-extra]\n"
           "region = us-east-1\n"
           "[profile mine]\n"
           "region = us-east-1\n"
           "[default]\n"
           "region = us-east-1\n");
    assert_true(tr_ok(credfile_set_region(t->dir, "eu-central-2", was, sizeof was, &changed)));
    assert_int_equal(changed, 2);
    assert_string_equal(was, "us-east-1");
    assert_string_equal(get(t),
           "# mine\n"
           "[profile tresor]\n"
           "output = json\n"
           "region=eu-central-2\n"
           "\n"
           "[profile tresor-444455556666]\n"
           "region = eu-central-2\n"
           "[profile tresor-extra]\n"
           "region = us-east-1\n"
           "[profile mine]\n"
           "region = us-east-1\n"
           "[default]\n"
           "region = us-east-1\n");
}

/* A profile of tresor's without a region gets one; a config without the
 * tresor profile (or no config at all) gets it back. */
static void missing_pieces_come_back(void **state)
{
    struct tdir *t = *state;
    char was[32];
    unsigned changed = 0;
    put(t, "[profile tresor-111122223333]\noutput = text\n[profile other]\nregion = x-y-1\n");
    assert_true(tr_ok(credfile_set_region(t->dir, "us-west-2", was, sizeof was, &changed)));
    assert_int_equal(changed, 2);
    assert_string_equal(was, "");
    assert_string_equal(get(t),
           "[profile tresor-111122223333]\noutput = text\nregion = us-west-2\n"
           "[profile other]\nregion = x-y-1\n"
           "[profile tresor]\nregion = us-west-2\n");

    unlink(t->path);
    assert_true(tr_ok(credfile_set_region(t->dir, "us-west-2", was, sizeof was, &changed)));
    assert_int_equal(changed, 1);
    assert_string_equal(get(t), "[profile tresor]\nregion = us-west-2\n");
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* Headers with trailing blanks or a CR still name the profile (no second
 * [profile tresor] is added). */
static void header_with_trailing_blanks(void **state)
{
    struct tdir *t = *state;
    char was[32];
    unsigned changed = 0;
    put(t, "[profile tresor] \r\nregion = us-east-1\r\n");
    assert_true(tr_ok(credfile_set_region(t->dir, "eu-west-3", was, sizeof was, &changed)));
    assert_int_equal(changed, 1);
    assert_string_equal(was, "us-east-1");
    assert_string_equal(get(t), "[profile tresor] \r\nregion = eu-west-3\n");
}

/* --tls-generate's ca_bundle: added to tresor's profiles beside the
 * region, left alone in others, replaced when it changes, and a second
 * call with the same path changes nothing; the region is untouched. */
static void ca_bundle_lines(void **state)
{
    struct tdir *t = *state;
    unsigned changed = 99;
    put(t, "[profile tresor]\nregion = us-east-1\n[profile other]\nregion = eu-west-1\n"
           "[profile tresor-444455556666]\nregion = us-east-1\n");
    assert_true(tr_ok(credfile_set_ca_bundle(t->dir, "/d/tls/ca.pem", &changed)));
    assert_int_equal(changed, 2);
    assert_string_equal(get(t), "[profile tresor]\nregion = us-east-1\nca_bundle = /d/tls/ca.pem\n"
                                "[profile other]\nregion = eu-west-1\n"
                                "[profile tresor-444455556666]\nregion = us-east-1\nca_bundle = /d/tls/ca.pem\n");
    assert_true(tr_ok(credfile_set_ca_bundle(t->dir, "/d/tls/ca.pem", &changed)));
    assert_int_equal(changed, 0);
    assert_true(tr_ok(credfile_set_ca_bundle(t->dir, "/e/tls/ca.pem", &changed)));
    assert_int_equal(changed, 2);
    assert_string_equal(get(t), "[profile tresor]\nregion = us-east-1\nca_bundle = /e/tls/ca.pem\n"
                                "[profile other]\nregion = eu-west-1\n"
                                "[profile tresor-444455556666]\nregion = us-east-1\nca_bundle = /e/tls/ca.pem\n");
    /* A ca_bundle-like key is not a ca_bundle line. */
    put(t, "[profile tresor]\nca_bundle_x = 1\n");
    assert_true(tr_ok(credfile_set_ca_bundle(t->dir, "/d/ca.pem", &changed)));
    assert_string_equal(get(t), "[profile tresor]\nca_bundle_x = 1\nca_bundle = /d/ca.pem\n");
}

static int hook_calls;

static TR_RESULT count_hook(void *arg, const struct root_credentials *c)
{
    (void)arg;
    (void)c;
    hook_calls++;
    return TR_OK;
}

static void first_account_once(void **state)
{
    struct tdir *t = *state;
    store_t st = NULL;
    struct keyring *kr = NULL;
    uint8_t root[32] = { 7 };
    struct root_credentials c;
    struct account_rec *v = NULL;
    size_t n = 0;
    bool created = false;
    char db[128];
    assert_true(tr_ok(keyring_from_bytes(root, &kr)));
    assert_true(tr_ok(store_sqlite_open(t->dir, &st)));
    hook_calls = 0;
    assert_true(tr_ok(account_create_first(st, kr, "111122223333", 1700000000, count_hook, NULL, &c, &created)));
    assert_true(created);
    assert_int_equal(hook_calls, 1);
    assert_string_equal(c.account_id, "111122223333");
    assert_int_equal(strlen(c.secret), 40);
    /* Again, another id: nothing made, the hook not called, out zeroed. */
    assert_true(tr_ok(account_create_first(st, kr, "444455556666", 1700000001, count_hook, NULL, &c, &created)));
    assert_false(created);
    assert_int_equal(hook_calls, 1);
    assert_int_equal(c.account_id[0], 0);
    assert_int_equal(c.secret[0], 0);
    assert_true(tr_ok(st[0]->account_list(st, &v, &n)));
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, "111122223333");
    free(v);
    /* account_create_then still adds accounts beside it. */
    assert_true(tr_ok(account_create(st, kr, "444455556666", 1700000002, &c)));
    assert_true(tr_ok(account_create_first(st, kr, NULL, 1700000003, NULL, NULL, &c, &created)));
    assert_false(created);
    /* A bad id is refused before the store is asked. */
    assert_int_equal(tr_code(account_create_first(st, kr, "12ab", 1, NULL, NULL, &c, &created)), TR_E_VALIDATION);
    assert_false(created);
    st[0]->close(st);
    keyring_free(kr);
    static const char *const files[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(db, sizeof db, "%s/tresor.db%s", t->dir, files[i]);
        unlink(db);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(follows_the_region, setup, teardown),
        cmocka_unit_test_setup_teardown(ca_bundle_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(same_region_leaves_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(only_own_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_pieces_come_back, setup, teardown),
        cmocka_unit_test_setup_teardown(header_with_trailing_blanks, setup, teardown),
        cmocka_unit_test_setup_teardown(first_account_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
