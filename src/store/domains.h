/*
 * domains.h -- what a write changed, in four parts: the store's
 * generation is counted per domain, so that a write of a secret's value
 * does not throw away the cached identities and KMS keys
 * (docs/internals/CACHES.md, "Domains").
 *
 * A write statement's domain is found by the record layer from what it
 * writes (store/sql_records.c, sql_domain): access keys and the IAM
 * entities and relations are IAM; keys, materials, aliases and grants
 * KMS; secrets with their versions SECRETS.  Whatever it cannot place is
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
};

#define STORE_DOMAINS 4
#define STORE_DOM_ALL ((1u << STORE_DOMAINS) - 1)

#endif
