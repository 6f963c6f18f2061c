"""
readme.py -- the README's code blocks, for the tests that run them
(test_readme.py) or use them (test_dev.py runs the README's seed).

The README's examples are fenced code blocks (```sh, ```python, ```json,
...).  A block may be preceded, on the line right above its fence, by an
HTML comment that GitHub does not show and that tells the tests what to do
with it:

  <!-- readme-test: skip REASON -->      not run (a CI file, a diagram,
                                          a slow benchmark); the reason is
                                          required
  <!-- readme-test: file NAME -->        written to NAME in the working
                                          directory before any block runs
  <!-- readme-test: synopsis -->         a command synopsis: each command's
                                          flags must appear in its --help
  <!-- readme-test: instead COMMAND -->  the test runs COMMAND in place of
                                          the block (`make run` is `tresor
                                          serve` once built)

A block with no comment is run as it stands: ```sh with bash, ```python
with Debian's python3 (test_readme.py says how).  A block of any other
language with no comment, and an indented (unfenced) code block, fail
test_readme.py: the test would not see them.
"""

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"

MARKER_RE = re.compile(r"^<!-- readme-test: (?P<verb>skip|file|synopsis|instead)\b\s*(?P<arg>.*?)\s*-->$")
FENCE_RE = re.compile(r"^```(?P<lang>[A-Za-z0-9_-]*)\s*$")


@dataclass
class Block:
    lang: str           # the fence's info string ("sh", "python", "json", "" for none)
    text: str           # the block's lines, each ending in a newline
    line: int           # 1-based line of the opening fence
    verb: str = None    # the marker's verb: skip, file, synopsis, instead (None: run it)
    arg: str = ""       # the marker's argument: the reason, file name or command

    def where(self):
        return f"README.md:{self.line} (```{self.lang})"


def blocks(path=README):
    """Every fenced block of the README, in order, with its marker."""
    lines = Path(path).read_text().splitlines(keepends=True)
    out, i = [], 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i].rstrip("\n"))
        if not m:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip("\n") != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"README.md:{start + 1}: unclosed code fence")
        i += 1
        b = Block(lang=m.group("lang"), text="".join(body), line=start + 1)
        if start > 0:
            mk = MARKER_RE.match(lines[start - 1].strip())
            if mk:
                b.verb, b.arg = mk.group("verb"), mk.group("arg")
        out.append(b)
    return out


def stray_markers(path=README):
    """Line numbers of readme-test comments that no fence follows (a typo
    in a marker would otherwise silently run or skip the wrong thing)."""
    lines = Path(path).read_text().splitlines()
    bad = []
    for n, line in enumerate(lines):
        if not (line.lstrip().startswith("<!--") and "readme-test" in line):
            continue
        ok = MARKER_RE.match(line.strip()) and n + 1 < len(lines) and FENCE_RE.match(lines[n + 1])
        if not ok:
            bad.append(n + 1)
    return bad


def indented_blocks(path=README):
    """Line numbers where an indented code block (4 spaces after a blank
    line, outside a fence and a list) starts: the tests cannot see those."""
    lines = Path(path).read_text().splitlines()
    found, in_fence, in_list = [], False, False
    for n, line in enumerate(lines):
        if FENCE_RE.match(line) or line == "```":
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if re.match(r"^\s*([-*+]|\d+\.)\s", line):
            in_list = True
        elif line.strip() == "":
            pass
        elif not line.startswith(" "):
            in_list = False
        if (line.startswith("    ") and line.strip() and n > 0 and lines[n - 1].strip() == ""
                and not in_list):
            found.append(n + 1)
    return found


def file_block(name, path=README):
    """The text of the block marked `file NAME`."""
    hits = [b for b in blocks(path) if b.verb == "file" and b.arg == name]
    assert len(hits) == 1, f"README.md has {len(hits)} blocks marked 'file {name}'"
    return hits[0].text
