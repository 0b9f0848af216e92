"""``make bench``: run every benchmark section, print its figures and write ``out/bench/bench.json``.

Sections: ``covariates`` (one epoch of the 30 arc-sec virtual Eurasia stack, or a sub-extent with
``--quick``), ``models`` (the published model-comparison protocol), ``predict`` (tiled prediction of
one 30 arc-sec epoch against scikit-learn), ``product`` (``permamap run`` on the demo config, five
epochs at 30 arc-sec — about 25 minutes on two cores — or at the demo's 300 arc-sec with ``--quick``;
``--res-arcsec`` sets another resolution), ``projections`` (one scenario × period × GCM projected on
the 30 arc-sec baseline stack of ``predict``), ``change_report`` (the change stage and the report on
a five-epoch 30 arc-sec run folder made from the ``predict`` map), ``real_layout`` (files in the
real products' layouts and names, made from the virtual world, read by the real readers into a
30 arc-sec stack). ``python -m benchmarks [--quick] [SECTION ...]``.

Each section's figures go under its key in ``bench.json``; the other sections' figures stay.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

from benchmarks.results import load_results, machine, save_section

SECTIONS = {
    "covariates": "benchmarks.covariates",
    "predict": "benchmarks.predict",
    "models": "benchmarks.models",
    "product": "benchmarks.product",
    "projections": "benchmarks.projections",
    "change_report": "benchmarks.change_report",
    "real_layout": "benchmarks.real_layout",
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("sections", nargs="*", help=f"sections to run, of {list(SECTIONS)} (all)")
    parser.add_argument("--quick", action="store_true", help="small versions of each benchmark")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    parser.add_argument(
        "--res-arcsec",
        type=float,
        default=None,
        help="product section: grid resolution in arc-seconds (default 30; 300 with --quick)",
    )
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    results = load_results(args.out)
    results.update(machine=machine(), quick=args.quick)
    for name in args.sections or list(SECTIONS):
        module = importlib.import_module(SECTIONS[name])
        print(f"== {name} ==", flush=True)
        t0 = time.perf_counter()
        kwargs: dict[str, Any] = {}
        if name == "covariates":  # build where the prediction benchmark reuses it
            kwargs = {"epoch": 2010, "out_dir": args.out / "covariates"}
            if args.quick:
                kwargs["out_dir"] = args.out / "covariates-quick"
        elif name in ("predict", "product", "projections", "change_report", "real_layout"):
            kwargs = {"out_dir": args.out}
            if name == "product":
                kwargs["res_arcsec"] = args.res_arcsec
        results[name] = module.run(quick=args.quick, **kwargs)
        results[name]["section_wall_s"] = round(time.perf_counter() - t0, 1)
        for key, value in results[name].items():
            if not isinstance(value, dict | list):
                print(f"  {key:<28} {value}")
        save_section(args.out, name, results[name])
    save_section(args.out, "machine", results["machine"])
    save_section(args.out, "quick", args.quick)
    print(f"figures written to {args.out / 'bench.json'}")
    return results


if __name__ == "__main__":
    main()
