"""The rules' software environment (workflow/envs/sinkmap.yaml) matches environment.yml, every
rule declares it, and the rules' scripts find sinkmap without it being installed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
#: environment.yml's tools for tests and development, not needed by a rule
DEV_ONLY = {
    "pytest",
    "pytest-xdist",
    "jsonschema",
    "ruff",
    "pip",
    "nbclient",
    "nbformat",
    "ipykernel",
}


def _conda_deps(path: Path) -> dict[str, str]:
    deps = yaml.safe_load(path.read_text(encoding="utf-8"))["dependencies"]
    return {re.split(r"[<>=! ]", d, maxsplit=1)[0]: d for d in deps if isinstance(d, str)}


def test_rule_environment_is_environment_yml_without_dev_tools() -> None:
    env = _conda_deps(REPO / "workflow" / "envs" / "sinkmap.yaml")
    full = _conda_deps(REPO / "environment.yml")
    assert env == {k: v for k, v in full.items() if k not in DEV_ONLY}


def test_every_rule_declares_the_environment() -> None:
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text(encoding="utf-8")
        rules = re.findall(r"^rule (\w+):", text, flags=re.M)
        conda = re.findall(r'^    conda:\n        "\.\./envs/sinkmap\.yaml"$', text, flags=re.M)
        assert len(conda) == len(rules), (smk.name, rules)


def test_scripts_folder_links_to_the_package() -> None:
    """Snakemake puts a script's folder on sys.path: inside a conda environment without sinkmap
    installed, ``import sinkmap`` finds the repository's package through this link."""
    link = REPO / "workflow" / "scripts" / "sinkmap"
    assert link.is_symlink() and link.resolve() == (REPO / "sinkmap").resolve()
    assert (link / "__init__.py").is_file()
