"""
test_differential.py -- tresor's policy engine against an independent
evaluator on generated cases (tests/differential/README.md).

TRESOR_DIFF_CASES cases (default 3000) from seed TRESOR_DIFF_SEED (13) are
decided by tresor's engine (build/tests/diff_eval, the server's own
functions) and by @cloud-copilot/iam-simulate (installed at test time with
`npm ci` from tests/differential/package-lock.json into build/differential).
Every disagreement must belong to a known class of tests/differential/
run.py, each citing the AWS documentation that shows who is right.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "differential"))
import run as differential  # noqa: E402

from tresor_e2e import tresor_bin  # noqa: E402

REPORT = []


def diff_eval():
    p = os.environ.get("TRESOR_DIFF_EVAL") or str(tresor_bin().parent / "tests" / "diff_eval")
    assert Path(p).exists(), f"{p} is missing (make e2e builds it; or make build/tests/diff_eval)"
    return p


def test_engine_agrees_with_an_independent_evaluator():
    assert shutil.which("node") and shutil.which("npm"), \
        "node and npm are needed for the differential test (scripts/install-deps installs them)"
    n = int(os.environ.get("TRESOR_DIFF_CASES", "3000"))
    seed = int(os.environ.get("TRESOR_DIFF_SEED", "13"))
    rep = differential.run(n, seed, diff_eval())
    REPORT[:] = differential.summary(rep, 0).splitlines()
    assert not rep["unexplained"], differential.summary(rep, 5)
    # The known classes are a small minority, and both sides decide.  A
    # level of SCPs or RCPs without an Allow denies on both sides (only
    # the wording differs: README.md), so it counts as agreeing here.
    same = rep["agree"] + rep["known"].get("org-level-without-allow-is-explicit", 0)
    assert same >= 0.9 * n, differential.summary(rep, 0)
    d = rep["decisions"]
    assert d["allowed"] > n // 20 and d["explicitDeny"] > n // 20 and d["implicitDeny"] > n // 20, d
