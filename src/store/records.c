/*
 * records.c -- release the heap parts of the records that store/store.h
 * get and list calls fill.
 *
 * Every backend fills records the same way: strings and blobs are owned by
 * the record, arrays are one malloc'd block.  Each function accepts a
 * zeroed or already freed record (NULL pointers, empty bufs) and leaves the
 * record zeroed, so calling it twice, or after a failed get, is safe.
 * Wrapped blobs are ciphertext under the root key, yet they are wiped on
 * release all the same (the bufs are filled with secret=1).
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

void access_key_rec_free(struct access_key_rec *k)
{
    if (!k) return;
    free(k->principal_arn);
    free(k->principal_id);
    free(k->doc);
    buf_free(&k->wrapped_secret);
    memset(k, 0, sizeof *k);
}

void key_rec_free(struct key_rec *k)
{
    if (!k) return;
    free(k->arn);
    free(k->description);
    free(k->policy);
    free(k->policy_ids);
    memset(k, 0, sizeof *k);
}

void material_rec_free(struct material_rec *m)
{
    if (!m) return;
    buf_free(&m->wrapped);
    memset(m, 0, sizeof *m);
}

void alias_list_free(struct alias_rec *v, size_t n)
{
    (void)n;    /* alias records own no heap parts */
    free(v);
}

void tag_rec_free(struct tag_rec *t)
{
    if (!t) return;
    free(t->key);
    free(t->value);
    memset(t, 0, sizeof *t);
}

void ent_rec_free(struct ent_rec *e)
{
    if (!e) return;
    free(e->name);
    free(e->id);
    free(e->arn);
    free(e->path);
    free(e->doc);
    memset(e, 0, sizeof *e);
}

void rel_rec_free(struct rel_rec *r)
{
    if (!r) return;
    free(r->from);
    free(r->to);
    free(r->doc);
    memset(r, 0, sizeof *r);
}

/* An array of records: each one released, then the block. */
#define LIST_FREE(name, type, rec_free) \
    void name(type *v, size_t n) \
    { \
        if (!v) return; \
        for (size_t i = 0; i < n; i++) rec_free(&v[i]); \
        free(v); \
    }

LIST_FREE(access_key_list_free, struct access_key_rec, access_key_rec_free)
LIST_FREE(key_list_free, struct key_rec, key_rec_free)
LIST_FREE(material_list_free, struct material_rec, material_rec_free)
LIST_FREE(tag_list_free, struct tag_rec, tag_rec_free)
LIST_FREE(ent_list_free, struct ent_rec, ent_rec_free)
LIST_FREE(rel_list_free, struct rel_rec, rel_rec_free)
