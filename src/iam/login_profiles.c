/*
 * login_profiles.c -- CreateLoginProfile, GetLoginProfile,
 * UpdateLoginProfile, DeleteLoginProfile: an IAM user's console password.
 *
 * tresor has no console; the profile is kept so that the tools which
 * create, read and delete it (and DeleteUser, which refuses a user that
 * still has one: DeleteConflict "Cannot delete entity, must delete login
 * profile first.") work as against AWS.  The password is never stored,
 * logged or returned: the user's doc holds
 *   "login": {"hash": "<argon2id encoded hash>", "created": <epoch>,
 *             "reset": true|false}
 * (IAM_STORE.md), and validation errors never repeat it (the model marks it
 * sensitive).  Passwords are checked against AWS's default password policy
 * (the account has no other: UpdateAccountPasswordPolicy is not served):
 * 8..128 characters, at least three of upper case, lower case, digits and
 * other characters (AWS's rule against the account name or e-mail address
 * has nothing to compare with here) -- else PasswordPolicyViolation
 * "Password does not conform to the account password policy.".
 * A user without a profile: NoSuchEntity "Login Profile for User NAME
 * cannot be found."; a second CreateLoginProfile: EntityAlreadyExists
 * "Login Profile for user NAME already exists." (our wording of AWS's).
 */
#include "iam/iam_ops.h"

#include <argon2.h>
#include <string.h>

#include "core/utf8.h"
#include "crypto/rand.h"
#include "iam/iam_util.h"

/* Argon2id at OWASP's minimum for password storage: 19 MiB, 2 passes. */
#define PW_T 2
#define PW_M_KIB 19456
#define PW_P 1
#define PW_SALT 16
#define PW_HASH 32

static const char POLICY_MSG[] = "Password does not conform to the account password policy.";

/* The Password parameter: 1..128 of [\u0009\u000A\u000D\u0020-\u00FF];
 * errors name the member, never the value. */
static TR_RESULT param_password(const struct form *in, bool required, const char **out)
{
    *out = form_get(in, "Password");
    if (!*out) {
        if (required) return iam_invalid_repr("password", "null", "Member must not be null");
        return TR_OK;
    }
    size_t n = utf8_strlen(*out);
    if (n < 1) return iam_invalid_repr("password", NULL, "Member must have length greater than or equal to 1");
    if (n > 128) return iam_invalid_repr("password", NULL, "Member must have length less than or equal to 128");
    static const struct utf8_range CHARS[] = {
        { 0x09, 0x0A }, { 0x0D, 0x0D }, { 0x20, 0xFF },
    };
    if (!utf8_in_class(*out, CHARS, sizeof CHARS / sizeof CHARS[0]))
        return iam_invalid_repr("password", NULL, "Member must satisfy regular expression pattern: "
                                "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
    return TR_OK;
}

/* AWS's default password policy. */
static TR_RESULT check_policy(const char *pw)
{
    int upper = 0, lower = 0, digit = 0, other = 0;
    for (const unsigned char *p = (const unsigned char *)pw; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') upper = 1;
        else if (*p >= 'a' && *p <= 'z') lower = 1;
        else if (*p >= '0' && *p <= '9') digit = 1;
        else other = 1;
    }
    if (utf8_strlen(pw) < 8 || upper + lower + digit + other < 3)
        BAIL(TR_E_IAM_PASSWORD_POLICY, "%s", POLICY_MSG);
    return TR_OK;
}

/* The argon2id encoded hash of pw (malloc'd). */
static TR_RESULT hash_password(const char *pw, char **out)
{
    uint8_t salt[PW_SALT];
    size_t len = argon2_encodedlen(PW_T, PW_M_KIB, PW_P, PW_SALT, PW_HASH, Argon2_id);
    *out = NULL;
    GUARD(rand_bytes(salt, sizeof salt));
    char *enc = malloc(len);
    ENSURE(enc != NULL, TR_E_INTERNAL);
    int rc = argon2id_hash_encoded(PW_T, PW_M_KIB, PW_P, pw, strlen(pw), salt, sizeof salt, PW_HASH,
                                   enc, len);
    if (rc != ARGON2_OK) {
        free(enc);
        BAIL(TR_E_INTERNAL, "Argon2id failed: %s", argon2_error_message(rc));
    }
    *out = enc;
    return TR_OK;
}

static TR_RESULT no_profile(const char *user)
{
    BAIL(TR_E_IAM_NO_SUCH_ENTITY, "Login Profile for User %s cannot be found.", user);
}

/* Replace the "login" member of u's doc with `login` (NULL: remove). */
static TR_RESULT store_login(struct req_ctx *rc, struct ent_rec *u, json_t *login)
{
    json_t *d = iam_doc(u);
    ENSURE(d != NULL, TR_E_INTERNAL);
    int bad = login ? json_object_set(d, "login", login) : json_object_del(d, "login");
    tr_result r = bad ? tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL) : iam_doc_store(u, d);
    json_decref(d);
    GUARD(r);
    return rc->st[0]->ent_update(rc->st, u);
}

/* The "login" member of u's doc (a new reference), or NULL. */
static json_t *login_of(const struct ent_rec *u)
{
    json_t *d = iam_doc(u);
    json_t *l = d ? json_object_get(d, "login") : NULL;
    if (l) json_incref(l);
    json_decref(d);
    return json_is_object(l) ? l : (json_decref(l), NULL);
}

static void write_profile(struct xml *x, const char *user, json_t *login)
{
    xml_open(x, "LoginProfile");
    xml_text(x, "UserName", user);
    xml_time(x, "CreateDate", json_integer_value(json_object_get(login, "created")));
    xml_bool(x, "PasswordResetRequired", json_is_true(json_object_get(login, "reset")));
    xml_close(x, "LoginProfile");
}

static TR_RESULT create(struct req_ctx *rc, const struct form *in, struct xml *out,
                        const struct iam_kind_param *k, struct ent_rec *u)
{
    const char *name, *pw;
    bool reset = false;
    char *hash = NULL;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(param_password(in, true, &pw));
    GUARD(form_bool(in, "PasswordResetRequired", NULL, &reset));
    GUARD(iam_load(rc, rc->op->action, IAM_USER, name, NULL, u));
    json_t *have = login_of(u);
    json_decref(have);
    if (have) BAIL(TR_E_IAM_ENTITY_EXISTS, "Login Profile for user %s already exists.", name);
    GUARD(check_policy(pw));
    GUARD(hash_password(pw, &hash));
    json_t *login = json_pack("{s:s,s:I,s:b}", "hash", hash, "created", (json_int_t)rc->now, "reset", reset);
    free(hash);
    ENSURE(login != NULL, TR_E_INTERNAL);
    tr_result r = store_login(rc, u, login);
    if (tr_ok(r)) write_profile(out, u->name, login);
    json_decref(login);
    return r;
}

static TR_RESULT get(struct req_ctx *rc, const struct form *in, struct xml *out,
                     const struct iam_kind_param *k, struct ent_rec *u)
{
    const char *name;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_USER, name, NULL, u));
    json_t *login = login_of(u);
    if (!login) return no_profile(name);
    write_profile(out, u->name, login);
    json_decref(login);
    return TR_OK;
}

static TR_RESULT update(struct req_ctx *rc, const struct form *in, struct xml *out,
                        const struct iam_kind_param *k, struct ent_rec *u)
{
    const char *name, *pw;
    bool has_reset = false, reset = false;
    char *hash = NULL;
    (void)out;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(param_password(in, false, &pw));
    GUARD(form_bool(in, "PasswordResetRequired", &has_reset, &reset));
    GUARD(iam_load(rc, rc->op->action, IAM_USER, name, NULL, u));
    json_t *login = login_of(u);
    if (!login) return no_profile(name);
    tr_result r = pw ? check_policy(pw) : TR_OK;
    if (tr_ok(r) && pw) r = hash_password(pw, &hash);
    if (tr_ok(r) && hash && json_object_set_new(login, "hash", json_string(hash)) != 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r) && has_reset && json_object_set_new(login, "reset", json_boolean(reset)) != 0)
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
    if (tr_ok(r)) r = store_login(rc, u, login);
    free(hash);
    json_decref(login);
    return r;
}

static TR_RESULT delete(struct req_ctx *rc, const struct form *in, struct xml *out,
                        const struct iam_kind_param *k, struct ent_rec *u)
{
    const char *name;
    (void)out;
    GUARD(iam_param_entity(in, k, &name));
    GUARD(iam_load(rc, rc->op->action, IAM_USER, name, NULL, u));
    json_t *login = login_of(u);
    if (!login) return no_profile(name);
    json_decref(login);
    return store_login(rc, u, NULL);
}

IAM_KIND_HANDLER(iam_create_login_profile, create, IAM_P_USER64)
IAM_KIND_HANDLER(iam_get_login_profile, get, IAM_P_USER64)
IAM_KIND_HANDLER(iam_update_login_profile, update, IAM_P_USER64)
IAM_KIND_HANDLER(iam_delete_login_profile, delete, IAM_P_USER64)

TR_RESULT iam_login_profile_conflict(const struct ent_rec *u)
{
    json_t *login = login_of(u);
    json_decref(login);
    if (login) BAIL(TR_E_IAM_DELETE_CONFLICT, "Cannot delete entity, must delete login profile first.");
    return TR_OK;
}
