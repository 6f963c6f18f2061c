/*
 * control.c -- the control socket: unseal and seal a running server
 * (contract and protocol in control.h; the design in docs/internals/SEAL.md).
 *
 * Who may talk to it: the socket file is made with mode 0600 (umask set
 * around bind, chmod after) in the data dir, which is 0700, and every
 * connection's peer uid is checked with SO_PEERCRED against the server's
 * own -- the file mode alone would let root-owned or inherited descriptors
 * through, and a check of the peer costs nothing.
 *
 * Unseal derives the key-encryption key (Argon2id, about 64 MiB and a
 * fraction of a second) before taking the seal lock, so requests already
 * refused as sealed are not held up by the derivation; only the swap of
 * env->kr and the hooks run under the lock.  A wrong passphrase is counted
 * (the count since start is in the log line and the reply) and changes
 * nothing.  Seal takes the lock exclusively -- every request holds it
 * shared, so it waits for those in flight -- runs the sealing hook (the
 * audit log's keys), wipes every per-thread cache (signing keys and key
 * material derived from the root key) and frees the keyring, which wipes
 * the root key.
 *
 * The pkcs11 seal unseals the same way with the token's PIN: a session is
 * opened on the token, the root key unwrapped there, the session closed.
 *
 * The passphrase (or PIN) crosses the socket in the clear: it never leaves the
 * host, and only the owner can connect.  It is wiped from every buffer
 * once used.
 */
#include "http/control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/cache.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/secmem.h"
#include "crypto/seal.h"

#define REQUEST_MAX (16 + SEAL_PASSPHRASE_MAX + 2)

struct control {
    struct server_env *env;
    struct control_hooks hooks;
    struct seal_how how;            /* the seal's kind and token; never a secret */
    char dir[PATH_MAX];
    char path[PATH_MAX + 32];
    int fd, wake[2];
    pthread_t thread;
    bool running;
    unsigned refused;               /* wrong passphrases since start */
};

/* addr for dir/control.sock; through /proc/self/fd/<dirfd> when the path
 * does not fit sun_path (108 bytes): *dirfd then stays open for the call. */
static TR_RESULT socket_addr(const char *dir, struct sockaddr_un *addr, int *dirfd)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    *dirfd = -1;
    int n = snprintf(addr->sun_path, sizeof addr->sun_path, "%s/%s", dir, CONTROL_SOCKET);
    if (n > 0 && (size_t)n < sizeof addr->sun_path) return TR_OK;
    *dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0) BAIL(TR_E_INTERNAL, "cannot open %s: %s", dir, strerror(errno));
    /* fits: 14 + an int + 13 bytes, in sun_path's 108 */
    snprintf(addr->sun_path, sizeof addr->sun_path, "/proc/self/fd/%d/%s", *dirfd, CONTROL_SOCKET);
    return TR_OK;
}

static void reply(int fd, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply(int fd, bool ok, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n = snprintf(line, sizeof line, "%s ", ok ? "ok" : "error");
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);   /* cut: one line */
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m < sizeof line - (size_t)n - 1 ? (size_t)m
                                                  : sizeof line - (size_t)n - 2);
    line[len++] = '\n';
    (void)!send(fd, line, len, MSG_NOSIGNAL);
}

void control_seal(struct control *c)
{
    if (!c) return;
    struct server_env *env = c->env;
    pthread_rwlock_wrlock(env->seal_lock);
    if (env->kr) {
        if (c->hooks.sealing) c->hooks.sealing(c->hooks.arg);
        cache_wipe_all_threads();
        keyring_free(env->kr);
        env->kr = NULL;
        metrics_set_sealed(true);
    }
    pthread_rwlock_unlock(env->seal_lock);
}

static void do_unseal(struct control *c, int fd, const uint8_t *pass, size_t n)
{
    struct server_env *env = c->env;
    struct keyring *kr = NULL;
    bool wrong = false, already;

    pthread_rwlock_rdlock(env->seal_lock);
    already = env->kr != NULL;
    pthread_rwlock_unlock(env->seal_lock);
    if (already) {
        reply(fd, true, "already unsealed");
        return;
    }
    struct seal_how how = c->how;
    how.secret = pass;
    how.secret_len = n;
    tr_result opened = seal_open_how(c->dir, &how, &wrong, &kr);
    how.secret = NULL;
    if (tr_failed(opened)) {
        if (wrong) {
            const char *what = c->how.kind == SEAL_PKCS11 ? "PIN" : "passphrase";
            c->refused++;
            log_msg("warn", "unseal refused: wrong %s (%u refused since start); still sealed", what, c->refused);
            reply(fd, false, "wrong %s (%u refused since start); tresor stays sealed", what, c->refused);
        } else {
            log_msg("error", "unseal failed: %s", tr_last_error()->message);
            reply(fd, false, "%s; tresor stays sealed", tr_last_error()->message);
        }
        return;
    }
    pthread_rwlock_wrlock(env->seal_lock);
    env->kr = kr;
    tr_result r = c->hooks.unsealed ? c->hooks.unsealed(c->hooks.arg) : TR_OK;
    if (tr_failed(r)) {
        env->kr = NULL;
        cache_wipe_all_threads();
        keyring_free(kr);
    }
    metrics_set_sealed(tr_failed(r));
    pthread_rwlock_unlock(env->seal_lock);
    if (tr_failed(r)) {
        log_msg("error", "unseal failed: %s; still sealed", tr_last_error()->message);
        reply(fd, false, "%s; tresor stays sealed", tr_last_error()->message);
        return;
    }
    log_msg("info", "unsealed: serving requests");
    reply(fd, true, "unsealed");
}

/* One connection: check the peer, read the request, act, answer. */
static void serve_one(struct control *c, int fd)
{
    struct ucred cred;
    socklen_t clen = sizeof cred;
    struct buf req = BUF_SECRET(REQUEST_MAX);
    uint8_t chunk[256];
    struct timeval tv = { 5, 0 };       /* a client that sends nothing does not hold the socket */

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || cred.uid != geteuid()) {
        log_msg("warn", "control socket: refused a connection of uid %ld (only the server's owner, "
                "uid %ld, may use it)", (long)(clen == sizeof cred ? (long)cred.uid : -1L), (long)geteuid());
        reply(fd, false, "refused: only the server's owner may use its control socket");
        return;
    }
    for (;;) {
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        if (req.len + (size_t)got > REQUEST_MAX || tr_failed(buf_append(&req, chunk, (size_t)got))) {
            secure_zero(chunk, sizeof chunk);
            reply(fd, false, "request too long");
            buf_free(&req);
            return;
        }
    }
    secure_zero(chunk, sizeof chunk);
    const uint8_t *nl = req.len ? memchr(req.data, '\n', req.len) : NULL;
    size_t cmd_len = nl ? (size_t)(nl - req.data) : req.len;
    const uint8_t *rest = nl ? nl + 1 : req.data + req.len;
    size_t rest_len = req.len - (size_t)(rest - req.data);
    if (cmd_len == 6 && memcmp(req.data, "unseal", 6) == 0) {
        if (rest_len == 0) reply(fd, false, "no %s given", c->how.kind == SEAL_PKCS11 ? "PIN" : "passphrase");
        else do_unseal(c, fd, rest, rest_len);
    } else if (cmd_len == 4 && memcmp(req.data, "seal", 4) == 0) {
        bool was;
        pthread_rwlock_rdlock(c->env->seal_lock);
        was = c->env->kr != NULL;
        pthread_rwlock_unlock(c->env->seal_lock);
        control_seal(c);
        if (was) log_msg("info", "sealed: the root key and everything derived from it wiped; requests "
                         "answered 503 until tresor unseal");
        reply(fd, true, "%s", was ? "sealed" : "already sealed");
    } else {
        reply(fd, false, "unknown command (unseal or seal)");
    }
    buf_free(&req);
}

static void *control_thread(void *arg)
{
    struct control *c = arg;
    for (;;) {
        struct pollfd p[2] = { { c->fd, POLLIN, 0 }, { c->wake[0], POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            log_msg("error", "control socket: poll: %s", strerror(errno));
            return NULL;
        }
        if (p[1].revents) return NULL;
        if (!(p[0].revents & POLLIN)) continue;
        int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        serve_one(c, fd);
        close(fd);
    }
}

TR_RESULT control_start(const char *dir, struct server_env *env, const struct seal_how *how,
                        const struct control_hooks *hooks, struct control **out)
{
    struct sockaddr_un addr;
    int dirfd = -1;
    tr_result r = TR_OK;
    struct control *c = calloc(1, sizeof *c);
    if (!c) BAIL(TR_E_INTERNAL, "out of memory");
    c->fd = c->wake[0] = c->wake[1] = -1;
    c->env = env;
    if (hooks) c->hooks = *hooks;
    if (how) c->how = *how;
    c->how.secret = NULL;
    c->how.secret_len = 0;
    if (!dir || !env || !env->seal_lock || !how) {
        free(c);
        BAIL(TR_E_INTERNAL, "control socket: no data dir or seal lock");
    }
    int k = snprintf(c->dir, sizeof c->dir, "%s", dir);
    int k2 = snprintf(c->path, sizeof c->path, "%s/%s", dir, CONTROL_SOCKET);
    if (k < 0 || (size_t)k >= sizeof c->dir || k2 < 0 || (size_t)k2 >= sizeof c->path) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "data directory path is too long");
        goto fail;
    }
    r = socket_addr(dir, &addr, &dirfd);
    if (tr_failed(r)) goto fail;
    /* Another server on this data dir still answers: refuse, do not steal
     * its socket.  Otherwise a stale socket file of a crash is removed. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0) {
        close(probe);
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "another tresor serves %s (its %s answers)",
                       dir, c->path);
        goto fail;
    }
    if (probe >= 0) close(probe);
    (void)unlink(addr.sun_path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || pipe2(c->wake, O_CLOEXEC) != 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "control socket: %s", strerror(errno));
        goto fail;
    }
    mode_t old = umask(0177);           /* 0600 from the start: never a moment with more */
    int b = bind(c->fd, (struct sockaddr *)&addr, sizeof addr);
    int e = errno;
    umask(old);
    if (b != 0 || chmod(addr.sun_path, 0600) != 0 || listen(c->fd, 4) != 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "control socket %s: %s", c->path,
                       strerror(b != 0 ? e : errno));
        goto fail;
    }
    if (pthread_create(&c->thread, NULL, control_thread, c) != 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "control socket: cannot start its thread");
        goto fail;
    }
    c->running = true;
    if (dirfd >= 0) close(dirfd);
    *out = c;
    return TR_OK;
fail:
    if (dirfd >= 0) close(dirfd);
    if (c->fd >= 0) close(c->fd);
    if (c->wake[0] >= 0) close(c->wake[0]);
    if (c->wake[1] >= 0) close(c->wake[1]);
    free(c);
    return r;
}

void control_stop(struct control *c)
{
    if (!c) return;
    if (c->running) {
        (void)!write(c->wake[1], "x", 1);
        pthread_join(c->thread, NULL);
    }
    close(c->fd);
    close(c->wake[0]);
    close(c->wake[1]);
    (void)unlink(c->path);
    free(c);
}

TR_RESULT control_call(const char *dir, const char *cmd, const uint8_t *pass, size_t n, char *out,
                       size_t nout, bool *ok)
{
    struct sockaddr_un addr;
    int dirfd = -1, fd = -1;
    tr_result r = TR_OK;
    char line[600];
    size_t got = 0;

    ENSURE(dir && cmd && out && nout && ok, TR_E_INTERNAL);
    *ok = false;
    out[0] = '\0';
    GUARD(socket_addr(dir, &addr, &dirfd));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "no server answers on %s/%s (%s): is tresor serve "
                       "running on this data dir with the passphrase or pkcs11 seal?", dir, CONTROL_SOCKET,
                       strerror(errno));
        goto done;
    }
    bool sent = send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) == (ssize_t)strlen(cmd) &&
                send(fd, "\n", 1, MSG_NOSIGNAL) == 1;
    for (size_t off = 0; sent && pass && off < n;) {
        ssize_t w = send(fd, pass + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) sent = false;
        else off += (size_t)w;
    }
    if (!sent || shutdown(fd, SHUT_WR) != 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "cannot send to %s/%s: %s", dir, CONTROL_SOCKET,
                       strerror(errno));
        goto done;
    }
    while (got < sizeof line - 1) {
        ssize_t k = recv(fd, line + got, sizeof line - 1 - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    line[got] = '\0';
    char *end = strchr(line, '\n');
    if (!end) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "no answer from the server on %s/%s", dir,
                       CONTROL_SOCKET);
        goto done;
    }
    *end = '\0';
    const char *text = line;
    if (strncmp(line, "ok ", 3) == 0) { *ok = true; text = line + 3; }
    else if (strncmp(line, "error ", 6) == 0) text = line + 6;
    snprintf(out, nout, "%s", text);    /* cut: a message for people */
done:
    if (fd >= 0) close(fd);
    if (dirfd >= 0) close(dirfd);
    return r;
}

bool control_answers(const char *dir)
{
    struct sockaddr_un addr;
    int dirfd = -1;
    bool yes = false;
    if (tr_failed(socket_addr(dir, &addr, &dirfd))) {
        tr_clear_error();
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        yes = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
        close(fd);
    }
    if (dirfd >= 0) close(dirfd);
    return yes;
}
