"""
list_all.py -- page through every secret with ListSecrets, as a client
would (boto3, the benchmark user's credentials), and time it.

Usage: list_all.py PORT   (credentials in BENCH_ACCESS_KEY_ID /
BENCH_SECRET_ACCESS_KEY, as bench/run exports them from creds.env)

Prints one JSON object: secrets seen, pages, total seconds, the first
page's seconds (the server builds and sorts the listing there) and the
mean of the others.  Checks that no secret is seen twice.
"""

import json
import os
import sys
import time

import boto3
from botocore.config import Config


def main():
    port = int(sys.argv[1])
    sm = boto3.client(
        "secretsmanager", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=os.environ["BENCH_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["BENCH_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}, read_timeout=300))
    seen, pages, times = set(), 0, []
    kw = {"MaxResults": 100}
    t_all = time.perf_counter()
    while True:
        t = time.perf_counter()
        r = sm.list_secrets(**kw)
        times.append(time.perf_counter() - t)
        pages += 1
        for s in r["SecretList"]:
            if s["ARN"] in seen:
                sys.exit(f"list_all: {s['Name']} listed twice")
            seen.add(s["ARN"])
        if "NextToken" not in r:
            break
        kw["NextToken"] = r["NextToken"]
    total = time.perf_counter() - t_all
    rest = times[1:]
    print(json.dumps({"secrets": len(seen), "pages": pages, "seconds": round(total, 3),
                      "first_page_s": round(times[0], 4),
                      "other_pages_mean_s": round(sum(rest) / len(rest), 4) if rest else None}))


if __name__ == "__main__":
    main()
