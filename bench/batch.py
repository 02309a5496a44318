"""Batch inference benchmark: 1M user lines through ``create_batch_inference_job`` on the serving benchmark's model.

Prints wall time, lines per second and the job process's peak RSS for the whole input, and, as a baseline
measured in the same run, the same job on the first ``--baseline-lines`` lines scored one line per chunk (the
unbatched path), so the speed-up of batching is a ratio on one machine under one load.

    python bench/batch.py --home /tmp/recsmith-bench-serving --lines 1000000

Needs the installation ``bench/serving.py`` builds under ``--home`` (it builds it when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

CHILD = """
import json, resource, sys, time
sys.path[:0] = {paths!r}
from recsmith.campaigns.batch import create_batch_inference_job
from recsmith.platform import Platform
from recsmith.settings import Settings
spec = json.loads(sys.argv[1])
platform = Platform(Settings(home=spec["home"]))
started = time.perf_counter()
job = create_batch_inference_job(platform, spec["name"], spec["version"], spec["input"], spec["output"],
                                 num_results=25, **spec["options"])
elapsed = time.perf_counter() - started
print(json.dumps({{"status": job.status.value, "reason": job.failure_reason, "elapsed": elapsed,
                  "records": job.attributes.get("recordsProcessed"),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_job(home: Path, name: str, version: str, source: Path, output: Path, **options: int) -> dict[str, object]:
    """One job in a fresh process, so its peak RSS is its own."""
    spec = {"home": str(home), "name": name, "version": version, "input": str(source), "output": str(output),
            "options": options}  # fmt: skip
    code = CHILD.format(paths=[str(ROOT / "src"), str(ROOT)])
    done = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True, text=True, check=True)
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    if result["status"] != "ACTIVE":
        raise SystemExit(f"job {name} failed: {result['reason']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "recsmith-bench-serving")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--baseline-lines", type=int, default=20_000)
    args = parser.parse_args()
    from bench.serving import build
    from recsmith.catalog import ResourceType
    from recsmith.platform import Platform
    from recsmith.settings import Settings

    built = build(args.home, 100_000, 50_000, 12)
    platform = Platform(Settings(home=args.home / "home"))
    campaign = platform.catalog.get(ResourceType.CAMPAIGN, built["campaignArn"])
    version = campaign.attributes["solutionVersionArn"]
    users = int(built["users"])
    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    source = work / "users.jsonl"
    with source.open("w") as out:
        for n in range(args.lines):
            out.write(json.dumps({"userId": f"u{(n * 7919) % users}"}) + "\n")
    baseline_source = work / "baseline.jsonl"
    with source.open() as whole, baseline_source.open("w") as head:
        for _, line in zip(range(args.baseline_lines), whole, strict=False):
            head.write(line)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other jobs share it)")
    stamp = time.strftime("%H%M%S")
    base = run_job(args.home / "home", f"bench-base-{stamp}", version, baseline_source, work / "base", chunk_size=1)
    fast = run_job(args.home / "home", f"bench-fast-{stamp}", version, baseline_source, work / "fast")
    full = run_job(args.home / "home", f"bench-full-{stamp}", version, source, work / "full")
    for name, result, lines in (
        (f"{args.baseline_lines} lines, one line per chunk (baseline)", base, args.baseline_lines),
        (f"{args.baseline_lines} lines, batched", fast, args.baseline_lines),
        (f"{args.lines} lines, batched", full, args.lines),
    ):
        elapsed = float(result["elapsed"])  # type: ignore[arg-type]
        print(
            f"  {name:48s} {elapsed:8.1f} s  {lines / elapsed:8.0f} lines/s  peak RSS {result['peak_rss_mib']:.0f} MiB"
        )
    print(f"  batched / baseline speed on the same lines: {float(base['elapsed']) / float(fast['elapsed']):.2f}x")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
