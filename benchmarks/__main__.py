"""``make bench``: run every benchmark section, print its figures and write ``out/bench/bench.json``.

Sections: ``covariates`` (one epoch of the 30 arc-sec virtual Eurasia stack, or a sub-extent with
``--quick``), ``models`` (the published model-comparison protocol), ``predict`` (tiled prediction of
one 30 arc-sec epoch against scikit-learn). ``python -m benchmarks [--quick] [SECTION ...]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

SECTIONS = {
    "covariates": "benchmarks.covariates",
    "predict": "benchmarks.predict",
    "models": "benchmarks.models",
}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "date": date.today().isoformat(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("sections", nargs="*", help=f"sections to run, of {list(SECTIONS)} (all)")
    parser.add_argument("--quick", action="store_true", help="small versions of each benchmark")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    for name in args.sections or list(SECTIONS):
        module = importlib.import_module(SECTIONS[name])
        print(f"== {name} ==", flush=True)
        t0 = time.perf_counter()
        kwargs = {}
        if name == "covariates":  # build where the prediction benchmark reuses it
            kwargs = {"epoch": 2010, "out_dir": args.out / "covariates"}
            if args.quick:
                kwargs["out_dir"] = args.out / "covariates-quick"
        results[name] = module.run(quick=args.quick, **kwargs)
        results[name]["section_wall_s"] = round(time.perf_counter() - t0, 1)
        for key, value in results[name].items():
            if not isinstance(value, dict | list):
                print(f"  {key:<28} {value}")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "bench.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, default=str))
    os.replace(tmp, args.out / "bench.json")
    print(f"figures written to {args.out / 'bench.json'}")
    return results


if __name__ == "__main__":
    main()
