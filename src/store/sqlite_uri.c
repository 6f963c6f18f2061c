/*
 * sqlite_uri.c -- the database's files: URI filenames, existence
 * (sqlite_uri.h).
 */
#include "store/sqlite_uri.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/hex.h"

TR_RESULT sqlite_file_uri(const char *path, const char *query, char *out, size_t cap)
{
    struct buf u = BUF_INIT(cap > 0 && cap <= UINT32_MAX ? (uint32_t)(cap - 1) : 0);
    const char *text = NULL;
    tr_result r = buf_append_str(&u, "file:");
    if (tr_ok(r)) r = pct_encode(&u, path, strlen(path), "/");
    if (tr_ok(r)) r = buf_append_str(&u, query);
    if (tr_ok(r)) r = buf_cstr(&u, &text);
    if (tr_ok(r)) memcpy(out, text, (size_t)u.len + 1);
    buf_free(&u);
    ENSURE(tr_ok(r), TR_E_INTERNAL);
    return TR_OK;
}

bool sqlite_db_path(const char *data_dir, char out[PATH_MAX])
{
    int n = snprintf(out, PATH_MAX, "%s/%s", data_dir, SQLITE_DB_FILE);
    return n > 0 && n < PATH_MAX;
}

bool sqlite_file_exists(const char *path, const char *suffix)
{
    char p[PATH_MAX + 16];
    struct stat sb;
    int n = snprintf(p, sizeof p, "%s%s", path, suffix);    /* checked: a cut path is "no" */
    return n > 0 && (size_t)n < sizeof p && stat(p, &sb) == 0;
}
