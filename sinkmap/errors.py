"""One exception hierarchy. Every message says what is wrong *and* how to fix it."""

from __future__ import annotations

from typing import Any


class SinkmapError(Exception):
    """Base class of every error sinkmap raises on purpose."""


class ConfigError(SinkmapError, ValueError):
    """The configuration is invalid. The message names the key and an accepted value."""


class AOIError(SinkmapError, ValueError):
    """The area of interest cannot be used (missing file, no CRS, not polygonal, empty)."""


class SourceError(SinkmapError):
    """An input dataset cannot be obtained (unknown dataset, missing file, failed download)."""


class InputDataError(SinkmapError, ValueError):
    """An input raster or table has content the pipeline cannot use."""


class UnknownClassError(InputDataError):
    """A land-cover code occurs in the map but has no row in the carbon pool table."""

    def __init__(self, codes: list[int], table: str) -> None:
        self.codes = sorted(int(c) for c in codes)
        self.table = table
        listed = ", ".join(str(c) for c in self.codes)
        super().__init__(
            f"land-cover code(s) {listed} occur in the map but are missing from the carbon pool "
            f"table {table}. Add a row for each code to that table (with its source), or map the "
            f"code to an existing class in the dataset's crosswalk."
        )


class GridError(SinkmapError, ValueError):
    """The target grid cannot be built (unprojected CRS for metre resolution, bad size)."""


class OutputError(SinkmapError):
    """An output could not be written completely; nothing partial was left behind."""


class UnmappedClassError(UnknownClassError):
    """A land-cover code occurs in a product but has no row in the dataset's crosswalk."""

    def __init__(self, codes: list[int], crosswalk: str) -> None:
        self.codes = sorted(int(c) for c in codes)
        self.table = crosswalk
        listed = ", ".join(str(c) for c in self.codes)
        InputDataError.__init__(
            self,
            f"class code(s) {listed} occur in the product but have no row in the crosswalk "
            f"{crosswalk}. Add a row for each code to that file (source_code, target_code, "
            f"ipcc_category, with a note on the source of the mapping), or map it to 0 (nodata).",
        )


def format_validation_error(exc: Any, where: str) -> str:
    """One line per problem of a pydantic ``ValidationError``: ``key: message (got value)``.

    ``where`` names what was validated (a config file, ``model.params of model 'lookup'``).
    """
    lines = [f"{where} is invalid:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling (see docs/configuration.md)"
        elif err["type"] == "missing":
            msg = "required key is missing (see config/config.yaml for an example)"
        got = err.get("input")
        quiet = (
            err["type"] in ("missing", "extra_forbidden") or isinstance(got, dict) or "got" in msg
        )
        suffix = "" if quiet else f" (got {got!r})"
        lines.append(f"  - {key}: {msg}{suffix}")
    return "\n".join(lines)
