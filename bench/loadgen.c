/*
 * loadgen.c -- closed-loop HTTP/1.1 load generator for tresor's benchmarks.
 *
 * One thread per keep-alive connection to 127.0.0.1:PORT (never any other
 * address).  Each thread sends a request, reads the whole response, records
 * the latency in a log-linear histogram and sends the next one, for a fixed
 * duration after a short warm-up.  Every AWS request is signed afresh with
 * SigV4 (sigv4_sign from the server's own library): a new X-Amz-Date and a
 * new signature per request, never a replayed one.
 *
 * Requests are described by specs, chosen at random by weight per request:
 *   WEIGHT:get:PATH                       unsigned GET (health, nginx floor)
 *   WEIGHT:json:SERVICE:TARGET:BODYFILE   awsJson1_1, X-Amz-Target TARGET
 *   WEIGHT:query:SERVICE:BODYFILE         query protocol (IAM, STS) form body
 * A body may contain @TOKEN@, replaced per request by a fresh unique
 * 36-character id (ClientRequestToken for PutSecretValue).
 *
 * The response reader parses the status line and Content-Length and skips
 * the body; chunked responses and anything malformed close the connection
 * and count as an error.  Status >= 300 counts as an error (the first one's
 * body is printed to stderr to make a broken setup obvious).
 *
 * TLS (--tls): the same requests over TLS 1.3 through OpenSSL, with one
 * cipher suite (TLS_AES_128_GCM_SHA256 unless --tls-ciphers says otherwise)
 * and key exchange X25519, so every server measured does the same work per
 * byte and per handshake; --cafile checks the server's certificate (the
 * bench's throwaway CA).  --new-conn opens a new connection for every
 * request (and closes it once the reply is read): with --tls every request
 * pays a full handshake (no session resumption: the client keeps no
 * session and sends no ticket), so requests/s is handshakes/s.
 *
 * Output: one JSON object on stdout with requests, errors, requests/s,
 * p50/p99/p99.9 in microseconds and, with --pid, the CPU those processes
 * used per request (utime+stime from /proc/PID/stat over the measured
 * interval).  Credentials come from BENCH_ACCESS_KEY_ID and
 * BENCH_SECRET_ACCESS_KEY.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "auth/sigv4.h"
#include "auth/sigv4_sign.h"
#include "crypto/hash.h"

#define MAX_SPECS 16
#define MAX_PIDS 16
#define MAX_THREADS 1024
#define MAX_BODY 65536
#define REQ_MAX (MAX_BODY + 4096)
#define RESP_BUF 65536

/* Log-linear histogram over nanoseconds: 2^SUB_BITS linear sub-buckets per
 * power of two, so each bucket is within 1/16 (6%) of its value. */
#define SUB_BITS 4
#define SUB (1u << SUB_BITS)
#define NBUCKETS (64 * SUB)

enum kind { K_GET, K_JSON, K_QUERY };

struct spec {
    unsigned weight;
    enum kind kind;
    char service[64];
    char target[128];
    char path[256];
    char *body;          /* template, NUL-terminated */
    size_t body_len;
};

struct worker {
    pthread_t th;
    unsigned id;
    uint64_t hist[NBUCKETS];
    uint64_t requests, errors;
    uint64_t seed;
};

static struct spec specs[MAX_SPECS];
static unsigned nspecs, total_weight;
static int port = -1;
static const char *akid = "", *secret = "", *region = "us-east-1";
static atomic_int recording, stopping;
static atomic_uint token_seq;
static atomic_int printed_error;
static int quiet;
static SSL_CTX *tls_ctx;                /* NULL: plain HTTP */
static bool new_conn;                   /* a connection per request */

/* One connection: a socket, and its TLS session when --tls. */
struct conn {
    int fd;
    SSL *ssl;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (msb - SUB_BITS)) & (SUB - 1);
    return (msb - SUB_BITS + 1) * SUB + sub;
}

/* The upper edge of a bucket (a conservative latency for percentiles). */
static uint64_t bucket_value(unsigned b)
{
    if (b < SUB) return b;
    unsigned msb = b / SUB + SUB_BITS - 1, sub = b % SUB;
    uint64_t lo = ((uint64_t)(SUB + sub)) << (msb - SUB_BITS);
    return lo + (((uint64_t)1 << (msb - SUB_BITS)) - 1);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *p = malloc(MAX_BODY + 1);
    size_t n = p ? fread(p, 1, MAX_BODY, f) : 0;
    fclose(f);
    if (!p) return NULL;
    p[n] = '\0';
    *len = n;
    return p;
}

/* Split s at ':' into at most max fields (in place). */
static unsigned split(char *s, char **f, unsigned max)
{
    unsigned n = 0;
    f[n++] = s;
    for (char *p = s; *p && n < max; p++)
        if (*p == ':') { *p = '\0'; f[n++] = p + 1; }
    return n;
}

static int copy_field(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static int parse_spec(char *arg)
{
    char *f[5];
    unsigned n = split(arg, f, 5);
    if (nspecs >= MAX_SPECS || n < 3) return -1;
    struct spec *s = &specs[nspecs];
    char *end;
    unsigned long w = strtoul(f[0], &end, 10);
    if (*end || w == 0 || w > 1000000) return -1;
    s->weight = (unsigned)w;
    if (strcmp(f[1], "get") == 0 && n == 3) {
        s->kind = K_GET;
        if (copy_field(s->path, sizeof s->path, f[2])) return -1;
    } else if (strcmp(f[1], "json") == 0 && n == 5) {
        s->kind = K_JSON;
        if (copy_field(s->service, sizeof s->service, f[2])
            || copy_field(s->target, sizeof s->target, f[3])) return -1;
        if (!(s->body = read_file(f[4], &s->body_len))) return -1;
    } else if (strcmp(f[1], "query") == 0 && n == 4) {
        s->kind = K_QUERY;
        if (copy_field(s->service, sizeof s->service, f[2])) return -1;
        if (!(s->body = read_file(f[3], &s->body_len))) return -1;
    } else {
        return -1;
    }
    total_weight += s->weight;
    nspecs++;
    return 0;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}

/* Expand @TOKEN@ in the template into out; returns the length or -1. */
static long expand_body(const struct spec *s, unsigned wid, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = s->body, *end = s->body + s->body_len;
    while (p < end) {
        const char *t = memmem(p, (size_t)(end - p), "@TOKEN@", 7);
        size_t n = t ? (size_t)(t - p) : (size_t)(end - p);
        if (o + n + 40 > cap) return -1;
        memcpy(out + o, p, n);
        o += n;
        if (!t) break;
        unsigned seq = atomic_fetch_add(&token_seq, 1);
        int w = snprintf(out + o, cap - o, "%08x-%04x-4%03x-8%03x-%012llx", seq, wid & 0xffff,
                         (unsigned)getpid() & 0xfff, 0u, (unsigned long long)now_ns() & 0xffffffffffffull);
        if (w != 36) return -1;
        o += 36;
        p = t + 7;
    }
    return (long)o;
}

/* Build one request into out; returns its length or -1. */
static long build_request(const struct spec *s, unsigned wid, char *out, size_t cap, char *body)
{
    int n;
    if (s->kind == K_GET) {
        n = snprintf(out, cap, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", s->path, port);
        return n > 0 && (size_t)n < cap ? n : -1;
    }
    long blen = expand_body(s, wid, body, MAX_BODY + 64);
    if (blen < 0) return -1;
    char host[32], amz_date[17], auth[512];
    snprintf(host, sizeof host, "127.0.0.1:%d", port);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    const char *ctype = s->kind == K_JSON ? "application/x-amz-json-1.1"
                                          : "application/x-www-form-urlencoded; charset=utf-8";
    struct sigv4_header h[4] = {
        { "Content-Type", ctype }, { "Host", host }, { "X-Amz-Date", amz_date },
        { "X-Amz-Target", s->target },
    };
    struct sigv4_request rq = {
        .method = "POST", .path = "/", .query = "", .headers = h,
        .nheaders = s->kind == K_JSON ? 4 : 3, .body = (const uint8_t *)body, .body_len = (size_t)blen,
    };
    const char *signed_headers = s->kind == K_JSON ? "content-type;host;x-amz-date;x-amz-target"
                                                   : "content-type;host;x-amz-date";
    if (tr_failed(sigv4_sign(&rq, akid, secret, amz_date, region, s->service, signed_headers,
                             auth, sizeof auth)))
        return -1;
    if (s->kind == K_JSON)
        n = snprintf(out, cap, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Date: %s\r\n"
                     "X-Amz-Target: %s\r\nAuthorization: %s\r\nContent-Length: %ld\r\n\r\n",
                     host, ctype, amz_date, s->target, auth, blen);
    else
        n = snprintf(out, cap, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Date: %s\r\n"
                     "Authorization: %s\r\nContent-Length: %ld\r\n\r\n",
                     host, ctype, amz_date, auth, blen);
    if (n < 0 || (size_t)n + (size_t)blen > cap) return -1;
    memcpy(out + n, body, (size_t)blen);
    return n + blen;
}

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return -1; }
    return fd;
}

static void conn_close(struct conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);       /* close_notify, not waiting for the peer's */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

/* Connect (and with --tls, complete the handshake); 0 or -1. */
static int conn_open(struct conn *c)
{
    c->ssl = NULL;
    if ((c->fd = connect_local()) < 0) return -1;
    if (!tls_ctx) return 0;
    c->ssl = SSL_new(tls_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 || !SSL_set_tlsext_host_name(c->ssl, "localhost")
        || SSL_connect(c->ssl) != 1) {
        if (!atomic_exchange(&printed_error, 1) && !quiet) {
            fprintf(stderr, "loadgen: TLS handshake failed: ");
            ERR_print_errors_fp(stderr);
            fputc('\n', stderr);
        }
        ERR_clear_error();
        conn_close(c);
        return -1;
    }
    return 0;
}

static ssize_t conn_recv(struct conn *c, char *p, size_t n)
{
    if (!c->ssl) return recv(c->fd, p, n, 0);
    int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r <= 0) { ERR_clear_error(); return -1; }
    return r;
}

static int write_all(struct conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w;
        if (c->ssl) {
            int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            if (r <= 0) { ERR_clear_error(); return -1; }
            w = r;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return -1;
        }
        p += w; n -= (size_t)w;
    }
    return 0;
}

/* Case-insensitive search for a header line "name:" inside the head. */
static const char *find_header(const char *head, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = head; p + nl + 2 < head + len; p++) {
        if (p[0] == '\n' && strncasecmp(p + 1, name, nl) == 0 && p[1 + nl] == ':') return p + 2 + nl;
    }
    return NULL;
}

/* Read one response.  buf holds *have bytes carried over from the previous
 * read.  Returns the status (>0), or -1 on a broken connection or a
 * response this reader does not handle; *close_after is set when the
 * server said Connection: close. */
static int read_response(struct conn *c, char *buf, size_t *have, bool *close_after)
{
    size_t n = *have;
    char *eoh = NULL;
    for (;;) {
        if (n >= 4 && (eoh = memmem(buf, n, "\r\n\r\n", 4))) break;
        if (n >= RESP_BUF - 1) return -1;
        ssize_t r = conn_recv(c, buf + n, RESP_BUF - 1 - n);
        if (r < 0 && errno == EINTR && !c->ssl) continue;
        if (r <= 0) return -1;
        n += (size_t)r;
    }
    size_t head_len = (size_t)(eoh - buf) + 4;
    if (head_len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') return -1;
    int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (status < 100 || status > 599) return -1;
    const char *te = find_header(buf, head_len, "transfer-encoding");
    if (te) return -1;
    const char *cl = find_header(buf, head_len, "content-length");
    if (!cl) return -1;
    while (*cl == ' ' || *cl == '\t') cl++;
    char *end;
    unsigned long long clen = strtoull(cl, &end, 10);
    if (end == cl || clen > (1ull << 30)) return -1;
    const char *conn = find_header(buf, head_len, "connection");
    *close_after = conn && strncasecmp(conn + strspn(conn, " \t"), "close", 5) == 0;
    size_t total = head_len + (size_t)clen;
    if (status >= 300 && !atomic_exchange(&printed_error, 1) && !quiet) {
        size_t show = n < total ? n : total;
        fprintf(stderr, "loadgen: first error response: %.*s\n", (int)(show > 600 ? 600 : show), buf);
    }
    /* Skip the body, reading exactly what is left of it. */
    if (n < total) {
        size_t left = total - n;
        while (left) {
            ssize_t r = conn_recv(c, buf, left < RESP_BUF ? left : RESP_BUF);
            if (r < 0 && errno == EINTR && !c->ssl) continue;
            if (r <= 0) return -1;
            left -= (size_t)r;
        }
        *have = 0;
    } else {
        /* Keep pipelined leftovers (none expected: one request in flight). */
        *have = n - total;
        if (*have) memmove(buf, buf + total, *have);
    }
    return status;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char *req = malloc(REQ_MAX), *body = malloc(MAX_BODY + 64), *resp = malloc(RESP_BUF);
    struct conn c = { .fd = -1 };
    size_t have = 0;
    if (!req || !body || !resp) goto out;
    while (!atomic_load(&stopping)) {
        /* With --new-conn the connection (and its handshake) is part of
         * the request's latency. */
        uint64_t t0 = now_ns();
        if (c.fd < 0) {
            if (conn_open(&c) < 0) {
                if (atomic_load(&recording)) w->errors++;
                usleep(1000);
                continue;
            }
            have = 0;
        }
        unsigned pick = (unsigned)(next_rand(&w->seed) % total_weight), i = 0;
        while (pick >= specs[i].weight) pick -= specs[i++].weight;
        long len = build_request(&specs[i], w->id, req, REQ_MAX, body);
        if (len < 0) { fprintf(stderr, "loadgen: cannot build request\n"); exit(2); }
        bool rec = atomic_load(&recording);
        if (!new_conn) t0 = now_ns();
        bool close_after = false;
        int status = write_all(&c, req, (size_t)len) == 0 ? read_response(&c, resp, &have, &close_after) : -1;
        uint64_t dt = now_ns() - t0;
        if (status < 0 || close_after || new_conn) conn_close(&c);
        if (rec && !atomic_load(&stopping)) {
            w->requests++;
            if (status < 200 || status >= 300) w->errors++;
            w->hist[bucket_of(dt)]++;
        }
    }
out:
    conn_close(&c);
    free(req); free(body); free(resp);
    crypto_thread_cleanup();
    return NULL;
}

/* utime+stime in clock ticks of the listed processes and their threads. */
static long long cpu_ticks(const int *pids, unsigned n)
{
    long long sum = 0;
    for (unsigned i = 0; i < n; i++) {
        char path[64], line[2048];
        snprintf(path, sizeof path, "/proc/%d/stat", pids[i]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t r = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[r] = '\0';
        char *p = strrchr(line, ')');
        if (!p) continue;
        /* after ") " fields start at 3 (state); utime is 14, stime 15 */
        unsigned long long ut = 0, st = 0;
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            sum += (long long)(ut + st);
    }
    return sum;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --port N [--conns 32] [--duration 5] [--warmup 0.5] [--pid P[,P...]]\n"
            "               [--region R] [--quiet] [--tls [--cafile F] [--tls-ciphers S]] [--new-conn]\n"
            "               SPEC...\n"
            "  SPEC: WEIGHT:get:PATH | WEIGHT:json:SERVICE:TARGET:BODYFILE | WEIGHT:query:SERVICE:BODYFILE\n"
            "  credentials: BENCH_ACCESS_KEY_ID, BENCH_SECRET_ACCESS_KEY\n");
    exit(2);
}

static double parse_double(const char *s)
{
    char *end;
    double d = strtod(s, &end);
    if (*end || d < 0) usage();
    return d;
}

static long parse_long(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) usage();
    return v;
}

int main(int argc, char **argv)
{
    unsigned conns = 32;
    double duration = 5, warmup = 0.5;
    int pids[MAX_PIDS];
    unsigned npids = 0;
    bool tls = false;
    const char *cafile = NULL, *ciphers = "TLS_AES_128_GCM_SHA256";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--port") == 0 && more) port = (int)parse_long(argv[++i], 1, 65535);
        else if (strcmp(a, "--conns") == 0 && more) conns = (unsigned)parse_long(argv[++i], 1, MAX_THREADS);
        else if (strcmp(a, "--duration") == 0 && more) duration = parse_double(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && more) warmup = parse_double(argv[++i]);
        else if (strcmp(a, "--region") == 0 && more) region = argv[++i];
        else if (strcmp(a, "--quiet") == 0) quiet = 1;
        else if (strcmp(a, "--tls") == 0) tls = true;
        else if (strcmp(a, "--new-conn") == 0) new_conn = true;
        else if (strcmp(a, "--cafile") == 0 && more) cafile = argv[++i];
        else if (strcmp(a, "--tls-ciphers") == 0 && more) ciphers = argv[++i];
        else if (strcmp(a, "--pid") == 0 && more) {
            char *s = argv[++i], *end;
            while (*s && npids < MAX_PIDS) {
                long v = strtol(s, &end, 10);
                if (end == s || v <= 0) usage();
                pids[npids++] = (int)v;
                s = *end == ',' ? end + 1 : end;
            }
        } else if (a[0] != '-') {
            if (parse_spec(argv[i]) != 0) {
                fprintf(stderr, "loadgen: bad spec or unreadable body: %s\n", a);
                return 2;
            }
        } else usage();
    }
    if (port < 0 || nspecs == 0) usage();
    const char *e;
    if ((e = getenv("BENCH_ACCESS_KEY_ID"))) akid = e;
    if ((e = getenv("BENCH_SECRET_ACCESS_KEY"))) secret = e;
    if (tr_failed(crypto_init())) { fprintf(stderr, "loadgen: crypto_init failed\n"); return 1; }

    if (tls) {
        /* TLS 1.3 only, one suite, X25519, no session resumption. */
        tls_ctx = SSL_CTX_new(TLS_client_method());
        if (!tls_ctx || SSL_CTX_set_min_proto_version(tls_ctx, TLS1_3_VERSION) != 1
            || SSL_CTX_set_ciphersuites(tls_ctx, ciphers) != 1
            || SSL_CTX_set1_groups_list(tls_ctx, "X25519") != 1) {
            fprintf(stderr, "loadgen: cannot set up TLS (%s)\n", ciphers);
            return 2;
        }
        SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET);
        static const unsigned char alpn[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(tls_ctx, alpn, sizeof alpn - 1);
        if (cafile) {
            if (SSL_CTX_load_verify_locations(tls_ctx, cafile, NULL) != 1) {
                fprintf(stderr, "loadgen: cannot read CA file %s\n", cafile);
                return 2;
            }
            SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
        }
    }

    struct worker *w = calloc(conns, sizeof *w);
    if (!w) return 1;
    for (unsigned i = 0; i < conns; i++) {
        w[i].id = i;
        w[i].seed = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(i + 1) * 0x100000001b3ull);
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) { perror("pthread_create"); return 1; }
    }
    struct timespec ws = { (time_t)warmup, (long)((warmup - (double)(time_t)warmup) * 1e9) };
    nanosleep(&ws, NULL);
    long long c0 = cpu_ticks(pids, npids);
    uint64_t t0 = now_ns();
    atomic_store(&recording, 1);
    struct timespec ds = { (time_t)duration, (long)((duration - (double)(time_t)duration) * 1e9) };
    nanosleep(&ds, NULL);
    atomic_store(&stopping, 1);
    uint64_t t1 = now_ns();
    long long c1 = cpu_ticks(pids, npids);
    for (unsigned i = 0; i < conns; i++) pthread_join(w[i].th, NULL);

    static uint64_t hist[NBUCKETS];
    uint64_t reqs = 0, errs = 0;
    for (unsigned i = 0; i < conns; i++) {
        reqs += w[i].requests;
        errs += w[i].errors;
        for (unsigned b = 0; b < NBUCKETS; b++) hist[b] += w[i].hist[b];
    }
    double pct[3] = { 0.50, 0.99, 0.999 }, val[3] = { 0, 0, 0 };
    for (unsigned k = 0; k < 3; k++) {
        uint64_t want = (uint64_t)((double)reqs * pct[k]), seen = 0;
        if (want == 0) want = 1;
        for (unsigned b = 0; b < NBUCKETS; b++) {
            seen += hist[b];
            if (seen >= want) { val[k] = (double)bucket_value(b) / 1000.0; break; }
        }
    }
    double secs = (double)(t1 - t0) / 1e9;
    double cpu_us = -1;
    if (npids && reqs) cpu_us = (double)(c1 - c0) * 1e6 / (double)sysconf(_SC_CLK_TCK) / (double)reqs;
    printf("{\"requests\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%.1f,"
           "\"p99_us\":%.1f,\"p999_us\":%.1f,\"cpu_us_per_req\":%.2f,\"conns\":%u,\"tls\":%s,"
           "\"new_conn\":%s}\n",
           (unsigned long long)reqs, (unsigned long long)errs, secs, secs > 0 ? (double)reqs / secs : 0,
           val[0], val[1], val[2], cpu_us, conns, tls ? "true" : "false", new_conn ? "true" : "false");
    free(w);
    if (tls_ctx) SSL_CTX_free(tls_ctx);
    return 0;
}
