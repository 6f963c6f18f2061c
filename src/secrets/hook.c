/*
 * hook.c -- run one rotation hook (hook.h; the interface as users see it:
 * docs/ROTATION.md).
 *
 * The process: posix_spawn, never a shell, with argv {DIR/NAME} and the
 * environment the caller built (nothing of the server's own is passed
 * on).  Its standard input is a Unix socket (a socket pair) that carries
 * the event and is then closed; standard output goes to /dev/null; standard error is a pipe
 * read into a capped buffer.  It runs in a new process group with the
 * default signal dispositions and an empty signal mask (the server
 * ignores SIGPIPE and blocks SIGINT/SIGTERM/SIGHUP in its threads; a
 * hook must not inherit that).  At the time limit the whole group gets
 * SIGKILL, so a hook's own children die with it.  Whatever happens the
 * child is reaped here, and every descriptor opened here is closed
 * (all are O_CLOEXEC, so a hook started by another thread at the same
 * time inherits none of them).
 */
#include "secrets/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/str.h"

bool sm_hook_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > SM_HOOK_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

bool sm_hook_parse_arn(const char *arn, char *name, char *region, char *account)
{
    static const char PREFIX[] = "arn:aws:lambda:";
    if (!arn || strncmp(arn, PREFIX, sizeof PREFIX - 1) != 0) return false;
    const char *p = arn + sizeof PREFIX - 1;
    const char *c1 = strchr(p, ':');
    if (!c1 || c1 == p || (size_t)(c1 - p) >= 64) return false;
    const char *acct = c1 + 1, *c2 = strchr(acct, ':');
    if (!c2 || c2 - acct != 12) return false;
    for (const char *q = acct; q < c2; q++)
        if (*q < '0' || *q > '9') return false;
    if (strncmp(c2 + 1, "function:", 9) != 0) return false;
    const char *fn = c2 + 10, *c3 = strchr(fn, ':');
    size_t fl = c3 ? (size_t)(c3 - fn) : strlen(fn);
    if (fl < 1 || fl > SM_HOOK_NAME_MAX) return false;
    if (c3 && (!c3[1] || strchr(c3 + 1, ':'))) return false;      /* one qualifier at most */
    memcpy(name, fn, fl);
    name[fl] = '\0';
    if (!sm_hook_name_ok(name)) return false;
    memcpy(region, p, (size_t)(c1 - p));
    region[c1 - p] = '\0';
    memcpy(account, acct, 12);
    account[12] = '\0';
    return true;
}

static bool hook_path(const char *dir, const char *name, char *path, size_t n)
{
    if (!dir || !sm_hook_name_ok(name)) return false;
    return tr_ok(str_format(path, n, "hook path", "%s/%s", dir, name));
}

bool sm_hook_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat sb;
    if (!hook_path(dir, name, path, sizeof path)) return false;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Start the child: stdin from in_r, stdout /dev/null, stderr to err_w. */
static int spawn(const char *path, int in_r, int err_w, int devnull, char *const envp[], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    char *argv[] = { (char *)path, NULL };
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) return rc;
    rc = posix_spawnattr_init(&at);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGCHLD);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, in_r, 0);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, devnull, 1);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    if (!rc) rc = posix_spawnattr_setpgroup(&at, 0);
    if (!rc) rc = posix_spawnattr_setsigmask(&at, &none);
    if (!rc) rc = posix_spawnattr_setsigdefault(&at, &def);
    if (!rc) rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF);
    if (!rc) rc = posix_spawn(pid, path, &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* Keep what fits of n bytes of standard error; count them all. */
static void keep_err(struct sm_hook_result *out, const char *b, size_t n)
{
    size_t have = strlen(out->err), room = SM_HOOK_STDERR_MAX - have;
    size_t k = n < room ? n : room;
    memcpy(out->err + have, b, k);
    out->err[have + k] = '\0';
    out->err_total += n;
}

TR_RESULT sm_hook_run(const char *dir, const char *name, const char *event, size_t len,
                      char *const envp[], unsigned timeout_ms, struct sm_hook_result *out)
{
    char path[4096], b[1024];
    int in[2] = { -1, -1 }, err[2] = { -1, -1 }, devnull = -1, status = 0;
    pid_t pid = -1;
    size_t sent = 0;
    tr_result r = TR_OK;

    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    if (!hook_path(dir, name, path, sizeof path)) BAIL(TR_E_INTERNAL, "bad rotation hook name");
    /* posix_spawn reports a failed exec only where the child shares the
     * parent's memory until it execs (glibc's CLONE_VFORK); where it does
     * not (under valgrind, for one) a missing file would look like a hook
     * that ran and exited 127.  Check first, whatever the platform. */
    if (!sm_hook_exists(dir, name)) BAIL(TR_E_INTERNAL, "rotation hook %s is not an executable file", name);
    /* stdin is one end of a socket pair, so that the event is sent with
     * MSG_NOSIGNAL: a hook that exits without reading it is no SIGPIPE
     * for whoever runs us. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
        (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "pipe: %s", strerror(errno));
        goto fail;
    }
    int rc = spawn(path, in[0], err[1], devnull, envp, &pid);
    if (rc) {
        pid = -1;
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "posix_spawn %s: %s", name, strerror(rc));
        goto fail;
    }
    close_fd(&in[0]);
    close_fd(&err[1]);
    close_fd(&devnull);
    if (fcntl(in[1], F_SETFL, O_NONBLOCK) != 0 || fcntl(err[0], F_SETFL, O_NONBLOCK) != 0) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, "fcntl: %s", strerror(errno));
        goto fail;
    }
    if (len == 0) close_fd(&in[1]);

    /* Feed stdin, drain stderr, until stderr's EOF or the time limit. */
    int64_t deadline = mono_ms() + timeout_ms;
    while (err[0] >= 0) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            out->timed_out = true;
            break;
        }
        struct pollfd pf[2] = { { err[0], POLLIN, 0 }, { in[1], POLLOUT, 0 } };
        int np = in[1] >= 0 ? 2 : 1;
        int n = poll(pf, (nfds_t)np, left > 100 ? 100 : (int)left);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (np == 2 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = send(in[1], event + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) sent += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == len) close_fd(&in[1]);
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = read(err[0], b, sizeof b);
            if (k > 0) keep_err(out, b, (size_t)k);
            else if (k == 0 || (errno != EAGAIN && errno != EINTR)) close_fd(&err[0]);
        }
    }
    /* The child may have closed stderr and still run: wait for it, within
     * the limit. */
    while (!out->timed_out) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            pid = -1;
            break;
        }
        if (w < 0 && errno != EINTR) break;
        if (mono_ms() >= deadline) {
            out->timed_out = true;
            break;
        }
        struct timespec ten = { 0, 10 * 1000000 };
        nanosleep(&ten, NULL);
    }
fail:
    if (pid > 0) {
        /* Timed out (or an error after the start): the whole group dies. */
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        pid = -1;
        if (tr_ok(r) && !out->timed_out) out->timed_out = true;
    } else if (tr_ok(r)) {
        if (WIFEXITED(status)) out->exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status)) out->signal = WTERMSIG(status);
    }
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&err[0]);
    close_fd(&err[1]);
    close_fd(&devnull);
    return r;
}
