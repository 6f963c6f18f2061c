/*
 * report_json_test.c -- az_report_json_buf (analyze/report.c), the
 * answer of one secret written without a jansson tree for --all: its
 * bytes must be json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) of
 * az_report_json's tree (plus "gaps"), exactly.
 *
 *   - many generated answers over a made-up graph (no store: users, roles,
 *     foreign accounts, paths of 1..AZ_MAX_HOPS nodes, sessions, grants,
 *     public trust, cut chains, conditional edges, a live and a dead
 *     secret, with and without a key, with and without gaps), each
 *     compared with the tree's bytes;
 *   - every odd string (quotes, backslashes, control bytes, multi-byte
 *     UTF-8) at every position of a name and of an evidence line;
 *   - text that is not UTF-8, which jansson refuses to hold: the member
 *     or element that carries it is missing from both;
 *   - a cap too small: failure, and the buffer as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze.h"
#include "core/buf.h"

#define NN 12
#define NE 24

struct fix {
    struct az_graph g;
    struct az_node n[NN];
    struct az_edge e[NE];
    struct az_access acc[NN];
    struct az_answer ans[NN];
    struct az_target t;
    char *named[2];
};

static uint32_t rnd_state;
static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static const char *const ODD[] = {
    "\"", "\\", "\n", "\t", "\x01", "\x1f", "\b\f\r", "/", "\xc3\xa9", "\xe2\x80\xa8",
    "\xf0\x9f\x94\x91", "\x7f", "}", "],[", ":",
};
#define NODD (sizeof ODD / sizeof ODD[0])

/* A graph of NN nodes (kinds by index), the answers drawn from seed. */
static void build(struct fix *f, uint32_t seed)
{
    memset(f, 0, sizeof *f);
    rnd_state = seed;
    f->g.n = f->n;
    f->g.nn = NN;
    f->g.e = f->e;
    f->g.uncollected = seed & 1;
    for (size_t i = 0; i < NN; i++) {
        struct az_node *n = &f->n[i];
        n->kind = i == 0 ? AZ_ROOT : i < 4 ? AZ_USER : i < 9 ? AZ_ROLE : i < 11 ? AZ_FOREIGN : AZ_ANYONE;
        const char *account = n->kind == AZ_FOREIGN ? "999988887777" : "111122223333";
        snprintf(n->account, sizeof n->account, "%s", account);
        if (n->kind == AZ_ROOT || n->kind == AZ_FOREIGN)
            snprintf(n->arn, sizeof n->arn, "arn:aws:iam::%s:root", account);
        else if (n->kind == AZ_ANYONE)
            snprintf(n->arn, sizeof n->arn, "*");
        else
            snprintf(n->arn, sizeof n->arn, "arn:aws:iam::111122223333:%s/n%zu",
                     n->kind == AZ_USER ? "user" : "role", i);
        n->first_in = n->first_out = SIZE_MAX;
    }
    /* Edges into the roles (4..8) from random nodes. */
    for (size_t k = 0; k < NE; k++) {
        struct az_edge *e = &f->e[k];
        e->from = rnd(NN);
        e->to = 4 + rnd(5);
        e->conditional = rnd(3) == 0;
        e->public_trust = f->n[e->from].kind == AZ_ANYONE && rnd(2);
        if (rnd(4) == 0) snprintf(e->session, sizeof e->session, "sess%zu", k);
        int w = snprintf(e->evidence, sizeof e->evidence, "trust policy of %s: statement %zu allows %s",
                         f->n[e->to].arn, k, f->n[e->from].arn);
        assert_true(w > 0 && (size_t)w < sizeof e->evidence);
        e->next_in = f->n[e->to].first_in;
        f->n[e->to].first_in = k;
        e->next_out = SIZE_MAX;
    }
    f->g.ne = NE;
    static const char *const SRC[] = { "key-policy", "grant", "managed-key", "" };
    for (size_t i = 0; i < NN; i++) {
        struct az_access *a = &f->acc[i];
        a->gsv = rnd(2);
        a->kms = rnd(2);
        a->kms_source = SRC[rnd(4)];
        snprintf(a->gsv_ev, sizeof a->gsv_ev, "identity policy p%zu: statement Read allows", i);
        snprintf(a->kms_ev, sizeof a->kms_ev, "key policy: statement %u", rnd(100));
        if (strcmp(a->kms_source, "grant") == 0) snprintf(a->grant_id, sizeof a->grant_id, "g%zu", i);
        if (rnd(5) == 0) snprintf(a->session, sizeof a->session, "only%zu", i);
    }
    for (size_t i = 0; i < NN; i++) {
        struct az_answer *a = &f->ans[i];
        a->node = i;
        a->cut_at = SIZE_MAX;
        a->can = rnd(3) != 0;
        a->conditional = rnd(4) == 0;
        if (!a->can) {
            if (rnd(2)) a->cut_at = 4 + rnd(5);
            continue;
        }
        /* A path of 1..AZ_MAX_HOPS + 1 nodes through random edges. */
        a->path[0] = i;
        a->npath = 1;
        size_t hops = rnd(AZ_MAX_HOPS + 1);
        for (size_t h = 0; h < hops; h++) {
            size_t k = rnd(NE);
            a->edges[a->npath - 1] = k;
            a->path[a->npath++] = f->e[k].to;
        }
    }
    struct az_target *t = &f->t;
    t->s.arn = (char *)"arn:aws:secretsmanager:us-east-1:111122223333:secret:app/db-AbCdEf";
    t->s.name = (char *)"app/db";
    snprintf(t->s.account, sizeof t->s.account, "111122223333");
    t->have_key = rnd(3) != 0;
    t->key.arn = (char *)"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    snprintf(t->key.key_state, sizeof t->key.key_state, "Enabled");
    t->version_id = rnd(4) ? "v1-0000" : NULL;
    t->live = rnd(3) != 0;
    snprintf(t->why_not_live, sizeof t->why_not_live, "the secret is scheduled for deletion");
    f->named[0] = (char *)"999988887777";
    f->named[1] = (char *)"*";
    t->named = f->named;
    t->nnamed = rnd(3);
}

static json_t *gaps_of(uint32_t seed)
{
    if (seed % 3 == 0) return NULL;
    json_t *a = json_array();
    for (uint32_t k = 0; k < seed % 3; k++)
        json_array_append_new(a, json_sprintf("account %u: no SCPs (\"%c\")", (unsigned)k, 'x'));
    return a;
}

/* The writer's bytes equal the tree's (with gaps set as add_gaps sets
 * them). */
static void assert_same(struct fix *f, const json_t *gaps)
{
    json_t *o = az_report_json(&f->g, &f->t, f->acc, f->ans);
    assert_non_null(o);
    if (gaps) json_object_set(o, "gaps", (json_t *)gaps);
    char *want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(want);
    struct buf b = BUF_INIT(1u << 24);
    assert_true(tr_ok(buf_append(&b, "x", 1)));      /* appended after what is there */
    assert_true(tr_ok(az_report_json_buf(&f->g, &f->t, f->acc, f->ans, gaps, &b)));
    assert_int_equal(b.len, strlen(want) + 1);
    assert_memory_equal(b.data, "x", 1);
    if (memcmp(b.data + 1, want, b.len - 1) != 0) {
        fprintf(stderr, "want: %s\ngot:  %.*s\n", want, (int)b.len - 1, (char *)b.data + 1);
        fail();
    }
    buf_free(&b);
    free(want);
    json_decref(o);
}

static void test_generated_answers_match_the_tree(void **state)
{
    (void)state;
    static struct fix f;
    for (uint32_t seed = 1; seed <= 2000; seed++) {
        build(&f, seed);
        json_t *gaps = gaps_of(seed);
        assert_same(&f, gaps);
        json_decref(gaps);
    }
}

/* Every odd string at every position of a reader's ARN, an edge's and a
 * step's evidence, a session and the secret's name. */
static void test_odd_strings_escaped_as_jansson_escapes_them(void **state)
{
    (void)state;
    static struct fix f;
    const char base[] = "arn:aws:iam::111122223333:user/odd";
    for (size_t o = 0; o < NODD; o++)
        for (size_t at = 0; at <= sizeof base - 1; at += 3) {
            char s[200];
            snprintf(s, sizeof s, "%.*s%s%s", (int)at, base, ODD[o], base + at);  /* fits: 200 */
            build(&f, 7 + (uint32_t)at);
            f.ans[1].can = true;
            f.ans[1].npath = 1;
            f.ans[1].path[0] = 1;
            snprintf(f.n[1].arn, sizeof f.n[1].arn, "%s", s);
            snprintf(f.e[3].evidence, sizeof f.e[3].evidence, "%s", s);
            snprintf(f.e[5].session, sizeof f.e[5].session, "%.60s", s + at);
            snprintf(f.acc[2].gsv_ev, sizeof f.acc[2].gsv_ev, "%s", s);
            snprintf(f.acc[2].kms_ev, sizeof f.acc[2].kms_ev, "%s", s);
            f.t.s.name = s;
            assert_same(&f, NULL);
        }
}

/* Text jansson will not hold (not UTF-8): the tree lacks the reader, the
 * step, the session, the secret; so must the writer. */
static void test_text_not_utf8_left_out_as_the_tree_leaves_it_out(void **state)
{
    (void)state;
    static struct fix f;
    static const char *const BAD[] = { "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xc0\xaf" };
    char name[64];
    for (size_t b = 0; b < sizeof BAD / sizeof BAD[0]; b++)
        for (uint32_t seed = 1; seed <= 80; seed++) {
            build(&f, seed);
            size_t i = seed % NN, k = seed % NE;
            char *dst = NULL;
            size_t cap = 0;
            switch (seed % 9) {
            case 0: dst = f.n[i].arn; cap = sizeof f.n[i].arn; break;
            case 1: dst = f.e[k].evidence; cap = sizeof f.e[k].evidence; break;
            case 2: dst = f.acc[i].gsv_ev; cap = sizeof f.acc[i].gsv_ev; break;
            case 3: dst = f.acc[i].kms_ev; cap = sizeof f.acc[i].kms_ev; break;
            case 4: dst = f.e[k].session; cap = sizeof f.e[k].session; break;
            case 5: dst = f.acc[i].session; cap = sizeof f.acc[i].session; break;
            case 6: dst = f.acc[i].grant_id; cap = sizeof f.acc[i].grant_id; break;
            case 7: dst = f.t.why_not_live; cap = sizeof f.t.why_not_live; break;
            default: dst = name; cap = sizeof name; f.t.s.name = name; break;
            }
            snprintf(dst, cap, "x%sy", BAD[b]);
            assert_same(&f, NULL);
        }
}

/* A cap too small to hold the answer: failure, and out as it was. */
static void test_cap_too_small_fails_leaving_out_as_it_was(void **state)
{
    (void)state;
    static struct fix f;
    build(&f, 3);
    struct buf b = BUF_INIT(64);
    assert_true(tr_ok(buf_append(&b, "head", 4)));
    assert_true(tr_failed(az_report_json_buf(&f.g, &f.t, f.acc, f.ans, NULL, &b)));
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "head", 4);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_answers_match_the_tree),
        cmocka_unit_test(test_odd_strings_escaped_as_jansson_escapes_them),
        cmocka_unit_test(test_text_not_utf8_left_out_as_the_tree_leaves_it_out),
        cmocka_unit_test(test_cap_too_small_fails_leaving_out_as_it_was),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
