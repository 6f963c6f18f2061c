"""
engines.py -- the HTTP engine comparison (bench/README.md, "The HTTP engine").

Usage: /usr/bin/python3 bench/engines.py [--rounds 3] [--duration 4] [--conns 32]
                                         [--tresor build/tresor]

Needs build/tresor and the load generator (make build/bench/loadgen).
Starts, all on 127.0.0.1:
  - nginx with the same 150-byte body on a plain and a TLS port (2 workers,
    the same certificate and cipher as tresor's TLS rows);
  - two tresor servers on copies of one preloaded data dir (preload.py, as
    the bench's IAM user): libmicrohttpd plain and TLS (GnuTLS).
The h2o rows of bench/README.md came from the spike build of commit
cc9583e (src/http/server_h2o.c, make CONF=spike), since removed; check
that commit out to measure h2o again.
Then, --rounds times, runs each row on nginx and on tresor one after
the other (interleaved: the machine is shared, and a ratio is taken
between neighbouring measurements of one round):
  small      GET / (nginx) or GET /health, keep-alive
  GSV        GetSecretValue, full path, keep-alive
  small-tls, GSV-tls      the same over TLS 1.3 (TLS_AES_128_GCM_SHA256, X25519)
  handshake  a new TLS connection per GET (full handshake, no resumption)
and prints, per row and engine, the medians over the rounds of req/s,
p99, CPU per request and the ratio to nginx's row of the same round.
Writes bench/results/engines-<UTC timestamp>.json.  Everything it starts
is stopped on exit.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import ssl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
BODY = "x" * 150


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_up(url, cafile, seconds=60):
    ctx = ssl.create_default_context(cafile=cafile)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1, context=ctx if url.startswith("https") else None):
                return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"engines: {url} did not answer")


def make_certs(d):
    os.makedirs(d)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "2", "-subj", "/CN=tresor bench CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=localhost", "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext.cnf", "-out", f"{d}/server.pem")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--tresor", default=f"{ROOT}/build/tresor")
    args = ap.parse_args()
    loadgen = f"{ROOT}/build/bench/loadgen"
    for b in (args.tresor, loadgen):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"engines: {b} missing (make build/tresor build/bench/loadgen)")
    tmp = tempfile.mkdtemp(prefix="tresor-engines.")
    procs = []

    def cleanup(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        tls = f"{tmp}/tls"
        make_certs(tls)
        ca = f"{tls}/ca.pem"
        # nginx: plain and TLS, as bench/run configures it.
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        np_, nt = free_port(), free_port()
        nd = f"{tmp}/nginx"
        os.makedirs(nd)
        with open(f"{nd}/nginx.conf", "w") as f:
            f.write(f"""daemon off; master_process on; worker_processes 2; pid {nd}/nginx.pid;
error_log {nd}/error.log; events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {nd}/body; proxy_temp_path {nd}/proxy;
  fastcgi_temp_path {nd}/fastcgi; uwsgi_temp_path {nd}/uwsgi; scgi_temp_path {nd}/scgi;
  keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{np_}; location / {{ default_type text/plain; return 200 "{BODY}"; }} }}
  server {{ listen 127.0.0.1:{nt} ssl; ssl_certificate {tls}/server.pem; ssl_certificate_key {tls}/server.key;
    ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256; ssl_ecdh_curve X25519;
    location / {{ default_type text/plain; return 200 "{BODY}"; }} }}
}}
""")
        ng = subprocess.Popen([nginx, "-p", nd, "-c", f"{nd}/nginx.conf", "-e", f"{nd}/error.log"])
        procs.append(ng)
        wait_up(f"http://127.0.0.1:{np_}/", ca)
        wait_up(f"https://127.0.0.1:{nt}/", ca)
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(ng.pid)], capture_output=True, text=True).stdout
        ngpids = ",".join([str(ng.pid)] + kids.split())

        def serve(data, engine, with_tls):
            port = free_port()
            env = dict(os.environ, TRESOR_LOG="quiet")
            if with_tls:
                env.update(TRESOR_TLS_CERT=f"{tls}/server.pem", TRESOR_TLS_KEY=f"{tls}/server.key")
            log = open(f"{tmp}/{engine}-{int(with_tls)}.log", "w")
            p = subprocess.Popen([args.tresor, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data],
                                 env=env, stdout=log, stderr=log)
            procs.append(p)
            wait_up(f"{'https' if with_tls else 'http'}://127.0.0.1:{port}/health", ca)
            return port, p

        # One preload, copied for each server.
        port, p = serve(f"{tmp}/data0", "mhd", False)
        bodies = f"{tmp}/bodies"
        subprocess.run([PY, f"{ROOT}/bench/preload.py", f"{tmp}/data0", str(port), bodies, "--secrets", "10"],
                       check=True, stdout=subprocess.DEVNULL)
        p.terminate()
        p.wait()
        creds = dict(l.strip().split("=", 1) for l in open(f"{bodies}/creds.env") if "=" in l)
        servers = {}
        for engine in ("mhd",):
            for with_tls in (False, True):
                d = f"{tmp}/data-{engine}-{int(with_tls)}"
                shutil.copytree(f"{tmp}/data0", d)
                servers[(engine, with_tls)] = serve(d, engine, with_tls)

        gsv = f"1:json:secretsmanager:secretsmanager.GetSecretValue:{bodies}/GetSecretValue.body"
        env = dict(os.environ, **creds)

        def load(port, pids, spec, with_tls=False, new_conn=False):
            cmd = [loadgen, "--port", str(port), "--conns", str(args.conns), "--duration", str(args.duration),
                   "--warmup", str(args.warmup), "--pid", pids, "--quiet"]
            if with_tls:
                cmd += ["--tls", "--cafile", ca]
            if new_conn:
                cmd += ["--new-conn"]
            for attempt in (1, 2):   # once more if the load generator is killed from outside
                res = subprocess.run(cmd + [spec], capture_output=True, text=True, env=env)
                if res.returncode == 0:
                    return json.loads(res.stdout)
                print(f"engines: loadgen exited {res.returncode}: {res.stderr.strip()[:300]}", file=sys.stderr)
            raise SystemExit("engines: the load generator failed twice")

        rows = [  # (row, with_tls, new_conn, nginx spec or None, tresor spec)
            ("small", False, False, "1:get:/", "1:get:/health"),
            ("GSV", False, False, None, gsv),
            ("small-tls", True, False, "1:get:/", "1:get:/health"),
            ("GSV-tls", True, False, None, gsv),
            ("handshake", True, True, "1:get:/", "1:get:/health"),
        ]
        results = []   # dicts: round, row, engine, rps, p99_us, cpu_us_per_req, errors, ratio
        for rnd in range(1, args.rounds + 1):
            floors = {}
            for row, with_tls, new_conn, nspec, tspec in rows:
                if nspec:
                    r = load(nt if with_tls else np_, ngpids, nspec, with_tls, new_conn)
                    floors[(with_tls, new_conn)] = r["rps"]
                    results.append(dict(round=rnd, row=row, engine="nginx", **r, ratio=1.0))
                    print(f"  round {rnd} {row:<10} nginx {r['rps']:>9.0f}/s", file=sys.stderr)
                for engine in ("mhd",):
                    port, p = servers[(engine, with_tls)]
                    r = load(port, str(p.pid), tspec, with_tls, new_conn)
                    ratio = r["rps"] / floors[(with_tls, new_conn)]
                    results.append(dict(round=rnd, row=row, engine=engine, **r, ratio=ratio))
                    print(f"  round {rnd} {row:<10} {engine:<5} {r['rps']:>9.0f}/s  {ratio:.2f} of nginx"
                          f"  p99 {r['p99_us'] / 1000:.2f} ms  {r['cpu_us_per_req']:.1f} us CPU  "
                          f"errors {r['errors']}", file=sys.stderr)

        print(f"\n{'row':<11}{'engine':<7}{'req/s':>9}{'vs nginx':>10}{'p99 ms':>9}{'CPU us/req':>12}"
              f"{'errors':>8}   (medians of {args.rounds} interleaved rounds)")
        summary = []
        for row, *_ in rows:
            for engine in ("nginx", "mhd"):
                rs = [r for r in results if r["row"] == row and r["engine"] == engine]
                if not rs:
                    continue
                m = dict(row=row, engine=engine,
                         rps=statistics.median(r["rps"] for r in rs),
                         ratio=statistics.median(r["ratio"] for r in rs),
                         p99_us=statistics.median(r["p99_us"] for r in rs),
                         cpu_us_per_req=statistics.median(r["cpu_us_per_req"] for r in rs),
                         errors=sum(r["errors"] for r in rs))
                summary.append(m)
                print(f"{row:<11}{engine:<7}{m['rps']:>9.0f}{m['ratio']:>10.2f}{m['p99_us'] / 1000:>9.2f}"
                      f"{m['cpu_us_per_req']:>12.1f}{m['errors']:>8}")
        os.makedirs(f"{ROOT}/bench/results", exist_ok=True)
        ts = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
        out = f"{ROOT}/bench/results/engines-{ts}.json"
        with open(out, "w") as f:
            json.dump({"rounds": args.rounds, "duration_s": args.duration, "connections": args.conns,
                       "summary": summary, "runs": results}, f, indent=1)
        print(f"\nresults: {out}")
    finally:
        cleanup()


if __name__ == "__main__":
    main()
