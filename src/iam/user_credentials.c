/*
 * user_credentials.c -- ListMFADevices, ListSSHPublicKeys,
 * ListServiceSpecificCredentials, ListSigningCertificates.
 *
 * Tools that delete a user enumerate these first.  tresor keeps none of
 * these credentials (it has no console, no CodeCommit, no SOAP signing),
 * so each answers an empty list for an existing user -- UserName, or the
 * caller as ListAccessKeys takes it (iam_owner_load) -- and NoSuchEntity
 * "The user with name N cannot be found." for a missing one; the calls
 * that would create such a credential are not served (the query protocol's
 * InvalidAction, docs/WIRE.md).  Paging parameters are validated as for
 * every listing; the answer is never truncated.
 */
#include "iam/iam_ops.h"

#include "iam/iam_util.h"

/* An empty listing under `tag`, with IsTruncated when it pages. */
static TR_RESULT empty_list(struct req_ctx *rc, const struct form *in, struct xml *out,
                            size_t max_len, const char *tag, bool pages)
{
    struct iam_owner o;
    GUARD(iam_owner_load(rc, in, max_len, rc->op->action, &o));
    iam_owner_free(&o);
    xml_open(out, tag);
    xml_close(out, tag);
    if (pages) iam_page_end(out, false, NULL);
    return TR_OK;
}

/* The listings with Marker and MaxItems check them before the user. */
static TR_RESULT paged(struct req_ctx *rc, const struct form *in, struct xml *out, size_t max_len,
                       const char *tag)
{
    struct iam_page pg;
    GUARD(iam_page_params(in, &pg));
    return empty_list(rc, in, out, max_len, tag, true);
}

TR_RESULT iam_list_mfa_devices(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return paged(rc, in, out, 128, "MFADevices");
}

TR_RESULT iam_list_ssh_public_keys(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return paged(rc, in, out, 64, "SSHPublicKeys");
}

TR_RESULT iam_list_signing_certificates(struct req_ctx *rc, const struct form *in, struct xml *out)
{
    return paged(rc, in, out, 128, "Certificates");
}

TR_RESULT iam_list_service_specific_credentials(struct req_ctx *rc, const struct form *in,
                                                struct xml *out)
{
    return empty_list(rc, in, out, 64, "ServiceSpecificCredentials", false);
}
