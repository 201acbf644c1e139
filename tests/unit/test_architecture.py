"""The package's import structure: one-way layers, no cycles, no private names across modules.

The layers, from the bottom up (a module may import only from its own layer or a lower one, and
never in a cycle; the workflow and the CLI sit on top):

0. base: constants, errors, files, contract, legends, grid, paths, config
1. kernels and tables: kernels, carbon, tables, allometry, field_plots, landscape, io, cluster,
   workers, aoi
2. domain: dynamics, models, account, sources, crosswalk, align, provenance, publish
3. stages (files in, files out), invest, calibrate
4. cli

Checked from the source with :mod:`ast` (imports inside functions count too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sinkmap"

#: Layer of each top-level module or subpackage of ``sinkmap``.
LAYERS: dict[str, int] = {
    "constants": 0,
    "errors": 0,
    "files": 0,
    "progress": 0,
    "contract": 0,
    "legends": 0,
    "grid": 0,
    "paths": 0,
    "config": 0,
    "carbon": 1,
    "tables": 1,
    "allometry": 1,
    "field_plots": 1,
    "landscape": 1,
    "io": 1,
    "stacks": 1,
    "cluster": 1,
    "workers": 1,
    "aoi": 1,
    "kernels": 1,
    "dynamics": 2,
    "state_layers": 2,
    "regression": 2,
    "models": 2,
    "crosswalk": 2,
    "account": 2,
    "sources": 2,
    "align": 2,
    "provenance": 2,
    "publish": 2,
    "stages": 3,
    "invest": 3,
    "calibrate": 3,
    "cli": 4,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every sinkmap import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sinkmap":
                    out.append((alias.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "sinkmap":
                out.append((module, [a.name for a in node.names], node.lineno))
    return out


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_module(name: str) -> bool:
    dotted = PACKAGE.parent.joinpath(*name.split("."))
    return dotted.with_suffix(".py").exists() or (dotted / "__init__.py").exists()


def test_every_module_has_a_layer() -> None:
    tops = {_top(_module_name(p)) for p in _sources()} - {""}
    assert tops <= set(LAYERS), f"give these modules a layer: {sorted(tops - set(LAYERS))}"


def test_imports_only_go_down() -> None:
    bad = []
    for path in _sources():
        me = _module_name(path)
        mine = LAYERS.get(_top(me), 0)  # the package face imports only the base
        for module, _, line in _imports(path):
            target = _top(module)
            if target and target != _top(me) and LAYERS.get(target, 99) > mine:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} (layer up)")
    assert not bad, "\n".join(bad)


def test_no_private_names_across_modules() -> None:
    bad = []
    for path in _sources():
        me = _module_name(path)
        for module, names, line in _imports(path):
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private and module != me:
                bad.append(f"{path.relative_to(ROOT)}:{line} takes {private} from {module}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for path in _sources():
        me = _module_name(path)
        deps = graph.setdefault(me, set())
        for module, names, _ in _imports(path):
            for name in names or [""]:
                full = f"{module}.{name}" if name and _is_module(f"{module}.{name}") else module
                if full != me:
                    deps.add(full)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("script", sorted((ROOT / "workflow" / "scripts").glob("*.py")))
def test_workflow_scripts_call_stages_not_internals(script: Path) -> None:
    """Scripts are thin: they import the stages (and publishers), never a private name."""
    for module, names, line in _imports(script):
        assert not any(n.startswith("_") for n in names), f"{script.name}:{line} {names}"
        assert _top(module) in {"stages", "publish", "config", "paths"}, (
            f"{script.name}:{line} imports {module}; call a sinkmap.stages function instead"
        )


@pytest.mark.parametrize("script", sorted((ROOT / "workflow" / "scripts").glob("*.py")))
def test_workflow_scripts_hand_their_job_to_the_job_server_first(script: Path) -> None:
    """A script's first statements (after its docstring) hand the job to the run's job server,
    before any import that the server has already done (sinkmap.stages.jobserver)."""
    body = ast.parse(script.read_text(encoding="utf-8")).body[1:3]
    assert [ast.unparse(s) for s in body] == [
        "from sinkmap.stages.jobserver import run_warm",
        "run_warm(snakemake)",
    ], f"{script.name} must begin with run_warm(snakemake) after its docstring"


#: The workflow's jobs that read no raster chunk by chunk. Each job is a new Python process:
#: ``dask.array`` costs 0.3-0.7 s of its start-up (it imports xarray and pandas), ``distributed``
#: 0.1-0.2 s more, ``dask`` itself 0.06 s. These jobs start without any of them.
LIGHT_SCRIPTS = (
    "account",
    "account_json",
    "aois_account",
    "aois_mosaic",
    "aois_stac",
    "fetch",
    "flux_quicklook",
    "geopackage",
    "grid",
    "qgis_project",
    "quicklooks",
    "report",
    "stac",
    "zone_cover",
)


def test_light_jobs_start_without_the_array_stack() -> None:
    """The sinkmap imports of the light jobs' scripts, and the scheduler module every job enters
    (:func:`sinkmap.stages.step`), made in a fresh interpreter, leave ``dask.array``, ``xarray``
    and ``distributed`` unimported, and ``dask`` itself but for the GeoPackage job's (it writes
    through :mod:`sinkmap.io`); a heavy job's script imports ``dask.array`` (the check sees it).
    The light jobs start without SciPy too: the Monte Carlo's distributions import it only to
    draw a truncated normal or a triangular; the stocks job's imports include it (dask.array's)."""
    heavy = ("dask.array", "xarray", "distributed")

    def imported(*scripts: str, watch: tuple[str, ...] = heavy) -> list[str]:
        lines = ["import sinkmap.cluster"]
        for name in scripts:
            for module, names, _ in _imports(ROOT / "workflow" / "scripts" / f"{name}.py"):
                lines.append(
                    f"from {module} import {', '.join(names)}" if names else f"import {module}"
                )
        lines += ["import sys", f"print(' '.join(m for m in {watch!r} if m in sys.modules))"]
        proc = subprocess.run(
            [sys.executable, "-c", "\n".join(lines)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    light = imported(*LIGHT_SCRIPTS, watch=(*heavy, "scipy"))
    assert light == [], "imported by a light job's script"
    # the jobs that neither compute nor write through sinkmap.io start without dask itself
    no_dask = [s for s in LIGHT_SCRIPTS if s != "geopackage"]
    assert imported(*no_dask, watch=("dask",)) == [], "dask imported by a job that needs none"
    assert {"dask.array", "scipy"} <= set(imported("stocks", watch=(*heavy, "scipy")))


def test_the_command_line_starts_without_the_geospatial_stack() -> None:
    """``sinkmap`` parses its command line (every command's options and help) without pandas,
    rasterio, dask, matplotlib or pydantic (NumPy it does: the legends): each command imports
    what it computes with when it runs (``sinkmap --help`` 1.6 -> 0.14 CPU s)."""
    code = (
        "import sys\n"
        "from sinkmap.cli import main\n"
        "try:\n"
        "    main(['stock', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('pandas', 'rasterio', 'dask', 'geopandas', 'matplotlib', 'pydantic')\n"
        "print(' '.join(m for m in heavy if m in sys.modules) or 'none')\n"
    )
    assert _python(code)[-1] == "none"


def test_computing_on_the_jobs_threads_leaves_distributed_unimported() -> None:
    """A heavy job computes on its own threads (:func:`sinkmap.io.compute`, the scheduler every
    stage uses) without importing ``distributed``: dask imports it to look up a scheduler given by
    name, 0.1 s of every such job for a client that is not there."""
    code = (
        "import sys\n"
        "import dask.array as da\n"
        "from sinkmap.io import compute\n"
        "(total,) = compute([da.ones((64, 64), chunks=16).sum()], 2)\n"
        "print(int(total), 'distributed' in sys.modules)\n"
    )
    assert _python(code) == ["4096", "False"]


def _python(code: str) -> list[str]:
    """The words ``code`` prints, run in a fresh interpreter from the repository."""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()
