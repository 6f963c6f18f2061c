/*
 * json.h -- typed getters over jansson for awsJson1_1 request members,
 * with AWS's validation errors.
 *
 * Member names are the wire names ("KeyId"); AWS reports constraint
 * failures with the member name in lower camel case ("keyId"):
 *   1 validation error detected: Value '0' at 'numberOfBytes' failed to
 *   satisfy constraint: Member must have value greater than or equal to 1
 * A missing required member:
 *   1 validation error detected: Value null at 'keyId' failed to satisfy
 *   constraint: Member must not be null
 * A member of the wrong JSON type is a SerializationException (as the AWS
 * front end reports a type mismatch).  Values of secret members (Plaintext)
 * are never echoed in messages.
 */
#ifndef TR_JSON_H
#define TR_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/result.h"

/* Refuse members not in `allowed` (NULL-terminated list of wire names):
 * SerializationException naming the first unknown member. */
TR_RESULT json_check_members(json_t *in, const char *const *allowed);

/* String member; *out is NULL when absent and not required.  Length is
 * counted in characters (UTF-8 code points), as AWS counts it. */
TR_RESULT json_get_str(json_t *in, const char *name, bool required,
                       size_t min_len, size_t max_len, const char **out);
/* The same for a member the model marks sensitive (a token, a password):
 * its value is never quoted in the validation message. */
TR_RESULT json_get_sensitive_str(json_t *in, const char *name, bool required,
                                 size_t min_len, size_t max_len, const char **out);
/* Integer member; *present tells whether it was there. */
TR_RESULT json_get_int(json_t *in, const char *name, bool required,
                       int64_t min, int64_t max, bool *present, int64_t *out);
TR_RESULT json_get_bool(json_t *in, const char *name, bool *present, bool *out);
/* Base64 blob member, decoded into out (use a secret buf for plaintext);
 * min/max in decoded bytes.  Bad base64 is a SerializationException. */
TR_RESULT json_get_blob(json_t *in, const char *name, bool required,
                        size_t min_len, size_t max_len, struct buf *out);
/* An array member of strings (each min..max chars), up to max_items;
 * *out is NULL when absent. */
TR_RESULT json_get_str_list(json_t *in, const char *name, bool required,
                            size_t max_items, size_t min_len, size_t max_len,
                            json_t **out);
/* One string member of the structures of a list (json_get_struct_list):
 * optional, min..max characters. */
struct json_field {
    const char *name;
    size_t min_len, max_len;
};
/* An array member of structures whose members are the NULL-name
 * terminated `fields` (strings; any other member is a
 * SerializationException), with at least min_items elements; *out is
 * NULL when absent. */
TR_RESULT json_get_struct_list(json_t *in, const char *name, bool required, size_t min_items,
                               const struct json_field *fields, json_t **out);
/* An object member whose values are all strings; *out is NULL when
 * absent. */
TR_RESULT json_get_str_map(json_t *in, const char *name, json_t **out);

/* Validation failure with AWS's wording for one member (always a failure,
 * and known to be one: TR_FAILURE, core/result.h). */
tr_result json_invalid(const char *name, const char *value_repr, const char *constraint)
    __attribute__((warn_unused_result));
#define json_invalid(...) TR_FAILURE(json_invalid(__VA_ARGS__))

/* Set a base64 member from bytes (base64: core/b64.h, included here). */
TR_RESULT json_set_blob(json_t *obj, const char *name, const uint8_t *p, size_t n);

/* Make jansson wipe every block it frees (secmem_wiping_free): request and
 * reply documents carry plaintext and data keys (base64) through jansson.
 * Call once, before the first jansson allocation. */
void json_use_wiping_allocator(void);
/* Make jansson free its blocks with plain free(), unwiped: only for a
 * process that from then on holds no secret in JSON -- who-can-decrypt
 * answering from snapshots, whose files and in-memory store carry no
 * secret value and no key material (docs/SNAPSHOTS.md), only names, ids
 * and policies.  Call while the process has one thread. */
void json_use_plain_allocator(void);
/* The block free() of the wiping allocator (exposed for the unit tests). */
void json_wiping_release(void *p);
/* Serialize v (json_dump_callback flags) straight into out, with no
 * intermediate string: a reply that carries plaintext exists only in out
 * (and in the jansson values, wiped on free).  On failure the bytes
 * appended so far are wiped and dropped. */
TR_RESULT json_dump_buf(const json_t *v, size_t flags, struct buf *out);
/* Epoch seconds as the JSON number AWS sends. */
TR_RESULT json_set_time(json_t *obj, const char *name, int64_t epoch);

/* ---- writing an object without a tree (json_w) ------------------------
 * For the replies of the hot reads (GetSecretValue, Decrypt,
 * GenerateDataKey): the members go straight into the reply buffer --
 * a secret buf, since they carry secrets -- with no jansson values built,
 * copied, dumped and freed.  The bytes are what json_dump_buf(JSON_COMPACT)
 * of the same object would write: member names are literals of the caller
 * (plain ASCII that needs no escaping), strings are escaped by
 * json_w_escape, numbers formatted as jansson formats them.  The first
 * failure sticks in w->r; json_w_end returns it, after wiping and dropping
 * everything the writer appended.  Nothing is copied anywhere but b. */
struct json_w {
    struct buf *b;
    uint32_t start;             /* b->len at json_w_begin */
    bool first;                 /* no member written yet */
    tr_result r;
};
void json_w_begin(struct json_w *w, struct buf *b);
/* "name": the string [s, s + n) */
void json_w_str(struct json_w *w, const char *name, const char *s, size_t n);
/* "name": the base64 text of [p, p + n) (core/b64.h) */
void json_w_b64(struct json_w *w, const char *name, const uint8_t *p, size_t n);
/* "name": [the n NUL-terminated strings s[0..n)] */
void json_w_strs(struct json_w *w, const char *name, char *const *s, size_t n);
/* "name": t as an integer when it is whole, else as jansson writes a real
 * ("%.17g", with ".0" when that reads as an integer; a date in seconds
 * between 1e9 and 9999999999 without printf, to the same bytes). */
void json_w_num(struct json_w *w, const char *name, double t);
TR_RESULT json_w_end(struct json_w *w);
/* Append the JSON string literal of [s, s + n), quotes included, as
 * jansson's dump writes it (no JSON_ENSURE_ASCII, no JSON_ESCAPE_SLASH):
 * '"' and '\\' escaped, \b \f \n \r \t, the other bytes below 0x20 as
 * \u00XX (upper-case hex), everything else as it is.  Text that is not
 * well-formed UTF-8 (core/utf8.h) is TR_E_INTERNAL with nothing appended:
 * jansson refuses to make such a string at all. */
TR_RESULT json_w_escape(struct buf *b, const char *s, size_t n);

#endif
