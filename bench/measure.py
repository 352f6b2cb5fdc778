"""Runs commands repeatedly and prints the median wall time and peak RSS of
each, measured with wait4 (the child's own maximum resident set size)."""
import json
import os
import statistics
import subprocess
import sys
import time


def measure(argv, runs, env=None, allow_failure=False, warm=False):
    """`warm`: one more run first, not counted (it fills the page cache)."""
    walls, rss = [], []
    for i in range(runs + (1 if warm else 0)):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        rss.append(usage.ru_maxrss / 1024)  # KiB -> MiB
        if os.waitstatus_to_exitcode(status) != 0 and not allow_failure:
            sys.exit(f"{argv} failed with {status}")
        if warm and i == 0:
            walls, rss = [], []
    return statistics.median(walls), statistics.median(rss)


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    for name, argv in spec["commands"].items():
        wall, rss = measure(argv, spec["runs"], allow_failure=spec.get("allow_failure", False),
                            warm=spec.get("warm", False))
        print(json.dumps({"name": name, "wall_s": round(wall, 3), "peak_rss_mib": round(rss, 1)}))
