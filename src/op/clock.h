/*
 * clock.h -- the server's business clock (clock.c).
 */
#ifndef TR_OP_CLOCK_H
#define TR_OP_CLOCK_H

#include <stdint.h>

/* Wall clock in epoch seconds, for every date the server records or
 * compares (key deletion, rotation).  TRESOR_CLOCK_OFFSET (seconds, in the
 * environment at start) shifts it; tests use it to make dates pass.  It
 * does not shift the SigV4 clock window. */
int64_t tr_now(void);
void tr_clock_init(void);

#endif
