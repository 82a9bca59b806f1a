"""The docs cannot go stale unnoticed: every `qa` command and HTTP example in README.md and docs/
runs against a small index built here, every relative link resolves, and the figures shown are the
ones the measuring tools wrote."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, SEEDS, free_port

pytestmark = pytest.mark.slow

DOCS = [REPO / "README.md", REPO / "CHANGELOG.md", REPO / "bench" / "README.md",
        *sorted((REPO / "docs").glob("*.md")), REPO / "tests" / "data" / "blind2k" / "README.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def code_blocks(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(path.read_text(encoding="utf-8"))]


def shell_commands(language: str, block: str) -> list[str]:
    """The commands of a ``sh`` block (continuation lines joined), or the ``$ `` lines of a ``console`` one."""
    if language == "console":
        return [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    if language != "sh":
        return []
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def documented() -> list[tuple[str, str]]:
    """(where, command) for every `qa` and `curl` command in the docs."""
    found = []
    for path in DOCS:
        for language, block in code_blocks(path):
            for command in shell_commands(language, block):
                if re.match(r"(\.venv/bin/qa|qa|curl) ", command):
                    found.append((path.relative_to(REPO).as_posix(), command))
    return found


def test_the_docs_show_commands_to_run():
    where = {w for w, _ in documented()}
    assert {"README.md", "docs/cli.md", "docs/api.md", "docs/search.md"} <= where, where
    assert sum(c.startswith("curl") for _, c in documented()) >= 5


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder laid out as a newcomer's checkout after `make run`: seeds/, index/, tests/data, .venv,
    and a folder of their own briefings; a server on a free port in place of 8000."""
    folder = tmp_path_factory.mktemp("newcomer")
    shutil.copytree(SEEDS, folder / "seeds")
    shutil.copytree(SEEDS, folder / "my-briefings")
    (folder / "tests").symlink_to(REPO / "tests")
    (folder / ".venv").symlink_to(REPO / ".venv")
    (folder / "tmp").mkdir()
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "QA_CACHE": os.environ.get("QA_CACHE", str(Path.home() / ".cache" / "briefing-qa"))}
    env.pop("QA_INDEX", None)
    subprocess.run([sys.executable, "-m", "qa.cli", "index", "--source", "seeds", "--out", "index"], cwd=folder,
                   env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--index", "index", "--port", str(port)],
                              cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(port, server)
    try:
        yield folder, env, port
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_until_up(port: int, process: subprocess.Popen, limit: float = 180) -> None:
    import httpx

    began = time.monotonic()
    while time.monotonic() - began < limit:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail("the server did not become ready")


def as_run(command: str, folder: Path, port: int) -> str:
    """The command as the test runs it: the server's port for 8000, the workspace's tmp/ for /tmp/,
    and curl failing on an HTTP error."""
    command = command.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace("/tmp/", f"{folder}/tmp/")
    if command.startswith("curl "):
        command = "curl --fail-with-body " + command[len("curl "):]
    return command


@pytest.mark.parametrize(("where", "command"), documented(), ids=lambda value: value[:70])
def test_every_documented_command_runs(workspace, where, command):
    folder, env, port = workspace
    run = as_run(command, folder, port)
    if re.match(r"(\.venv/bin/qa|qa) .*\bserve\b", command):
        serve_port = free_port()
        words = shlex.split(run)
        words = [w for w in words]
        if "--port" in words:
            words[words.index("--port") + 1] = str(serve_port)
        else:
            words += ["--port", str(serve_port)]
        process = subprocess.Popen(words, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(serve_port, process)
        finally:
            process.terminate()
            process.wait(timeout=30)
        return
    done = subprocess.run(["bash", "-c", run], cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{where}: {command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def test_the_readme_example_is_what_qa_prints(workspace):
    """The answer shown at the top of the README is the one `qa ask` gives on the seeds."""
    folder, env, port = workspace
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    language, block = next((lang, b) for lang, b in code_blocks(REPO / "README.md") if lang == "console")
    command, *shown = block.splitlines()
    done = subprocess.run(["bash", "-c", command[2:]], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # Scores and the confidence as printed may move in the last digit from one processor to another
    # (int8 arithmetic); the words, the speakers and the offsets may not.
    def masked(lines: list[str]) -> list[str]:
        return [re.sub(r"\d+\.\d+", "#", line.rstrip()) for line in lines]

    assert masked(done.stdout.strip().splitlines()) == masked(shown), done.stdout
    assert readme.count("\n") <= 220


def subset_differences(shown, real, where: str = "") -> list[str]:
    """Where the abridged ``shown`` JSON is not part of ``real``: every key shown exists with the same
    value (numbers with a fraction only of the same type), every list item against the same position."""
    if isinstance(shown, dict):
        if not isinstance(real, dict):
            return [f"{where}: not an object"]
        return [d for key, value in shown.items()
                for d in ([f"{where}.{key}: missing"] if key not in real else subset_differences(value, real[key], f"{where}.{key}"))]
    if isinstance(shown, list):
        if not isinstance(real, list) or len(real) < len(shown):
            return [f"{where}: not a list this long"]
        return [d for i, value in enumerate(shown) for d in subset_differences(value, real[i], f"{where}[{i}]")]
    if isinstance(shown, float):
        return [] if isinstance(real, float) else [f"{where}: {real!r} is not a number with a fraction"]
    return [] if shown == real else [f"{where}: shown {shown!r}, answered {real!r}"]


def test_the_readme_json_is_what_the_api_answers(workspace):
    """The README's JSON reply is (abridged) what its curl example gets."""
    import json

    folder, env, port = workspace
    blocks = code_blocks(REPO / "README.md")
    at = next(i for i, (lang, _) in enumerate(blocks) if lang == "json")
    curl = next(c for c in shell_commands(*blocks[at - 1]) if c.startswith("curl "))
    done = subprocess.run(["bash", "-c", as_run(curl, folder, port)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert subset_differences(json.loads(blocks[at][1]), json.loads(done.stdout)) == []


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_resolves():
    broken = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            if not resolved.exists():
                broken.append(f"{path.relative_to(REPO)}: {target}")
            elif anchor and resolved.suffix == ".md":
                headings = re.findall(r"(?m)^#+ (.*)$", resolved.read_text(encoding="utf-8"))
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, broken


def test_the_figures_shown_are_the_ones_measured():
    """README's glance and bench/README.md's table are what bench/glance.py writes from the figure files."""
    sys.path.insert(0, str(REPO / "bench"))
    import glance

    for path, text in glance.rendered().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run bench/glance.py (make eval / make bench)"


def test_the_readme_holds_no_dated_measurement_log():
    """Outside the generated table no line of the README gives a date with a measured figure."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    outside = re.sub(r"<!-- glance:.*?<!-- /glance -->", "", readme, flags=re.S)
    dated = [line for line in outside.splitlines()
             if re.search(r"\b20\d\d-\d\d-\d\d\b", line)
             and re.search(r"\d\s*(ms|MB|GB|s\b|%|queries/s|windows/s)", line)]
    assert not dated, dated
