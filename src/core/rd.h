/*
 * rd.h -- a bounds-checked read cursor over bytes (s2n's stuffer, the
 * reading half), so that a parser reads like the format it parses:
 *
 *     struct rd r = rd_init(blob, len, TR_E_KMS_INVALID_CIPHERTEXT);
 *     GUARD(rd_u8(&r, &ver));
 *     GUARD(rd_bytes(&r, key_id, sizeof key_id));
 *     GUARD(rd_ptr(&r, 12, &iv));
 *
 * Every read takes exactly what it asks for or fails with the cursor's
 * error code (and no message: a parser of attacker bytes says nothing
 * about where they went wrong) and leaves the cursor where it was.  The
 * cursor borrows the bytes; it never copies more than a read asks for.
 */
#ifndef TR_RD_H
#define TR_RD_H

#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

struct rd {
    const uint8_t *p;       /* the next byte */
    size_t left;            /* bytes after it */
    enum tr_err err;        /* what a short read fails with */
};

/* A cursor over [p, p + n) whose short reads fail with err. */
static inline struct rd rd_init(const void *p, size_t n, enum tr_err err)
{
    return (struct rd){ (const uint8_t *)p, p ? n : 0, err };
}

/* Borrow the next n bytes (*out points into the cursor's bytes). */
TR_RESULT rd_ptr(struct rd *r, size_t n, const uint8_t **out);
/* Copy the next n bytes to dst. */
TR_RESULT rd_bytes(struct rd *r, void *dst, size_t n);
TR_RESULT rd_u8(struct rd *r, uint8_t *v);
/* A 32-bit big-endian (network order) integer. */
TR_RESULT rd_u32be(struct rd *r, uint32_t *v);
/* Fail unless every byte has been read. */
TR_RESULT rd_end(const struct rd *r);

#endif
