/*
 * pkcs11.c -- one session on a PKCS#11 token (contract in pkcs11.h).
 *
 * Flow: dlopen(module) -> C_GetFunctionList -> C_Initialize (OS locking)
 * -> C_GetSlotList(token present) -> the slot whose CK_TOKEN_INFO label,
 * its padding spaces dropped, is the label asked for -> C_OpenSession
 * (read-write: generating a token key needs it) -> C_Login(CKU_USER).
 * p11_close undoes each step that was done, in reverse.  Every PKCS#11
 * return code that is not CKR_OK becomes a message naming the step and
 * the code; the PIN never appears in one.
 *
 * Spec: PKCS#11 v2.40 (OASIS), sections 5.4-5.8 (general, slot and token,
 * session, object, encryption functions) and 2.14.3 (AES-GCM parameters).
 */
#include "crypto/pkcs11.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "core/secmem.h"

struct p11 {
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    bool initialized, logged_in, have_session, have_key;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE key;
    char module[256], token[P11_LABEL_MAX + 1];
};

const char *p11_rv_name(unsigned long rv, char *tmp, size_t n)
{
    static const struct { unsigned long rv; const char *name; } names[] = {
        { CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
        { CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
        { CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
        { CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
        { CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID" },
        { CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE" },
        { CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
        { CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
        { CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
        { CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
        { CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
        { CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
        { CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED" },
        { CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
        { CKR_SESSION_COUNT, "CKR_SESSION_COUNT" },
        { CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
        { CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
        { CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED" },
        { CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
        { CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
        { CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
        { CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
        { CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].rv == rv) return names[i].name;
    snprintf(tmp, n, "CKR_0x%lx", rv);  /* cut: a message for people */
    return tmp;
}

#define RV(rv) p11_rv_name((rv), rvtmp, sizeof rvtmp)

/* The label of a CK_TOKEN_INFO (32 bytes, space-padded) as a C string. */
static void token_label(const unsigned char raw[32], char out[P11_LABEL_MAX + 1])
{
    size_t n = 32;
    while (n && (raw[n - 1] == ' ' || raw[n - 1] == '\0')) n--;
    memcpy(out, raw, n);
    out[n] = '\0';
}

/* The slot holding token label, or *found false; *seen lists the labels
 * of the tokens present (for the message when none matches). */
static TR_RESULT find_slot(struct p11 *p, const char *label, CK_SLOT_ID *slot, bool *found, char *seen,
                           size_t nseen)
{
    CK_SLOT_ID slots[64];
    CK_ULONG count = sizeof slots / sizeof slots[0];
    char rvtmp[32];
    size_t used = 0;
    *found = false;
    seen[0] = '\0';
    CK_RV rv = p->f->C_GetSlotList(CK_TRUE, slots, &count);
    if (rv != CKR_OK)
        BAIL(TR_E_INTERNAL, "PKCS#11 module %s: C_GetSlotList failed: %s", p->module, RV(rv));
    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO ti;
        char have[P11_LABEL_MAX + 1];
        if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED)) continue;
        token_label(ti.label, have);
        if (strcmp(have, label) == 0) {
            *slot = slots[i];
            *found = true;
            return TR_OK;
        }
        int k = snprintf(seen + used, nseen - used, "%s'%s'", used ? ", " : "", have);
        if (k > 0 && (size_t)k < nseen - used) used += (size_t)k;
    }
    return TR_OK;
}

TR_RESULT p11_open(const char *module, const char *token, const uint8_t *pin, size_t n, enum p11_fail *why,
                   struct p11 **out)
{
    char rvtmp[32], seen[512];
    CK_RV rv;
    CK_SLOT_ID slot = 0;
    bool found = false;
    tr_result r = TR_OK;
    ENSURE(module && token && pin && why && out, TR_E_INTERNAL);
    *why = P11_FAIL_OTHER;
    *out = NULL;
    struct p11 *p = calloc(1, sizeof *p);
    if (!p) BAIL(TR_E_INTERNAL, "out of memory");
    snprintf(p->module, sizeof p->module, "%s", module);   /* cut: for messages */
    snprintf(p->token, sizeof p->token, "%s", token);      /* cut: for messages */
    p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot load the PKCS#11 module %s: %s", module,
                       dlerror());
        goto fail;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
    if (!get || get(&p->f) != CKR_OK || !p->f) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "%s is not a PKCS#11 module (no C_GetFunctionList)",
                       module);
        goto fail;
    }
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
    rv = p->f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "PKCS#11 module %s: C_Initialize failed: %s", module,
                       RV(rv));
        goto fail;
    }
    p->initialized = rv == CKR_OK;
    r = find_slot(p, token, &slot, &found, seen, sizeof seen);
    if (tr_failed(r)) goto fail;
    if (!found) {
        *why = P11_FAIL_TOKEN;
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "PKCS#11 module %s has no token labelled '%s' "
                       "(tokens present: %s)", module, token, seen[0] ? seen : "none");
        goto fail;
    }
    rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->s);
    if (rv != CKR_OK) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "PKCS#11 token '%s': C_OpenSession failed: %s", token,
                       RV(rv));
        goto fail;
    }
    p->have_session = true;
    rv = p->f->C_Login(p->s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)n);
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) {
        *why = P11_FAIL_PIN;
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "wrong PIN for PKCS#11 token '%s' (%s)", token, RV(rv));
        goto fail;
    }
    if (rv == CKR_PIN_LOCKED) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "the user PIN of PKCS#11 token '%s' is locked "
                       "(CKR_PIN_LOCKED): too many wrong PINs; its security officer must reset it", token);
        goto fail;
    }
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "PKCS#11 token '%s': C_Login failed: %s", token,
                       RV(rv));
        goto fail;
    }
    p->logged_in = rv == CKR_OK;
    *out = p;
    return TR_OK;
fail:
    p11_close(p);
    return r;
}

void p11_close(struct p11 *p)
{
    if (!p) return;
    if (p->f) {                     /* NULL: the module was never reached */
        if (p->logged_in) (void)p->f->C_Logout(p->s);
        if (p->have_session) (void)p->f->C_CloseSession(p->s);
        if (p->initialized) (void)p->f->C_Finalize(NULL);
    }
    if (p->dl) dlclose(p->dl);
    secure_zero(p, sizeof *p);
    free(p);
}

TR_RESULT p11_find_key(struct p11 *p, const char *label, bool *found)
{
    char rvtmp[32];
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_KEY_TYPE, &kt, sizeof kt },
        { CKA_LABEL, (void *)label, label ? strlen(label) : 0 },
    };
    CK_OBJECT_HANDLE h[2];
    CK_ULONG got = 0;
    ENSURE(p && label && found, TR_E_INTERNAL);
    *found = false;
    CK_RV rv = p->f->C_FindObjectsInit(p->s, tmpl, sizeof tmpl / sizeof tmpl[0]);
    if (rv != CKR_OK) BAIL(TR_E_INTERNAL, "PKCS#11 token '%s': C_FindObjectsInit failed: %s", p->token, RV(rv));
    rv = p->f->C_FindObjects(p->s, h, 2, &got);
    (void)p->f->C_FindObjectsFinal(p->s);
    if (rv != CKR_OK) BAIL(TR_E_INTERNAL, "PKCS#11 token '%s': C_FindObjects failed: %s", p->token, RV(rv));
    if (got > 1)
        BAIL(TR_E_INTERNAL, "PKCS#11 token '%s' holds more than one AES key labelled '%s': which one wraps the "
             "root key cannot be told", p->token, label);
    if (got == 1) {
        p->key = h[0];
        p->have_key = true;
        *found = true;
    }
    return TR_OK;
}

TR_RESULT p11_generate_key(struct p11 *p, const char *label)
{
    char rvtmp[32];
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof cls },
        { CKA_KEY_TYPE, &kt, sizeof kt },
        { CKA_VALUE_LEN, &len, sizeof len },
        { CKA_LABEL, (void *)label, label ? strlen(label) : 0 },
        { CKA_TOKEN, &yes, sizeof yes },
        { CKA_PRIVATE, &yes, sizeof yes },
        { CKA_SENSITIVE, &yes, sizeof yes },
        { CKA_EXTRACTABLE, &no, sizeof no },
        { CKA_ENCRYPT, &yes, sizeof yes },
        { CKA_DECRYPT, &yes, sizeof yes },
        { CKA_WRAP, &no, sizeof no },
        { CKA_UNWRAP, &no, sizeof no },
        { CKA_SIGN, &no, sizeof no },
        { CKA_VERIFY, &no, sizeof no },
        { CKA_DERIVE, &no, sizeof no },
    };
    CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
    ENSURE(p && label, TR_E_INTERNAL);
    CK_RV rv = p->f->C_GenerateKey(p->s, &mech, tmpl, sizeof tmpl / sizeof tmpl[0], &p->key);
    if (rv != CKR_OK)
        BAIL(TR_E_INTERNAL, "PKCS#11 token '%s': cannot generate the AES-256 key '%s': %s", p->token, label,
             RV(rv));
    p->have_key = true;
    return TR_OK;
}

static void gcm_params(CK_GCM_PARAMS *g, CK_MECHANISM *m, const uint8_t iv[P11_IV_LEN], const uint8_t *aad,
                       size_t naad)
{
    memset(g, 0, sizeof *g);
    g->pIv = (CK_BYTE_PTR)iv;
    g->ulIvLen = P11_IV_LEN;
    g->ulIvBits = P11_IV_LEN * 8;
    g->pAAD = (CK_BYTE_PTR)aad;
    g->ulAADLen = naad;
    g->ulTagBits = P11_TAG_LEN * 8;
    m->mechanism = CKM_AES_GCM;
    m->pParameter = g;
    m->ulParameterLen = sizeof *g;
}

#define P11_MAX_DATA 64             /* the seal encrypts a 32-byte root key */

TR_RESULT p11_gcm_seal(struct p11 *p, const uint8_t iv[P11_IV_LEN], const uint8_t *aad, size_t naad,
                       const uint8_t *pt, size_t n, uint8_t *ct, uint8_t tag[P11_TAG_LEN])
{
    char rvtmp[32];
    CK_GCM_PARAMS g;
    CK_MECHANISM m;
    uint8_t outb[P11_MAX_DATA + P11_TAG_LEN];
    CK_ULONG outlen = sizeof outb;
    ENSURE(p && p->have_key && iv && pt && ct && tag && n <= P11_MAX_DATA, TR_E_INTERNAL);
    gcm_params(&g, &m, iv, aad, naad);
    CK_RV rv = p->f->C_EncryptInit(p->s, &m, p->key);
    if (rv == CKR_OK) rv = p->f->C_Encrypt(p->s, (CK_BYTE_PTR)pt, (CK_ULONG)n, outb, &outlen);
    if (rv == CKR_OK && outlen != n + P11_TAG_LEN) rv = CKR_FUNCTION_FAILED;
    if (rv != CKR_OK) {
        secure_zero(outb, sizeof outb);
        BAIL(TR_E_INTERNAL, "PKCS#11 token '%s': AES-GCM encryption (CKM_AES_GCM) failed: %s", p->token, RV(rv));
    }
    memcpy(ct, outb, n);
    memcpy(tag, outb + n, P11_TAG_LEN);
    return TR_OK;
}

TR_RESULT p11_gcm_open(struct p11 *p, const uint8_t iv[P11_IV_LEN], const uint8_t *aad, size_t naad,
                       const uint8_t *ct, size_t n, const uint8_t tag[P11_TAG_LEN], uint8_t *pt, bool *auth)
{
    char rvtmp[32];
    CK_GCM_PARAMS g;
    CK_MECHANISM m;
    uint8_t in[P11_MAX_DATA + P11_TAG_LEN], outb[P11_MAX_DATA + P11_TAG_LEN];
    CK_ULONG outlen = sizeof outb;
    ENSURE(p && p->have_key && iv && ct && tag && pt && auth && n <= P11_MAX_DATA, TR_E_INTERNAL);
    *auth = false;
    memcpy(in, ct, n);
    memcpy(in + n, tag, P11_TAG_LEN);
    gcm_params(&g, &m, iv, aad, naad);
    CK_RV rv = p->f->C_DecryptInit(p->s, &m, p->key);
    if (rv == CKR_OK) rv = p->f->C_Decrypt(p->s, in, (CK_ULONG)(n + P11_TAG_LEN), outb, &outlen);
    bool ok = rv == CKR_OK && outlen == n;
    if (ok) memcpy(pt, outb, n);
    secure_zero(outb, sizeof outb);
    if (ok) return TR_OK;
    secure_zero(pt, n);
    /* A tag that does not verify: CKR_ENCRYPTED_DATA_INVALID in v2.40
     * (0x40), CKR_AEAD_DECRYPT_FAILED (0x35) in v3.0; some modules say
     * CKR_FUNCTION_FAILED or CKR_GENERAL_ERROR. */
    *auth = rv == CKR_ENCRYPTED_DATA_INVALID || rv == 0x35UL || rv == CKR_FUNCTION_FAILED ||
            rv == CKR_GENERAL_ERROR;
    BAIL(TR_E_INTERNAL, "PKCS#11 token '%s': AES-GCM decryption (CKM_AES_GCM) failed: %s", p->token,
         rv == CKR_OK ? "wrong length" : RV(rv));
}
