"""The docs test's runner: finds the runnable blocks of the documentation, runs each one as it
is written, and compares what it prints with what the documentation shows.

A runnable block is a fenced code block whose info string is `sh runnable`. The output the
documentation promises is written inside the block, below the command that prints it, as comment
lines starting with `#> ` (bash ignores them, so the block still runs as pasted). Each block runs
with bash in a fresh folder holding `target/debug/omsd` and `target/debug/omsctl` (links to the
programs under test), with its own TMPDIR inside that folder and in its own session, so that
anything it leaves running or lying around is seen and reported.

Before the comparison, both sides are masked: UUIDs, 32- and 64-digit hex ids and tokens, JWTs,
15-digit task ids, 13- and 14-digit times (Unix ms, yyyymmddhhmmss), ISO times and the ports of
127.0.0.1 and localhost. In an expected line, `...` stands for any text (for what differs from
run to run, such as counters read while a task runs).

Also checked: every relative link of the documentation names a file of the repository (and, with
`#anchor`, a heading of that file).
"""

import argparse
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

FENCE = re.compile(r"^(\s*)(`{3,})(.*)$")
EXPECTED = re.compile(r"^\s*#> ?(.*)$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")

MASKS = [
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<uuid>"),
    (re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]+"), "<token>"),
    (re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{64}(?![0-9A-Za-z])"), "<hex>"),
    (re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{32}(?![0-9A-Za-z])"), "<hex>"),
    (re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])"), "<id>"),
    (re.compile(r"(?<![0-9])[0-9]{13,17}(?![0-9])"), "<time>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"), "<time>"),
    (re.compile(r"(127\.0\.0\.1|localhost):[0-9]+"), r"\1:<port>"),
]

# How long one block may run, in seconds.
BLOCK_TIMEOUT_SECS = 300


class Block:
    """One runnable block: where it is, its text, and the output it promises."""

    def __init__(self, path, line, text):
        self.path = path
        self.line = line
        self.text = text
        self.expected = [m.group(1) for m in map(EXPECTED.match, text.splitlines()) if m]

    def where(self):
        return f"{self.path}:{self.line}"


def fenced_blocks(path):
    """Yields (info string, first line number, text) of each fenced block of a Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks, info = m.group(1), m.group(2), m.group(3).strip()
        body, start = [], i + 1
        i += 1
        while i < len(lines) and not re.match(rf"^\s*{ticks}\s*$", lines[i]):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line)
            i += 1
        i += 1
        yield info, start, "\n".join(body) + "\n"


def runnable_blocks(root, files):
    blocks = []
    for path in files:
        for info, line, text in fenced_blocks(root / path):
            if info.split() == ["sh", "runnable"]:
                blocks.append(Block(path, line, text))
    return blocks


def mask(line):
    for pattern, replacement in MASKS:
        line = pattern.sub(replacement, line)
    return line


def line_matches(expected, actual):
    pattern = ".*".join(re.escape(part) for part in mask(expected).split("..."))
    return re.fullmatch(pattern, mask(actual)) is not None


def slug(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen, result = {}, set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.add(base if n == 0 else f"{base}-{n}")
    return result


def check_links(root, files):
    """Every relative link names a file of the repository, and its anchor a heading there."""
    problems = []
    for path in files:
        in_fence = False
        for number, line in enumerate((root / path).read_text(encoding="utf-8").splitlines(), 1):
            if FENCE.match(line):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target):
                    continue
                file_part, _, anchor = target.partition("#")
                resolved = ((root / path).parent / file_part).resolve() if file_part else root / path
                if root.resolve() not in [resolved, *resolved.parents]:
                    problems.append(f"{path}:{number}: {target} points outside the repository")
                elif not resolved.exists():
                    problems.append(f"{path}:{number}: {target}: no such file")
                elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                    problems.append(f"{path}:{number}: {target}: no such heading")
    return problems


def session_members(session):
    """Pids of the processes in a session (what a block left running)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == session:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                members.append((int(entry.name), cmdline))
        except (OSError, ValueError, IndexError):
            continue
    return members


def kill_session(session):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, _ in session_members(session):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(1)


def run_block(block, number, args):
    folder = args.work / f"{number:02d}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "target" / "debug").mkdir(parents=True)
    (folder / "tmp").mkdir()
    (folder / "target" / "debug" / "omsd").symlink_to(args.omsd)
    if args.omsctl:
        (folder / "target" / "debug" / "omsctl").symlink_to(args.omsctl)
    script = args.work / f"{number:02d}.sh"
    script.write_text(block.text, encoding="utf-8")
    env = dict(os.environ)
    env["TMPDIR"] = str(folder / "tmp")
    env["PATH"] = os.pathsep.join([*args.path, env.get("PATH", "")])
    stdout_path = args.work / f"{number:02d}.stdout"
    stderr_path = args.work / f"{number:02d}.stderr"
    problems = []
    started = time.monotonic()
    # Files, not pipes: a process the block leaves running must not keep the runner waiting.
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(["bash", str(script)], cwd=folder, env=env, stdout=stdout,
                                stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=BLOCK_TIMEOUT_SECS)
        except subprocess.TimeoutExpired:
            kill_session(proc.pid)
            proc.wait()
            problems.append(f"it did not end within {BLOCK_TIMEOUT_SECS} s")
    seconds = time.monotonic() - started
    left = session_members(proc.pid)
    if left:
        problems.append("it left processes running: " + "; ".join(cmd for _, cmd in left))
        kill_session(proc.pid)
    if proc.returncode != 0:
        problems.append(f"it exited with status {proc.returncode}")
    leftovers = sorted(p.name for p in (folder / "tmp").iterdir())
    if leftovers:
        problems.append("it left temporary files: " + ", ".join(leftovers))
    actual = stdout_path.read_text(encoding="utf-8", errors="replace").splitlines()
    same = len(actual) == len(block.expected) and all(
        line_matches(e, a) for e, a in zip(block.expected, actual))
    if not same:
        problems.append("what it printed is not what the documentation shows (masked; - shown, + printed):")
        diff = difflib.unified_diff([mask(e) for e in block.expected], [mask(a) for a in actual],
                                    lineterm="", n=2)
        problems.extend("    " + d for d in list(diff)[2:])
    if problems:
        tail = stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        if tail:
            problems.append("its standard error ends with:")
            problems.extend("    " + t for t in tail)
    return seconds, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the repository")
    parser.add_argument("--omsd", type=Path, required=True, help="the omsd binary under test")
    parser.add_argument("--omsctl", type=Path, help="the omsctl binary under test")
    parser.add_argument("--work", type=Path, required=True, help="where blocks run")
    parser.add_argument("--path", action="append", default=[], help="folders put first on PATH")
    parser.add_argument("--list", action="store_true", help="only list the runnable blocks")
    parser.add_argument("files", nargs="*", help="Markdown files, relative to the root")
    args = parser.parse_args()
    root = args.root.resolve()
    every = ["README.md", *sorted(str(p.relative_to(root)) for p in (root / "docs").glob("*.md"))]
    files = args.files or every

    blocks = runnable_blocks(root, files)
    if args.list:
        for block in blocks:
            print(f"{block.where()}  ({len(block.expected)} output lines)")
        return 0
    failures = 0
    problems = check_links(root, every)
    for problem in problems:
        print(f"FAIL link {problem}")
    failures += len(problems)
    if not blocks:
        print("FAIL no runnable blocks found (a fence opened with ```sh runnable)")
        return 1
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.omsd = args.omsd.resolve()
    args.omsctl = args.omsctl.resolve() if args.omsctl else None
    for number, block in enumerate(blocks, 1):
        seconds, problems = run_block(block, number, args)
        if problems:
            failures += 1
            print(f"FAIL {block.where()} ({seconds:.1f} s)")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"ok   {block.where()} ({seconds:.1f} s, {len(block.expected)} lines as shown)")
        sys.stdout.flush()
    if failures:
        print(f"docs test: {failures} failure(s)")
        return 1
    print(f"docs test: {len(blocks)} blocks ran as written and printed what the documentation shows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
