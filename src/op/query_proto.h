/*
 * query_proto.h -- the AWS query protocol used by IAM and STS: a
 * form-encoded request body (Action=CreateUser&Version=2010-05-08&...) or
 * query string (a GET, e.g. a presigned GetCallerIdentity URL), or both,
 * lists as Name.member.N, maps as Name.member.N.Key/Value, and XML
 * replies:
 *   <OpResponse xmlns="..."><OpResult>...</OpResult>
 *     <ResponseMetadata><RequestId>id</RequestId></ResponseMetadata></OpResponse>
 * Errors are <ErrorResponse><Error><Type>Sender</Type><Code/><Message/>
 * </Error><RequestId/></ErrorResponse> (docs/WIRE.md 1.2, 4).
 */
#ifndef TR_QUERY_PROTO_H
#define TR_QUERY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/result.h"

#define FORM_MAX_PARAMS 512

struct form_kv { const char *key; const char *value; };

struct form {
    struct form_kv kv[FORM_MAX_PARAMS];
    size_t n;
    struct buf storage;           /* decoded keys and values (secret: policies, passwords) */
};

/* Decode an application/x-www-form-urlencoded body ('+' is a space,
 * %XX escapes).  More than FORM_MAX_PARAMS parameters, a bad escape, a
 * NUL or a name or value that is not UTF-8 is a TR_E_QUERY_VALIDATION
 * error. */
TR_RESULT form_parse(const uint8_t *body, size_t len, struct form *out);
/* The parameters of a query-protocol request: those of the (raw) query
 * string, then those of the form body, decoded by the same rules.  A
 * parameter name found in both is a TR_E_QUERY_VALIDATION error; within
 * one of them the first occurrence is the one form_get returns.  The
 * query string's X-Amz-* signature parameters are kept like any other
 * (no handler reads them).  out must be released with form_free even on
 * failure. */
TR_RESULT form_parse_request(const uint8_t *query, size_t qlen, const uint8_t *body, size_t blen,
                             struct form *out);
void form_free(struct form *f);
/* The value of `key`, or NULL. */
const char *form_get(const struct form *f, const char *key);
/* Typed getters with AWS's validation wording (member named in lower
 * camel case): a missing required parameter is "Value null at 'userName'
 * failed to satisfy constraint: Member must not be null". */
TR_RESULT form_str(const struct form *f, const char *key, bool required,
                   size_t min_len, size_t max_len, const char **out);
TR_RESULT form_int(const struct form *f, const char *key, bool required,
                   int64_t min, int64_t max, bool *present, int64_t *out);
TR_RESULT form_bool(const struct form *f, const char *key, bool *present, bool *out);
/* Values of a list parameter Name.member.1 .. Name.member.N in order
 * (stops at the first gap); at most max. */
size_t form_list(const struct form *f, const char *name, const char **out, size_t max);

/* XML writing: elements with escaped text. */
struct xml { struct buf *b; tr_result r; };
void xml_open(struct xml *x, const char *tag);
void xml_close(struct xml *x, const char *tag);
/* <tag>escaped text</tag> */
void xml_text(struct xml *x, const char *tag, const char *text);
void xml_int(struct xml *x, const char *tag, int64_t v);
void xml_bool(struct xml *x, const char *tag, bool v);
/* ISO 8601 UTC, "2026-01-01T00:00:00Z". */
void xml_time(struct xml *x, const char *tag, int64_t epoch);
/* Percent-encode a policy document the way IAM returns it (RFC 3986
 * unreserved characters kept), then XML-escape, as element text. */
void xml_policy(struct xml *x, const char *tag, const char *document);

#endif
