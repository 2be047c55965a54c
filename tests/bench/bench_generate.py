"""`make bench`: generation throughput and peak memory at 1,000,000 customers x 30 days.

Runs ``cems generate`` as its own process (so the figure includes start-up and the
telemetry worker), samples the resident memory of the whole process tree from /proc, and
measures a baseline in the same run: copying the generated landing zone, i.e. what merely
writing the same bytes costs on this disk. Targets (issue 2): under 10 minutes and under
4 GiB. Override the size with BENCH_CUSTOMERS / BENCH_DAYS for a quick look.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 600
TARGET_BYTES = 4 * 1024**3


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * page
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def _measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"cems generate failed with exit code {proc.returncode}")
    return time.perf_counter() - started, peak, out


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    customers = int(os.environ.get("BENCH_CUSTOMERS", "1000000"))
    days = int(os.environ.get("BENCH_DAYS", "30"))
    home = REPO / ".cems" / "bench"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "CEMS_HOME": str(home)}
    cems = str(Path(sys.executable).with_name("cems"))
    print(f"Generating {customers:,} customers x {days} days into {home} ...", flush=True)
    seconds, peak, out = _measure(
        [
            cems,
            "generate",
            "--customers",
            str(customers),
            "--days",
            str(days),
            "--seed",
            "7",
            "--json",
        ],
        env,
    )
    summary = json.loads(out)
    rows = sum(summary["row_counts"].values())
    written = _size(home / "landing") + _size(home / "sources")

    copy_to = home / "baseline-copy"
    started = time.perf_counter()
    shutil.copytree(home / "landing", copy_to / "landing")
    shutil.copytree(home / "sources", copy_to / "sources")
    os.sync()
    baseline = time.perf_counter() - started
    shutil.rmtree(copy_to)

    print()
    print(f"{'':44}{'cems generate':>18}{'baseline: copy output':>24}")
    print(f"{'wall time (s)':44}{seconds:>18.1f}{baseline:>24.1f}")
    print(f"{'rows delivered':44}{rows:>18,}{rows:>24,}")
    print(f"{'rows / s':44}{rows / seconds:>18,.0f}{rows / baseline:>24,.0f}")
    print(f"{'bytes written (GiB)':44}{written / 1024**3:>18.2f}{written / 1024**3:>24.2f}")
    print(f"{'peak resident memory, all processes (GiB)':44}{peak / 1024**3:>18.2f}{'-':>24}")
    print(f"{'cost relative to copying the output':44}{seconds / baseline:>17.1f}x{'1.0x':>24}")
    print()
    for name, count in summary["row_counts"].items():
        print(f"  {name:38}{count:>14,}")
    full_size = customers >= 1_000_000 and days >= 30
    ok = seconds < TARGET_SECONDS and peak < TARGET_BYTES
    verdict = "PASS" if ok else "FAIL"
    print(
        f"\n{verdict}: target under {TARGET_SECONDS / 60:.0f} min and under "
        f"{TARGET_BYTES / 1024**3:.0f} GiB"
        + ("" if full_size else " (reduced size: indicative only)")
    )
    shutil.rmtree(home, ignore_errors=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
