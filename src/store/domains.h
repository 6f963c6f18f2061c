/*
 * domains.h -- what a write changed, in five parts: the store's
 * generation is counted per domain, so that a write of a secret's value
 * does not throw away the cached identities and KMS keys
 * (docs/internals/CACHES.md, "Domains").
 *
 * A write statement's domain is found by the record layer from what it
 * writes (store/sql_records.c, write_domain): access keys and the IAM
 * entities and relations are IAM; keys, materials, aliases and grants
 * KMS; secrets with their versions SECRETS, and a secret's tags both
 * SECRETS and SECRET_TAGS: every reader of SECRETS sees a tag change as
 * before, and the cached tags of secrets (the "secret-tags" class, read
 * by every authorization on a secret, writes included) ask for
 * SECRET_TAGS alone, so that a new version of a secret does not drop
 * them.  Whatever it cannot place is
 * every domain, so a write it does not know of is only slower, never
 * stale.  A cache class asks for the generation of the domains its data
 * comes from (store.h, generation_of).
 */
#ifndef TR_STORE_DOMAINS_H
#define TR_STORE_DOMAINS_H

enum store_domain {
    STORE_DOM_IAM = 1u << 0,        /* accounts' principals, policies, access keys, STS sessions */
    STORE_DOM_KMS = 1u << 1,        /* KMS keys: records, materials, aliases, tags, grants */
    STORE_DOM_SECRETS = 1u << 2,    /* secrets: records, versions, tags, leases */
    STORE_DOM_OTHER = 1u << 3,      /* anything else (work lists, accounts) */
    STORE_DOM_SECRET_TAGS = 1u << 4, /* the tags of secrets (written with SECRETS) */
};

#define STORE_DOMAINS 5
#define STORE_DOM_ALL ((1u << STORE_DOMAINS) - 1)

#endif
