"""Command line: ``python -m clusterpolicy {build,run,diff,release,synth,montecarlo,validate,prepare}``.

Exit status: 0 success, 1 a chapter or the book failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from clusterpolicy.book import changes, release
from clusterpolicy.book.build import BuildError, ChapterFailed, ContractBroken, RenderFailed, build, run
from clusterpolicy.checks.store import cli_montecarlo
from clusterpolicy.data.prepare import cli_prepare
from clusterpolicy.data.read import cli_validate
from clusterpolicy.synthetic import cli_synth


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--book", default=".", help="book root holding _toc.yml (default: .)")
    parser.add_argument("--params", metavar="FILE",
                        help="YAML file mapping parameter names to values")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="set one parameter (repeatable)")
    parser.add_argument("--out", help="build directory (default: BOOK/_build)")


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of the command line, one subcommand per command."""
    parser = argparse.ArgumentParser(prog="python -m clusterpolicy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="execute every chapter and render the book")
    _add_run_options(build)
    build.add_argument("--order", choices=["toc", "reverse"], default="toc",
                       help="order in which chapters execute (results must not depend on it)")
    build.add_argument("--pdf", action="store_true",
                       help="also write the book as a PDF to BUILD/pdf/book.pdf (needs xelatex)")

    run = sub.add_parser("run", help="execute one chapter as the build does")
    run.add_argument("chapter", help="chapter name, e.g. 03_productivity or chapters/03_productivity.md")
    _add_run_options(run)

    diff = sub.add_parser("diff", help="what changed between two runs: glued values that "
                                       "moved, verdicts that flipped, and why")
    diff.add_argument("before", help="run_manifest.json of the earlier run, or its site folder")
    diff.add_argument("after", help="run_manifest.json of the later run, or its site folder")

    rel = sub.add_parser("release", help="freeze the results of a release: build the book, "
                                         "keep its run manifest in releases/VERSION/, set the "
                                         "version and date in CITATION.cff, add the changelog "
                                         "entry (make release runs the tests first)")
    rel.add_argument("version", help="the new version, X.Y.Z, newer than CITATION.cff's")
    rel.add_argument("--book", default=".", help="book root holding _toc.yml (default: .)")
    rel.add_argument("--out", help="build directory (default: BOOK/_build)")

    synth = sub.add_parser("synth", help="generate the synthetic datasets")
    synth.add_argument("--out", required=True, help="directory to write the datasets into")
    synth.add_argument("--seed", type=int, default=None, help="random seed (default: the book's)")
    synth.add_argument("--firms", type=int, default=None, help="number of firms in the panel")
    synth.add_argument("--shape", default="flanders",
                       help="calibration of the panel: 'flanders' (default) or another shape "
                            "defined in clusterpolicy.synthetic")
    synth.add_argument("--scenario", default="baseline",
                       help="world of the generators (clusterpolicy.synthetic.scenarios): "
                            "'baseline' (default), a study-1 scenario such as 'firm-effect' "
                            "(changes the panel) or a study-2 scenario such as 'threshold' "
                            "(changes the tech firms)")

    mc = sub.add_parser("montecarlo",
                        help="compute or extend the stored cells of the Monte Carlo grid")
    mc.add_argument("--store", default="data/montecarlo",
                    help="folder of the stored cells (default: data/montecarlo)")
    mc.add_argument("--replications", type=int, default=500, help="replications per cell")
    mc.add_argument("--study", choices=["panel", "tech"], action="append", default=None,
                    help="only this study's cells (repeatable; default: both)")
    mc.add_argument("--scenario", action="append", default=None,
                    help="only this scenario (repeatable; default: every scenario)")
    mc.add_argument("--recompute", action="store_true",
                    help="compute the cells anew even where the store holds them")
    mc.add_argument("--carry-over", action="store_true",
                    help="before computing, recompute a sample of each stale cell's replications "
                         "and keep the cell, re-keyed, when every value is identical")
    mc.add_argument("--n-jobs", type=int, default=-1, help="workers (default: every core)")
    mc.add_argument("--seed", type=int, default=None, help="root seed (default: the book's)")
    mc.add_argument("--dask-scheduler", default="",
                    help="run the replications on a Dask cluster: 'local' or an address such as "
                         "tcp://host:8786 (same numbers as locally)")

    validate = sub.add_parser("validate", help="check an input file against its schema")
    validate.add_argument("path", help="CSV or Parquet file")
    validate.add_argument("--schema", required=True, choices=["panel", "membership", "techfirms"])
    validate.add_argument("--clusters", nargs="+", default=None,
                          help="cluster names the membership file may use (default: the seven)")
    validate.add_argument("--panel", default=None,
                          help="with --schema membership: the panel, for the cross-file checks")

    prepare = sub.add_parser("prepare", help="turn a raw extract into the book's inputs, as a "
                                             "recipe says")
    prepare.add_argument("recipe", help="recipe file (YAML); its relative paths are relative "
                                        "to it")
    prepare.add_argument("--out", required=True,
                         help="folder to write panel.parquet, membership.csv, run.yml and the "
                              "preparation report into")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = make_parser().parse_args(argv)

    try:
        if args.command == "build":
            build(args.book, params_file=args.params, cli_pairs=args.parameter, out=args.out,
                  order=args.order, pdf=args.pdf)
        elif args.command == "run":
            run(args.book, args.chapter, params_file=args.params, cli_pairs=args.parameter,
                out=args.out)
        elif args.command == "diff":
            try:
                before, after = (changes.read_manifest(p) for p in (args.before, args.after))
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(changes.compare(before, after, before_label=args.before,
                                  after_label=args.after).text(), end="")
        elif args.command == "release":
            try:
                release.make_release(args.book, args.version, out=args.out)
            except release.ReleaseError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        elif args.command == "synth":
            return cli_synth(args.out, seed=args.seed, firms=args.firms, shape=args.shape,
                              scenario=args.scenario)
        elif args.command == "montecarlo":
            return cli_montecarlo(args.store, replications=args.replications, studies=args.study,
                                  scenarios=args.scenario, recompute=args.recompute,
                                  carry=args.carry_over,
                                  n_jobs=args.n_jobs, seed=args.seed,
                                  dask_scheduler=args.dask_scheduler)
        elif args.command == "validate":
            return cli_validate(args.path, args.schema, clusters=args.clusters, panel=args.panel)
        elif args.command == "prepare":
            return cli_prepare(args.recipe, args.out)
    except (ChapterFailed, RenderFailed, ContractBroken) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
