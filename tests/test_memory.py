"""Memory freed by concurrent queries goes back to the system (glibc only; the figures are in README)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

# Many threads each hold a few large arrays at once and free them, as concurrent queries do.
# Resident memory is read before and after; the child prints the growth in MB.
CHILD = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    if sys.argv[1] == "fixed":
        from qa.reloader import return_large_blocks_to_the_system

        return_large_blocks_to_the_system()

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    def query(seed):
        rng = np.random.default_rng(seed)
        held = [np.ones(int(rng.integers(40_000, 400_000)), dtype=np.float32) for _ in range(6)]
        return float(sum(a.sum() for a in held))

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda i: np.ones(1000).sum(), range(2000)))  # start the threads
        before = rss_mb()
        for _ in range(5):
            list(pool.map(query, range(2000)))
        after = rss_mb()
    print(round(after - before, 1))
    """
)


def growth(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_large_blocks_freed_by_request_threads_leave_the_process():
    fixed = growth("fixed")
    assert fixed < 15, f"resident memory grew by {fixed} MB after 10,000 queries' worth of freed arrays"
