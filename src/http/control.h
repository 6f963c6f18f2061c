/*
 * control.h -- the control socket of a running server: `tresor unseal`
 * and `tresor seal` (the passphrase and pkcs11 seals; crypto/seal.h).
 *
 * DIR/control.sock, AF_UNIX stream, mode 0600; the server answers a peer
 * whose uid (SO_PEERCRED) is its own and nobody else.  One request per
 * connection: the client writes a command line ("unseal\n" followed by
 * the passphrase or the PIN, or "seal\n") and shuts down its writing side; the server
 * answers one line, "ok <what happened>" or "error <why>", and closes.
 * Requests are served one at a time by one thread, so guessing
 * passphrases costs at least one Argon2id derivation each.
 */
#ifndef TR_CONTROL_H
#define TR_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"
#include "crypto/keyring.h"
#include "crypto/seal.h"
#include "op/op.h"

#define CONTROL_SOCKET "control.sock"

/* What the server does as it unseals and seals, with env->seal_lock held
 * exclusively: after env->kr is set (open what needs the root key, e.g.
 * the audit log; a failure seals again), and before env->kr is wiped
 * (close it). */
struct control_hooks {
    void *arg;
    TR_RESULT (*unsealed)(void *arg);
    void (*sealing)(void *arg);
};

struct control;

/* Listen on DIR/control.sock and serve it from a thread.  env->seal_lock
 * must be set; env->kr is set and cleared under it.  how: the data dir's
 * seal (its kind, and the token for pkcs11; any secret in it is ignored),
 * which unseal opens with the passphrase or PIN it is sent.  Refuses to
 * start when another server answers on the socket. */
TR_RESULT control_start(const char *dir, struct server_env *env, const struct seal_how *how,
                        const struct control_hooks *hooks, struct control **out);
/* Stop the thread, remove the socket.  NULL: nothing. */
void control_stop(struct control *c);
/* Seal: run the sealing hook, wipe every cache and the root key.  Takes
 * env->seal_lock itself.  Also what the server does when it stops. */
void control_seal(struct control *c);

/* Whether a server answers on DIR/control.sock (tresor rotate-root-key
 * refuses to run beside one). */
bool control_answers(const char *dir);

/* The client: send cmd ("unseal" or "seal", with pass for unseal) to the
 * server of dir; reply receives its line without "ok "/"error ", *ok
 * whether it was "ok". */
TR_RESULT control_call(const char *dir, const char *cmd, const uint8_t *pass, size_t n, char *reply,
                       size_t nreply, bool *ok);

#endif
