#!/usr/bin/python3
"""
bench/pg_propagation.py -- how long a write on one node takes to be
served by another node on the same PostgreSQL database (bench/run's
PostgreSQL rows; docs/internals/CACHES.md states the bound).

    pg_propagation.py DATA_DIR PORT_A PORT_B [--writes N]

As the account's root user (DATA_DIR/credentials, profile tresor): one
secret; then N times: B reads it (so B has it cached), A writes a new
value (PutSecretValue), and B is asked until it serves that value.  The
delay is from A's answer to B's first answer with the new value (it
includes one GetSecretValue round trip on B).  Prints one JSON object:
writes, p50_ms, p99_ms, max_ms, stale_reads.
"""

import argparse
import configparser
import json
import os
import statistics
import time

import boto3
from botocore.config import Config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("port_a", type=int)
    ap.add_argument("port_b", type=int)
    ap.add_argument("--writes", type=int, default=200)
    a = ap.parse_args()
    cp = configparser.ConfigParser()
    cp.read(os.path.join(a.data_dir, "credentials"))
    root = cp["tresor"]
    sess = boto3.Session(aws_access_key_id=root["aws_access_key_id"],
                         aws_secret_access_key=root["aws_secret_access_key"], region_name="us-east-1")
    cfg = Config(retries={"max_attempts": 1})
    sa = sess.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{a.port_a}", config=cfg)
    sb = sess.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{a.port_b}", config=cfg)
    name = f"bench/propagation-{os.getpid()}"
    sa.create_secret(Name=name, SecretString="v-init")
    deadline = time.monotonic() + 10
    while True:
        try:
            sb.get_secret_value(SecretId=name)
            break
        except sb.exceptions.ResourceNotFoundException:
            if time.monotonic() > deadline:
                raise
    delays, stale = [], 0
    for i in range(a.writes):
        sb.get_secret_value(SecretId=name)
        sa.put_secret_value(SecretId=name, SecretString=f"v{i}")
        t0 = time.monotonic()
        while sb.get_secret_value(SecretId=name)["SecretString"] != f"v{i}":
            stale += 1
            if time.monotonic() - t0 > 10:
                raise SystemExit(f"node B still serves an old value 10 s after write {i}")
        delays.append(time.monotonic() - t0)
    delays.sort()
    print(json.dumps({"writes": len(delays), "p50_ms": round(statistics.median(delays) * 1000, 2),
                      "p99_ms": round(delays[max(0, int(len(delays) * 0.99) - 1)] * 1000, 2),
                      "max_ms": round(delays[-1] * 1000, 2), "stale_reads": stale}))


if __name__ == "__main__":
    main()
