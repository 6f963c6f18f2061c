/*
 * rotation.c -- RotateSecret and CancelRotateSecret, with hooks in place of
 * Lambda functions (rotation.h; docs/ROTATION.md says it for users).
 *
 * The protocol, as AWS runs it (RotateSecret in the API reference, and
 * "How rotation works"):
 *  1. RotateSecret authorizes secretsmanager:RotateSecret with its keys
 *     (RotationLambdaARN, RotateImmediately, ModifyRotationRules) and then
 *     lambda:InvokeFunction on the function (AWS asks the caller for it;
 *     there is no Lambda service here, so it is asked of the caller's own
 *     policies), stores the function and the rules, and gives the
 *     ClientRequestToken's version the label AWSPENDING -- a version with
 *     no value yet, which the function's createSecret fills with
 *     PutSecretValue.  That commits, and only then does the rotation
 *     start, in a thread of its own: the request's transaction and its
 *     locks are gone before any hook runs.  RotateSecret answers at once
 *     with the version id, as AWS answers once it started the Lambda.
 *  2. The rotation runs createSecret, setSecret, testSecret, finishSecret,
 *     each one hook invocation (hook.h); the first failure stops it, with
 *     its standard error in the server log, and leaves AWSPENDING where it
 *     is.  After finishSecret the version must hold AWSCURRENT: then
 *     LastRotatedDate is set and NextRotationDate computed from the rules
 *     (schedule.h).
 *  3. While AWSPENDING is on a version other than AWSCURRENT's, a
 *     RotateSecret fails with AWS's InvalidRequestException "A previous
 *     rotation isn't complete. That rotation will be reattempted." -- and,
 *     unless that rotation is still running, reattempts it with the same
 *     token, as AWS does.
 * The hooks run with temporary credentials of the function's execution
 * role (DIR/NAME.role), made as Lambda's AssumeRole would make them
 * (iam/sts.h sts_service_session), so their calls are authorized as that
 * role's.  Credentials and the event never reach the log; the environment
 * strings that hold them are wiped after the rotation.
 *
 * One rotation of a secret at a time, in this process: the running ones
 * are kept in a list under a mutex.  A cancel marks the running one, which
 * stops before its next step.  Across the nodes that share a store, a
 * lease in the store says which node runs a secret's rotation (lease.h).
 */
#include "secrets/rotation.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/errors.h"
#include "core/hex.h"
#include "audit/audit.h"
#include "core/cache.h"
#include "core/json.h"
#include "core/log.h"
#include "core/secmem.h"
#include "core/str.h"
#include "crypto/rand.h"
#include "iam/sts.h"
#include "op/clock.h"
#include "secrets/authz.h"
#include "secrets/describe.h"
#include "secrets/hook.h"
#include "secrets/lease.h"
#include "secrets/lookup.h"
#include "secrets/manage.h"
#include "secrets/params.h"
#include "secrets/replication.h"
#include "secrets/schedule.h"
#include "secrets/secrets.h"
#include "secrets/values.h"

#define MSG_IN_PROGRESS "A previous rotation isn't complete. That rotation will be reattempted."
#define MSG_NO_LAMBDA   "No Lambda rotation function ARN is associated with this secret."
#define MSG_CANT_INVOKE "Secrets Manager cannot invoke the specified Lambda function. Ensure that the " \
                        "function policy grants access to the principal secretsmanager.amazonaws.com."
#define LAMBDA_SERVICE  "lambda.amazonaws.com"

/* ---- the configuration and the running rotations ---------------------------- */

struct job {
    char *arn;                  /* the secret */
    char *token;                /* the AWSPENDING version */
    char *lambda;               /* the function's ARN */
    bool cancelled;
    bool lease_later;           /* take the lease in the worker (a reattempt) */
    struct job *next;
};

static struct {
    const struct server_env *env;
    char *dir;
    char *endpoint;
    char *ca_bundle;            /* AWS_CA_BUNDLE for the hooks, or NULL */
    unsigned timeout_s;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    struct job *running;
    struct job *queued;         /* to start when the running one of their secret ends */
    unsigned nthreads;
    bool stopping;
    char node[17];              /* this process's name in the leases (random) */
} R = { .mu = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER };

static void job_free(struct job *j);

TR_RESULT sm_rotation_configure(const struct server_env *env, const char *dir, unsigned timeout_s,
                                const char *endpoint, const char *ca_bundle)
{
    R.env = env;
    R.timeout_s = timeout_s ? timeout_s : SM_ROTATION_TIMEOUT_DEFAULT;
    free(R.dir);
    free(R.endpoint);
    free(R.ca_bundle);
    R.dir = dir ? strdup(dir) : NULL;
    R.endpoint = endpoint ? strdup(endpoint) : NULL;
    R.ca_bundle = ca_bundle ? strdup(ca_bundle) : NULL;
    if (!R.node[0]) {
        uint8_t id[8];
        GUARD(rand_bytes(id, sizeof id));
        hex_encode(id, sizeof id, R.node);
    }
    ENSURE((!dir || R.dir) && (!endpoint || R.endpoint) && (!ca_bundle || R.ca_bundle), TR_E_INTERNAL);
    return TR_OK;
}

void sm_rotation_stop(void)
{
    pthread_mutex_lock(&R.mu);
    R.stopping = true;
    for (struct job *j = R.running; j; j = j->next) j->cancelled = true;
    while (R.nthreads) pthread_cond_wait(&R.idle, &R.mu);
    while (R.queued) {
        struct job *q = R.queued;
        R.queued = q->next;
        job_free(q);
    }
    free(R.dir);
    free(R.endpoint);
    free(R.ca_bundle);
    R.dir = R.endpoint = R.ca_bundle = NULL;
    pthread_mutex_unlock(&R.mu);
}

static void job_free(struct job *j)
{
    if (!j) return;
    free(j->arn);
    free(j->token);
    free(j->lambda);
    free(j);
}

static void job_drop(void *arg)
{
    job_free(arg);
}

/* Under R.mu: the running rotation of arn, or NULL. */
static struct job *running_locked(const char *arn)
{
    for (struct job *j = R.running; j; j = j->next)
        if (strcmp(j->arn, arn) == 0) return j;
    return NULL;
}

static bool is_running(const char *arn)
{
    pthread_mutex_lock(&R.mu);
    bool yes = running_locked(arn) != NULL;
    pthread_mutex_unlock(&R.mu);
    return yes;
}

/* ---- the rotation lease ----------------------------------------------------------- */

/* Across the nodes of one store, lease.h: taken in the write transaction
 * that starts a rotation (RotateSecret's new version, the scheduler's);
 * a reattempt starts after its request rolled back (the request fails),
 * so its worker takes the lease in a transaction of its own before the
 * first step.  It lasts four step limits and a margin, and is released
 * when the job ends, whichever way. */
#define LEASE_MARGIN 60

static bool lease_foreign(store_t st, const char *arn)
{
    return sm_lease_foreign(st, arn, R.node, (int64_t)time(NULL));
}

static TR_RESULT lease_take(store_t st, const char *arn, const char *token)
{
    int64_t until = (int64_t)time(NULL) + 4 * (int64_t)R.timeout_s + LEASE_MARGIN;
    return sm_lease_take(st, arn, R.node, token, until);
}

/* In a transaction of its own: take the lease for j unless another node
 * holds it (*got says which). */
static TR_RESULT lease_take_alone(const struct job *j, bool *got)
{
    store_t st = R.env->st;
    *got = false;
    GUARD(st[0]->tx_begin(st));
    tr_result r = TR_OK;
    if (!lease_foreign(st, j->arn)) {
        r = lease_take(st, j->arn, j->token);
        *got = tr_ok(r);
    }
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_failed(r)) {
        st[0]->tx_rollback(st);
        *got = false;
    }
    return r;
}

/* In a transaction of its own: release j's lease if it is still j's. */
static TR_RESULT lease_release(const struct job *j)
{
    store_t st = R.env->st;
    GUARD(st[0]->tx_begin(st));
    tr_result r = sm_lease_release(st, j->arn, R.node, j->token);
    if (tr_ok(r)) r = st[0]->tx_commit(st);
    if (tr_failed(r)) st[0]->tx_rollback(st);
    return r;
}

/* ---- one rotation, in its own thread ------------------------------------------ */

static TR_RESULT set_next(store_t st, struct secret *s, int64_t next);
static int64_t next_of(json_t *doc, int64_t after);

/* Run f with the server's shared holds, as a request would have them. */
static void hold(bool take)
{
    const struct server_env *env = R.env;
    if (take) {
        if (env->dev) env->dev->enter(env->dev->state);
        if (env->seal_lock) pthread_rwlock_rdlock(env->seal_lock);
    } else {
        if (env->seal_lock) pthread_rwlock_unlock(env->seal_lock);
        if (env->dev) env->dev->leave(env->dev->state);
    }
}

/* A request context for the rotation's own store work. */
static void worker_rc(struct req_ctx *rc)
{
    memset(rc, 0, sizeof *rc);
    rc->env = R.env;
    rc->st = R.env->st;
    rc->kr = R.env->kr;
    rc->now = tr_now();
    rc->writing = true;
}

/* The execution role's ARN, from DIR/NAME.role (its first line). */
static TR_RESULT read_role(const char *name, char *out, size_t n)
{
    char path[4096];
    GUARD(str_format(path, sizeof path, "role file", "%s/%s.role", R.dir, name));
    FILE *f = fopen(path, "r");
    ENSURE(f != NULL, TR_E_STORE_NOT_FOUND);
    char *ok = fgets(out, (int)n, f);
    fclose(f);
    ENSURE(ok != NULL, TR_E_STORE_NOT_FOUND);
    out[strcspn(out, " \t\r\n")] = '\0';
    ENSURE(out[0] != '\0', TR_E_STORE_NOT_FOUND);
    return TR_OK;
}

/* Credentials of the role for the function, in a transaction of their own. */
static TR_RESULT role_session(const char *role_arn, const char *fn, struct sts_creds *c)
{
    struct req_ctx rc;
    worker_rc(&rc);
    ENSURE(rc.kr != NULL, TR_E_INTERNAL);           /* sealed meanwhile */
    GUARD(rc.st[0]->tx_begin(rc.st));
    int64_t life = 4 * (int64_t)R.timeout_s + 900;
    tr_result r = sts_service_session(&rc, role_arn, LAMBDA_SERVICE, fn, life, c);
    if (tr_ok(r)) r = rc.st[0]->tx_commit(rc.st);
    if (tr_failed(r)) rc.st[0]->tx_rollback(rc.st);
    return r;
}

/* Log what a hook wrote to standard error, one line each (never more
 * than SM_HOOK_STDERR_MAX bytes of it). */
static void log_stderr(const char *fn, const char *step, const char *err)
{
    const char *p = err;
    while (*p) {
        size_t n = strcspn(p, "\n");
        if (n) log_msg("warn", "rotation hook %s %s: %.*s", fn, step, (int)n, p);
        p += n;
        if (*p == '\n') p++;
    }
}

/* What the server writes itself (not through a request) reaches the
 * replicas of a primary in the same transaction (replication.c): here
 * labels, dates and a new AWSPENDING without a value, so no KMS call. */
static TR_RESULT follow(struct req_ctx *rc, const struct secret *s)
{
    if (!sm_replicas(s)) return TR_OK;
    GUARD(str_copy(rc->region, sizeof rc->region, s->region, "the region"));
    return sm_replicas_sync(rc, s->arn);
}

/* After finishSecret: the version holds AWSCURRENT?  Then record the
 * rotation's dates. */
static TR_RESULT record_done(const struct job *j, bool *current)
{
    struct req_ctx rc;
    struct ent_rec e = { 0 };
    struct secret s;
    memset(&s, 0, sizeof s);
    *current = false;
    worker_rc(&rc);
    GUARD(rc.st[0]->tx_begin(rc.st));
    tr_result r = rc.st[0]->ent_get_arn(rc.st, SM_KIND, j->arn, &e);
    if (tr_ok(r)) r = sm_load(rc.st, &e, &s);
    struct secret_version *v = tr_ok(r) ? sm_version_by_id(&s, j->token) : NULL;
    *current = v && sm_version_has_stage(v, SM_CURRENT);
    if (tr_ok(r) && *current) {
        double now = sm_now(&rc);
        /* The rotation is complete: AWSPENDING leaves the version. */
        if (sm_version_has_stage(v, SM_PENDING)) {
            sm_stage_remove(v, SM_PENDING);
            r = sm_version_save(rc.st, &s, v);
        }
        if (tr_ok(r)) r = sm_set(s.doc, "last_rotated", json_real((double)(int64_t)now));
        if (tr_ok(r)) r = set_next(rc.st, &s, next_of(s.doc, (int64_t)now));
        if (tr_ok(r)) r = sm_save(rc.st, &s, false);
        if (tr_ok(r)) r = follow(&rc, &s);
    }
    if (tr_ok(r)) r = rc.st[0]->tx_commit(rc.st);
    if (tr_failed(r)) rc.st[0]->tx_rollback(rc.st);
    secret_free(&s);
    ent_rec_free(&e);
    return r;
}

static bool cancelled(const struct job *j)
{
    pthread_mutex_lock(&R.mu);
    bool c = j->cancelled;
    pthread_mutex_unlock(&R.mu);
    return c;
}

/* Environment strings: "K=V", owned; wiped and freed by env_free. */
static char *env_kv(const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = malloc(n);
    if (s) (void)snprintf(s, n, "%s=%s", k, v);     /* fits: sized for both */
    return s;
}

static void env_free(char **envp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (envp[i]) {
            secure_zero(envp[i], strlen(envp[i]));
            free(envp[i]);
        }
}

/* With --audit-log: one line per step, as for a request that Secrets
 * Manager made of the function (operation "RotationHook", action
 * lambda:InvokeFunction, on the secret and the function): the step, how
 * the hook ended and its standard error (what the server log has too). */
static void audit_step(const struct job *j, const char *fn, const char *step,
                       const struct sm_hook_result *hr, bool ok)
{
    struct principal who;
    struct audit_req q;
    char rid[37];
    hold(true);
    if (!R.env->audit || tr_failed(rand_uuid(rid))) {
        hold(false);
        return;
    }
    memset(&who, 0, sizeof who);
    memset(&q, 0, sizeof q);
    STR_SET(who.arn, "secretsmanager.amazonaws.com");
    q.log = R.env->audit;
    q.request_id = rid;
    q.operation = "RotationHook";
    q.action = "lambda:InvokeFunction";
    q.who = &who;
    q.reached = true;
    q.input = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:b, s:s}", "Step", step, "SecretId", j->arn,
                        "ClientRequestToken", j->token, "FunctionName", fn, "ExitCode", hr->exit_code,
                        "Signal", hr->signal, "TimedOut", hr->timed_out, "Stderr", hr->err);
    q.resources = json_pack("[s, s]", j->arn, j->lambda);
    if (!q.input || !q.resources || tr_failed(audit_req_write(&q, ok ? NULL : "RotationStepFailed")))
        log_msg("error", "rotation of %s: the audit line of %s was not written", j->arn, step);
    hold(false);
    json_decref(q.input);
    q.input = NULL;
    audit_req_free(&q);
}

static void run_steps(const struct job *j)
{
    static const char *const STEPS[] = { "createSecret", "setSecret", "testSecret", "finishSecret" };
    char fn[SM_HOOK_NAME_MAX + 1], region[64], account[13], role[2100], rtoken[37];
    struct sts_creds c;
    char *envp[16] = { 0 };
    size_t ne = 0;
    bool ok = false;
    memset(&c, 0, sizeof c);

    if (!sm_hook_parse_arn(j->lambda, fn, region, account)) goto done;
    hold(true);
    tr_result r = read_role(fn, role, sizeof role);
    if (tr_ok(r)) r = role_session(role, fn, &c);
    hold(false);
    if (tr_failed(r)) {
        log_msg("error", "rotation of %s: no credentials of the execution role of %s (%s.role): "
                "it must exist and trust %s", j->arn, fn, fn, LAMBDA_SERVICE);
        goto done;
    }
    const char *tok = (const char *)c.token.data;
    envp[ne++] = env_kv("PATH", "/usr/local/bin:/usr/bin:/bin");
    envp[ne++] = env_kv("LANG", "C.UTF-8");
    envp[ne++] = env_kv("AWS_REGION", region);
    envp[ne++] = env_kv("AWS_DEFAULT_REGION", region);
    envp[ne++] = env_kv("AWS_ENDPOINT_URL", R.endpoint ? R.endpoint : "");
    envp[ne++] = env_kv("SECRETS_MANAGER_ENDPOINT", R.endpoint ? R.endpoint : "");
    envp[ne++] = env_kv("AWS_LAMBDA_FUNCTION_NAME", fn);
    if (R.ca_bundle) envp[ne++] = env_kv("AWS_CA_BUNDLE", R.ca_bundle);
    envp[ne++] = env_kv("AWS_ACCESS_KEY_ID", c.akid);
    envp[ne++] = env_kv("AWS_SECRET_ACCESS_KEY", c.secret);
    envp[ne++] = env_kv("AWS_SESSION_TOKEN", tok ? tok : "");
    sts_creds_wipe(&c);
    for (size_t i = 0; i < ne; i++)
        if (!envp[i]) goto done;
    if (tr_failed(rand_uuid(rtoken))) goto done;

    for (size_t i = 0; i < 4; i++) {
        if (cancelled(j)) {
            log_msg("info", "rotation of %s cancelled before %s", j->arn, STEPS[i]);
            goto done;
        }
        json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "Step", STEPS[i], "SecretId", j->arn,
                               "ClientRequestToken", j->token, "RotationToken", rtoken);
        char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        json_decref(ev);
        if (!text) goto done;
        struct sm_hook_result *hr = calloc(1, sizeof *hr);
        r = hr ? sm_hook_run(R.dir, fn, text, strlen(text), envp, R.timeout_s * 1000u, hr)
               : tr_fail_at(__FILE__, __LINE__, TR_E_INTERNAL, NULL);
        free(text);
        if (tr_failed(r)) {
            log_msg("error", "rotation of %s: hook %s could not be started for %s", j->arn, fn, STEPS[i]);
            free(hr);
            goto done;
        }
        log_stderr(fn, STEPS[i], hr->err);
        bool step_ok = hr->exit_code == 0 && !hr->timed_out;
        audit_step(j, fn, STEPS[i], hr, step_ok);
        if (!step_ok) {
            if (hr->timed_out)
                log_msg("error", "rotation of %s failed: hook %s %s timed out after %u s", j->arn, fn,
                        STEPS[i], R.timeout_s);
            else if (hr->signal)
                log_msg("error", "rotation of %s failed: hook %s %s killed by signal %d", j->arn, fn,
                        STEPS[i], hr->signal);
            else
                log_msg("error", "rotation of %s failed: hook %s %s exited with %d", j->arn, fn, STEPS[i],
                        hr->exit_code);
            free(hr);
            goto done;
        }
        free(hr);
    }
    bool current = false;
    hold(true);
    r = record_done(j, &current);
    hold(false);
    if (tr_failed(r)) log_msg("error", "rotation of %s: recording its end failed", j->arn);
    else if (!current)
        log_msg("error", "rotation of %s failed: after finishSecret version %s is not AWSCURRENT", j->arn,
                j->token);
    else ok = true;
done:
    sts_creds_wipe(&c);
    secure_zero(role, sizeof role);
    env_free(envp, ne);
    if (ok) log_msg("info", "rotation of %s done: version %s is AWSCURRENT", j->arn, j->token);
}

/* Under R.mu: unlink j from the list *head. */
static void unlink_locked(struct job **head, struct job *j)
{
    for (struct job **p = head; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            j->next = NULL;
            return;
        }
}

/* Run j, then any rotation of the same secret queued meanwhile. */
static void *worker(void *arg)
{
    struct job *j = arg;
    while (j) {
        bool leased = true;
        if (j->lease_later) {
            hold(true);
            tr_result r = lease_take_alone(j, &leased);
            hold(false);
            if (tr_failed(r)) log_msg("error", "rotation of %s: taking its lease failed", j->arn);
            else if (!leased) log_msg("info", "rotation of %s: another node runs it", j->arn);
        }
        if (leased) {
            run_steps(j);
            hold(true);
            tr_result r = lease_release(j);
            hold(false);
            if (tr_failed(r)) log_msg("error", "rotation of %s: releasing its lease failed", j->arn);
        }
        pthread_mutex_lock(&R.mu);
        unlink_locked(&R.running, j);
        struct job *q = R.queued;
        while (q && strcmp(q->arn, j->arn) != 0) q = q->next;
        if (q && !R.stopping) {
            unlink_locked(&R.queued, q);
            q->next = R.running;
            R.running = q;
        } else {
            q = NULL;
            R.nthreads--;
            pthread_cond_broadcast(&R.idle);
        }
        pthread_mutex_unlock(&R.mu);
        job_free(j);
        j = q;
    }
    cache_thread_release();
    return NULL;
}

/* Start the rotation j (taking it), unless one of the same secret runs. */
static void start(void *arg)
{
    struct job *j = arg;
    pthread_t t;
    pthread_attr_t at;
    pthread_mutex_lock(&R.mu);
    struct job *other = running_locked(j->arn);
    if (!R.stopping && other && strcmp(other->token, j->token) != 0) {
        /* A new rotation committed while the last one is finishing (its
         * labels already say it is done): run it next, in that thread. */
        struct job *q = R.queued;
        while (q && strcmp(q->arn, j->arn) != 0) q = q->next;
        if (!q) {
            j->next = R.queued;
            R.queued = j;
            pthread_mutex_unlock(&R.mu);
            return;
        }
    }
    if (R.stopping || other) {
        pthread_mutex_unlock(&R.mu);
        job_free(j);
        return;
    }
    j->next = R.running;
    R.running = j;
    R.nthreads++;
    /* The thread blocks every signal: SIGINT, SIGTERM and SIGHUP are the
     * main loop's (sigtimedwait), whenever the rotation starts. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, worker, j);
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        R.running = j->next;
        R.nthreads--;
        pthread_cond_broadcast(&R.idle);
        pthread_mutex_unlock(&R.mu);
        log_msg("error", "rotation of %s: no thread: %s", j->arn, strerror(rc));
        job_free(j);
        return;
    }
    pthread_mutex_unlock(&R.mu);
}

static TR_RESULT job_new(const char *arn, const char *token, const char *lambda, struct job **out)
{
    struct job *j = calloc(1, sizeof *j);
    ENSURE(j != NULL, TR_E_INTERNAL);
    j->arn = strdup(arn);
    j->token = strdup(token);
    j->lambda = strdup(lambda);
    if (!j->arn || !j->token || !j->lambda) {
        job_free(j);
        BAIL0(TR_E_INTERNAL);
    }
    *out = j;
    return TR_OK;
}

/* ---- the schedule's index ------------------------------------------------------- */

/* Every secret with a next rotation has one relation of kind "secret-rot"
 * from "secretsmanager" to "<next rotation epoch, 12 digits>|<secret
 * ARN>": ordered by date, so the scheduler reads only what is due, across
 * all accounts, without a scan (as manage.c's "secret-due" does for
 * deletion).  Taking a due entry deletes it in the same transaction that
 * starts the rotation: of two nodes on one store, only the one whose
 * delete found the entry goes on. */
#define ROT_KIND "secret-rot"
#define ROT_FROM SM_DUE_FROM
#define ROT_KEY_MAX SM_DUE_KEY_MAX
#define ROT_PAGE 100

static TR_RESULT rot_key(char *key, size_t n, int64_t when, const char *arn)
{
    return str_format(key, n, "rotation entry", "%012lld|%s", (long long)when, arn);
}

/* Drop the secret's entry (if any), then set next_rotation to `next`
 * (0: none) with its entry. */
static TR_RESULT set_next(store_t st, struct secret *s, int64_t next)
{
    char key[ROT_KEY_MAX];
    int64_t old = (int64_t)sm_doc_num(s->doc, "next_rotation");
    if (old) {
        GUARD(rot_key(key, sizeof key, old, s->arn));
        tr_result r = st[0]->rel_delete(st, ROT_KIND, ROT_FROM, key);
        if (tr_failed(r) && tr_code(r) != TR_E_STORE_NOT_FOUND) return r;
        json_object_del(s->doc, "next_rotation");
    }
    if (!next) return TR_OK;
    GUARD(sm_set(s->doc, "next_rotation", json_integer(next)));
    GUARD(rot_key(key, sizeof key, next, s->arn));
    struct rel_rec r = { .from = ROT_FROM, .to = key, .doc = "", .created = next };
    STR_SET(r.kind, ROT_KIND);
    return st[0]->rel_put(st, &r);
}

/* The next window of the secret's stored rules after `after`; 0 when
 * rotation is off or has no schedule. */
static int64_t next_of(json_t *doc, int64_t after)
{
    json_t *rules = json_object_get(doc, "rotation_rules");
    struct sm_schedule sch;
    int64_t days = json_integer_value(json_object_get(rules, "AutomaticallyAfterDays"));
    const char *expr = json_string_value(json_object_get(rules, "ScheduleExpression"));
    const char *dur = json_string_value(json_object_get(rules, "Duration"));
    if (!json_is_true(json_object_get(doc, "rotation_enabled")) || !(days || expr)) return 0;
    if (tr_failed(sm_schedule_parse(expr ? 0 : days, expr, dur, &sch))) return 0;
    return sm_schedule_next(&sch, after);
}

/* Give s a new version labeled AWSPENDING, with no value (the rotation
 * function's createSecret fills it); its id into vid. */
static TR_RESULT add_pending(struct req_ctx *rc, struct secret *s, const char *vid)
{
    struct secret_version *v;
    const char *pending[] = { SM_PENDING };
    GUARD(sm_version_append(s, vid, &v));
    v->created = sm_now(rc);
    GUARD(sm_labels_attach(rc->st, s, v, pending, 1));
    GUARD(sm_version_insert(rc->st, s, v));
    return sm_save(rc->st, s, false);
}

/* One due entry, in its own transaction: still there (else another node
 * or a request took it), the secret live with rotation on and this date:
 * take the entry, add the pending version (or resume the incomplete one)
 * and, once committed, start the rotation. */
static TR_RESULT rotate_due(const char *key, int64_t now)
{
    struct req_ctx rc;
    struct rel_rec rel;
    struct ent_rec e = { 0 };
    struct secret s;
    struct job *j = NULL;
    bool have_rel = false, have_ent = false, loaded = false, skip = false;
    char vid[37], fn[2049];
    const char *arn = strchr(key, '|');
    ENSURE_REF(arn);
    arn++;
    memset(&rel, 0, sizeof rel);
    memset(&s, 0, sizeof s);
    worker_rc(&rc);
    rc.now = now;
    GUARD(rc.st[0]->tx_begin(rc.st));
    tr_result r = rc.st[0]->rel_get(rc.st, ROT_KIND, ROT_FROM, key, &rel);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;
        goto done;
    }
    have_rel = true;
    r = rc.st[0]->rel_delete(rc.st, ROT_KIND, ROT_FROM, key);
    if (tr_ok(r)) r = rc.st[0]->ent_get_arn(rc.st, SM_KIND, arn, &e);
    if (tr_failed(r)) {
        if (tr_code(r) == TR_E_STORE_NOT_FOUND) r = TR_OK;   /* purged: the entry goes */
        goto done;
    }
    have_ent = true;
    r = sm_load(rc.st, &e, &s);
    if (tr_failed(r)) goto done;
    loaded = true;
    const char *stored = sm_doc_str(s.doc, "rotation_lambda_arn");
    if (s.deleted_date != 0 || !stored || tr_failed(str_copy(fn, sizeof fn, stored, "function")) ||
        !json_is_true(json_object_get(s.doc, "rotation_enabled")) ||
        (int64_t)sm_doc_num(s.doc, "next_rotation") != strtoll(key, NULL, 10))
        goto done;                       /* not to rotate (any more): the entry goes */
    if (lease_foreign(rc.st, s.arn)) {
        skip = true;                     /* another node rotates it: the entry stays */
        goto done;
    }
    struct secret_version *pend = sm_version_by_stage(&s, SM_PENDING);
    if (pend && !sm_version_has_stage(pend, SM_CURRENT)) {
        r = str_copy(vid, sizeof vid, pend->id, "version id");      /* resume the incomplete one */
    } else {
        r = rand_uuid(vid);
        if (tr_ok(r)) r = add_pending(&rc, &s, vid);
    }
    if (tr_ok(r)) {
        /* No entry until this rotation ends (record_done sets the next). */
        json_object_del(s.doc, "next_rotation");
        r = sm_save(rc.st, &s, false);
    }
    if (tr_ok(r)) r = follow(&rc, &s);
    if (tr_ok(r)) r = lease_take(rc.st, s.arn, vid);
    if (tr_ok(r)) r = job_new(s.arn, vid, fn, &j);
done:
    if (tr_ok(r) && !skip) r = rc.st[0]->tx_commit(rc.st);
    if (tr_failed(r) || skip) {
        rc.st[0]->tx_rollback(rc.st);
        job_free(j);
        j = NULL;
    }
    if (j) {
        log_msg("info", "rotation of %s: scheduled, version %s", j->arn, j->token);
        start(j);
    }
    if (loaded) secret_free(&s);
    if (have_ent) ent_rec_free(&e);
    if (have_rel) rel_rec_free(&rel);
    return r;
}

/* One due rotation entry, logged. */
static tr_result rotate_logged(const struct server_env *env, const char *key, int64_t now)
{
    (void)env;                           /* the worker's own (R.env) serves */
    tr_result r = rotate_due(key, now);
    if (tr_failed(r)) log_msg("error", "rotation schedule: %s: %s", key, tr_err_type(tr_code(r)));
    return r;
}

TR_RESULT sm_rotation_due(const struct server_env *env, int64_t now)
{
    ENSURE_REF(env);
    if (!R.env) return TR_OK;            /* not configured (tests of the maintenance alone) */
    return sm_due_walk(env, ROT_KIND, ROT_PAGE, now, "the rotation entry's key", rotate_logged);
}

/* ---- RotateSecret ----------------------------------------------------------------- */

static const struct json_field ROTATION_METADATA_FIELDS[] = {
    { "Key", 1, 256 }, { "Value", 1, 2048 }, { NULL, 0, 0 },
};

/* RotationRules as the model defines them; *rules the member (or NULL). */
static TR_RESULT rotation_rules(json_t *in, json_t **rules, struct sm_schedule *sch)
{
    static const char *const MEMBERS[] = {
        "AutomaticallyAfterDays", "Duration", "ScheduleExpression", NULL
    };
    const char *expr, *dur;
    int64_t days = 0;
    bool has_days = false;
    *rules = json_object_get(in, "RotationRules");
    if (!*rules || json_is_null(*rules)) {
        *rules = NULL;
        return TR_OK;
    }
    if (!json_is_object(*rules))
        BAIL(TR_E_SERIALIZATION, "Unexpected value for member 'RotationRules': expected structure");
    GUARD(json_check_members(*rules, MEMBERS));
    GUARD(json_get_int(*rules, "AutomaticallyAfterDays", false, 1, 1000, &has_days, &days));
    GUARD(json_get_str(*rules, "Duration", false, 2, 3, &dur));
    GUARD(json_get_str(*rules, "ScheduleExpression", false, 1, 256, &expr));
    return sm_schedule_parse(has_days ? days : 0, expr, dur, sch);
}

/* Can the function be invoked here: hooks on, a hook of that name with
 * its role file, and the ARN names this server's account? */
static bool invocable(const char *lambda, const struct secret *s)
{
    char fn[SM_HOOK_NAME_MAX + 1], region[64], account[13], path[4096];
    struct stat sb;
    if (!R.dir || !sm_hook_parse_arn(lambda, fn, region, account)) return false;
    if (strcmp(account, s->account) != 0) return false;
    if (!sm_hook_exists(R.dir, fn)) return false;
    if (tr_failed(str_format(path, sizeof path, "role file", "%s/%s.role", R.dir, fn))) return false;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The stored rules as given (AutomaticallyAfterDays filled in from a
 * rate in days, as DescribeSecret shows it). */
static json_t *stored_rules(json_t *rules, const struct sm_schedule *sch)
{
    json_t *r = json_deep_copy(rules);
    if (r && sch->kind == SM_SCHED_DAYS && !json_object_get(r, "AutomaticallyAfterDays"))
        json_object_set_new(r, "AutomaticallyAfterDays", json_integer(sch->every));
    return r;
}

SM_HANDLER(sm_op_rotate_secret)
{
    const char *id, *token, *lambda, *role;
    bool now = true, has_now = false;
    json_t *metadata, *rules;
    struct sm_schedule sch;
    struct ctx_builder c;
    struct secret s;
    struct job *j = NULL;
    char vid[SM_TOKEN_MAX + 1], fn_buf[2049];
    tr_result r;

    memset(&s, 0, sizeof s);
    GUARD(sm_get_secret_id(in, &id));
    GUARD(json_get_str(in, "ClientRequestToken", false, SM_TOKEN_MIN, SM_TOKEN_MAX, &token));
    GUARD(json_get_str(in, "RotationLambdaARN", false, 0, 2048, &lambda));
    GUARD(json_get_str(in, "ExternalSecretRotationRoleArn", false, 20, 2048, &role));
    GUARD(json_get_bool(in, "RotateImmediately", &has_now, &now));
    GUARD(rotation_rules(in, &rules, &sch));
    GUARD(json_get_struct_list(in, "ExternalSecretRotationMetadata", false, 0,
                               ROTATION_METADATA_FIELDS, &metadata));
    /* The SDKs always fill the token in; without one AWS answers this, and
     * before it looks for the secret (LocalStack's AWS-recorded
     * test_no_client_request_token). */
    if (!token) BAIL(TR_E_SM_INVALID_PARAMETER, "%s", SM_MSG_NEED_TOKEN);
    /* The request's keys (Service Authorization Reference, RotateSecret),
     * each when its member is there; ModifyRotationRules is whether the
     * request changes the rules, so it is always known. */
    sm_ctx_init(&c);
    r = lambda ? iam_ctx_add(&c, "secretsmanager:RotationLambdaARN", lambda) : TR_OK;
    if (tr_ok(r) && role) r = iam_ctx_add(&c, "secretsmanager:ExternalSecretRotationRoleArn", role);
    if (tr_ok(r) && has_now)
        r = iam_ctx_add(&c, "secretsmanager:RotateImmediately", now ? "true" : "false");
    if (tr_ok(r)) r = iam_ctx_add(&c, "secretsmanager:ModifyRotationRules", rules ? "true" : "false");
    if (tr_ok(r)) r = sm_find_authorized(rc, rc->op->action, id, c.e, c.n, true, &s);
    iam_ctx_free(&c);
    if (tr_failed(r)) goto fail;
    if (role || (metadata && json_array_size(metadata))) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST, "ExternalSecretRotationRoleArn and "
                       "ExternalSecretRotationMetadata apply to secrets managed by a partner, which this "
                       "server does not have.");
        goto fail;
    }
    /* A copy: setting the doc's member below frees the stored string. */
    const char *stored = sm_doc_str(s.doc, "rotation_lambda_arn");
    if (!(lambda ? lambda : stored) || !*(lambda ? lambda : stored)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST, "%s", MSG_NO_LAMBDA);
        goto fail;
    }
    r = str_copy(fn_buf, sizeof fn_buf, lambda ? lambda : stored, "RotationLambdaARN");
    if (tr_failed(r)) goto fail;
    const char *fn = fn_buf;
    r = sm_authorize_account(rc, "lambda:InvokeFunction", fn, NULL, 0);
    if (tr_failed(r)) goto fail;
    if (!invocable(fn, &s)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_ACCESS_DENIED, "%s", MSG_CANT_INVOKE);
        goto fail;
    }

    /* A rotation whose AWSPENDING is not AWSCURRENT is not complete. */
    struct secret_version *pend = sm_version_by_stage(&s, SM_PENDING);
    if (pend && !sm_version_has_stage(pend, SM_CURRENT)) {
        if (!is_running(s.arn) && !lease_foreign(rc->st, s.arn) &&
            tr_ok(job_new(s.arn, pend->id, fn, &j))) {
            /* This request fails and rolls back: the reattempt starts
             * once its transaction has ended, whichever way, and takes
             * the lease itself (none taken here would survive). */
            j->lease_later = true;
            rc->after_commit = start;
            rc->after_commit_drop = start;
            rc->after_commit_arg = j;
            j = NULL;
        }
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST, "%s", MSG_IN_PROGRESS);
        goto fail;
    }

    /* Another node still runs the last rotation (its labels say it is
     * done; it is recording its end): as for one running here that could
     * not be queued on that node, the same answer, and nothing changes. */
    if (now && lease_foreign(rc->st, s.arn)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_INVALID_REQUEST, "%s", MSG_IN_PROGRESS);
        goto fail;
    }

    /* The configuration. */
    r = sm_set(s.doc, "rotation_enabled", json_true());
    if (tr_ok(r)) r = sm_set(s.doc, "rotation_lambda_arn", json_string(fn));
    if (tr_ok(r) && rules) r = sm_set(s.doc, "rotation_rules", stored_rules(rules, &sch));
    if (tr_ok(r)) {
        /* Not now: the next window of the schedule, counted from the last
         * rotation.  Now: none until this one ends (record_done). */
        int64_t last = (int64_t)sm_doc_num(s.doc, "last_rotated");
        r = set_next(rc->st, &s, now ? 0 : next_of(s.doc, last ? last : rc->now));
    }
    if (tr_failed(r)) goto fail;
    if (!now) {
        r = sm_save(rc->st, &s, false);
        if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, out);
        goto fail;
    }

    /* The new version: AWSPENDING, no value yet. */
    r = str_copy(vid, sizeof vid, token, "ClientRequestToken");
    if (tr_failed(r)) goto fail;
    if (sm_version_by_id(&s, vid)) {
        r = tr_fail_at(__FILE__, __LINE__, TR_E_SM_RESOURCE_EXISTS, "You can't use ClientRequestToken %s "
                       "because that value is already in use for a version of secret %s.", vid, s.arn);
        goto fail;
    }
    r = add_pending(rc, &s, vid);
    if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, out);
    if (tr_ok(r)) r = sm_set(*out, "VersionId", json_string(vid));
    if (tr_ok(r)) r = lease_take(rc->st, s.arn, vid);
    if (tr_ok(r)) r = job_new(s.arn, vid, fn, &j);
    if (tr_ok(r)) {
        /* The hooks start once this commits, never under its locks. */
        rc->after_commit = start;
        rc->after_commit_drop = job_drop;
        rc->after_commit_arg = j;
        j = NULL;
    }
fail:
    job_free(j);
    secret_free(&s);
    return r;
}

/* ---- CancelRotateSecret -------------------------------------------------------- */

SM_HANDLER(sm_op_cancel_rotate_secret)
{
    struct secret s;
    memset(&s, 0, sizeof s);
    GUARD(sm_find_for_op(rc, in, true, &s));
    tr_result r = sm_set(s.doc, "rotation_enabled", json_false());
    if (tr_ok(r)) r = set_next(rc->st, &s, 0);
    if (tr_ok(r)) r = sm_save(rc->st, &s, false);
    if (tr_ok(r)) r = sm_reply_arn_name(s.arn, s.name, out);
    struct secret_version *pend = sm_version_by_stage(&s, SM_PENDING);
    if (tr_ok(r) && pend && !sm_version_has_stage(pend, SM_CURRENT))
        r = sm_set(*out, "VersionId", json_string(pend->id));
    if (tr_ok(r)) {
        pthread_mutex_lock(&R.mu);
        struct job *j = running_locked(s.arn);
        if (j) j->cancelled = true;
        pthread_mutex_unlock(&R.mu);
    }
    secret_free(&s);
    return r;
}
