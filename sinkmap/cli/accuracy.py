"""``sinkmap sample`` and ``sinkmap assess``: the reference sample of an interval's change map,
and the accuracy and area-adjusted areas from it (Olofsson et al. 2014)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sinkmap.constants import MIN_PER_STRATUM, TARGET_SE
from sinkmap.errors import ConfigError
from sinkmap.legends import CHANGE_STRATUM_NAMES


def add_cli(sub: Any) -> None:
    p = sub.add_parser(
        "sample",
        help="draw the stratified reference sample of an interval's change map",
        description="Draw a stratified random sample over the change strata of an interval "
        "(stable forest, stable plantation, forest loss, forest gain, stable non-forest) of a "
        "finished run, sized for a target standard error of overall accuracy; write it to "
        "results/accuracy/<y0>-<y1>/ as sample.gpkg (points and plot squares, an empty "
        "reference_class field to interpret in QGIS) and sample.csv. See docs/accounting.md.",
    )
    p.add_argument("interval", help="two mapped years, e.g. 2020-2024")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--target-se",
        type=float,
        default=TARGET_SE,
        help=f"target standard error of overall accuracy (default {TARGET_SE})",
    )
    p.add_argument(
        "--min-per-stratum",
        type=int,
        default=MIN_PER_STRATUM,
        help=f"minimum sample units per stratum (default {MIN_PER_STRATUM})",
    )
    p.add_argument(
        "--size", type=int, default=None, help="total sample size (overrides --target-se)"
    )
    p.add_argument(
        "--expected-users",
        default="",
        help="conjectured user's accuracy per stratum code, e.g. '3=0.8,4=0.7' "
        f"(codes: {CHANGE_STRATUM_NAMES})",
    )
    p.set_defaults(func=_sample)
    p = sub.add_parser(
        "assess",
        help="accuracy and area-adjusted areas of an interval from its interpreted sample",
        description="Read the interpreted sample (sample.gpkg or sample.csv with reference_class "
        "filled in) and write the error matrix in area proportions, user's, producer's and "
        "overall accuracy and the area-adjusted area of every stratum with its 95 %% interval.",
    )
    p.add_argument("interval", help="the interval of the sample, e.g. 2020-2024")
    p.add_argument("labels", type=Path, help="the interpreted sample (.gpkg or .csv)")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--strata", type=Path, default=None, help="strata table written with the sample")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads of the stocks' Monte Carlo (default: all)",
    )
    p.set_defaults(func=_assess)


def _interval(text: str) -> tuple[int, int]:
    try:
        y0, y1 = (int(v) for v in text.split("-"))
    except ValueError:
        raise ConfigError(f"interval {text!r} must be two years, e.g. 2020-2024") from None
    return y0, y1


def _users(text: str) -> dict[int, float]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            k, v = part.split("=")
            out[int(k)] = float(v)
        except ValueError:
            raise ConfigError(
                f"--expected-users item {part!r} must be code=accuracy, e.g. 3=0.8"
            ) from None
    return out


def _sample(args: argparse.Namespace) -> int:
    # imported here: `sinkmap --help` and the other commands start without it (cli/__init__.py)
    from sinkmap.config import load_config
    from sinkmap.stages.accuracy import draw_sample

    y0, y1 = _interval(args.interval)
    out = draw_sample(
        load_config(args.config),
        y0,
        y1,
        seed=args.seed,
        target_se=args.target_se,
        minimum=args.min_per_stratum,
        expected_users=_users(args.expected_users),
        n_total=args.size,
    )
    for path in out.values():
        print(f"wrote {path}")
    return 0


def _assess(args: argparse.Namespace) -> int:
    from sinkmap.config import load_config
    from sinkmap.stages.accuracy import assess_sample

    y0, y1 = _interval(args.interval)
    out = assess_sample(
        load_config(args.config),
        y0,
        y1,
        args.labels,
        strata_table=args.strata,
        threads=args.threads or os.cpu_count() or 1,
    )
    for path in out.values():
        print(f"wrote {path}")
    return 0
