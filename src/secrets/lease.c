/*
 * lease.c -- the rotation lease (lease.h).
 *
 * rotation.c keeps one rotation of a secret at a time in its process with
 * a list of the running ones.  Nodes that share a PostgreSQL store need
 * the same between processes: without it, a RotateSecret sent to node B
 * while node A runs a rotation of the secret would start a reattempt on B
 * with the same token, concurrently with A's.  So a secret being rotated
 * has a lease in the store: the relation (SM_LEASE_KIND, secret ARN,
 * "node"), kept as the root record is (a relation, no schema change),
 * whose doc is
 *
 *     {"node": NODE, "until": EPOCH, "token": VERSION}
 *
 * NODE the random name the process drew at start-up, VERSION the
 * rotation's AWSPENDING version.
 *  - It is taken in the write transaction that starts a rotation, after
 *    checking that no other node holds a live one.  Write transactions
 *    run one at a time (on PostgreSQL each holds the nodes' write lock; on
 *    SQLite the write gate), so check-then-take is atomic.
 *  - It is never refreshed: "until" is the start plus four step limits and
 *    a margin, so the lease of a node that crashed lapses by itself, and
 *    a rotation cannot outlive its lease (each step is killed at its
 *    limit).  The clock is the real one, not the business clock with
 *    TRESOR_CLOCK_OFFSET: a lease measures elapsed time.
 *  - It is released when the rotation ends, whichever way, if it is still
 *    that rotation's (same node, same token): a new rotation of the same
 *    node may have taken it over meanwhile, and its lease must stay.
 * A lease of this node never blocks it: within the process, rotation.c's
 * list decides.  The lease is read by its exact key only, so no listing
 * (each reads its own kind) shows it, and `tresor check` does not look at
 * relations.
 */
#include "secrets/lease.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#include "core/errors.h"
#include "core/str.h"

#define LEASE_TO "node"

/* The lease's doc, parsed; NULL when there is none (*found false) or it
 * cannot be read (*found true). */
static json_t *lease_read(store_t st, const char *arn, bool *found, tr_result *rr)
{
    struct rel_rec rel;
    json_error_t jerr;
    memset(&rel, 0, sizeof rel);
    *found = false;
    tr_result r = st[0]->rel_get(st, SM_LEASE_KIND, arn, LEASE_TO, &rel);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND) {
            tr_clear_error();
            r = TR_OK;
        } else {
            *found = true;
        }
        *rr = r;
        return NULL;
    }
    *found = true;
    *rr = TR_OK;
    json_t *doc = json_loads(rel.doc ? rel.doc : "", 0, &jerr);
    rel_rec_free(&rel);
    if (doc && !json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

bool sm_lease_foreign(store_t st, const char *arn, const char *node, int64_t now)
{
    bool found;
    tr_result r;
    json_t *doc = lease_read(st, arn, &found, &r);
    if (tr_failed(r)) tr_clear_error();
    if (!found) return false;
    const char *holder = json_string_value(json_object_get(doc, "node"));
    json_t *until = json_object_get(doc, "until");
    bool held = !holder || !json_is_integer(until) ||
                (strcmp(holder, node) != 0 && json_integer_value(until) > (json_int_t)now);
    json_decref(doc);
    return held;
}

TR_RESULT sm_lease_take(store_t st, const char *arn, const char *node, const char *token, int64_t until)
{
    ENSURE_REF(arn);
    ENSURE_REF(node);
    ENSURE_REF(token);
    json_t *doc = json_pack("{s:s, s:I, s:s}", "node", node, "until", (json_int_t)until, "token", token);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    ENSURE(text != NULL, TR_E_INTERNAL);
    struct rel_rec rel = { .from = (char *)arn, .to = LEASE_TO, .doc = text, .created = until };
    STR_SET(rel.kind, SM_LEASE_KIND);
    tr_result r = st[0]->rel_put(st, &rel);
    free(text);
    return r;
}

TR_RESULT sm_lease_release(store_t st, const char *arn, const char *node, const char *token)
{
    bool found;
    tr_result r;
    ENSURE_REF(arn);
    ENSURE_REF(node);
    ENSURE_REF(token);
    json_t *doc = lease_read(st, arn, &found, &r);
    GUARD(r);
    const char *holder = json_string_value(json_object_get(doc, "node"));
    const char *held = json_string_value(json_object_get(doc, "token"));
    bool mine = holder && held && strcmp(holder, node) == 0 && strcmp(held, token) == 0;
    json_decref(doc);
    if (!mine) return TR_OK;
    return st[0]->rel_delete(st, SM_LEASE_KIND, arn, LEASE_TO);
}
