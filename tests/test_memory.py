"""Memory freed by concurrent queries goes back to the system (glibc only; the figures are in README).

The helper (qa.reloader.return_large_blocks_to_the_system) is checked twice: that it has the
effect, and that the server's app factories call it, seen in glibc's own count of mapped memory.
"""

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


# A process that builds the app as `qa serve` does (create_app; its workers: app_from_env), then
# asks glibc where an 8 MB block went. By default glibc raises its mmap threshold to the size of
# a freed mapped block, so after a 24 MB array is freed an 8 MB one comes from the heap; with the
# threshold fixed at 128 KB it is mapped, and mallinfo2's count of mapped bytes (hblkhd) grows by
# it. (A block is mapped only when no free heap space holds it, hence one this large: a 400 KB one
# sometimes found room in the heap that the imports had left.) "none" builds no app: the control
# that the probe tells the two apart.
SERVER_PROBE = textwrap.dedent(
    """
    import ctypes, os, sys

    import numpy as np

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    os.environ["QA_INDEX"] = sys.argv[2]  # never loaded: the app loads its index when it starts serving
    if sys.argv[1] != "none":
        from qa import api
        from qa.settings import Settings

        app = api.create_app(Settings.from_env()) if sys.argv[1] == "create_app" else api.app_from_env()
    freed = np.ones(3_000_000)  # 24 MB, mapped
    del freed
    before = libc.mallinfo2().hblkhd
    held = np.ones(1_000_000)  # 8 MB
    print(libc.mallinfo2().hblkhd - before)
    """
)


def mapped_growth(factory: str, tmp_path) -> int:
    done = subprocess.run([sys.executable, "-c", SERVER_PROBE, factory, str(tmp_path / "index")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
@pytest.mark.parametrize("factory", ["create_app", "app_from_env"])
def test_the_server_fixes_the_threshold_for_its_request_threads(factory, tmp_path):
    assert mapped_growth("none", tmp_path) == 0, "the probe cannot tell a fixed threshold from glibc's own"
    assert mapped_growth(factory, tmp_path) >= 8_000_000, f"{factory} left glibc's mmap threshold to rise"
