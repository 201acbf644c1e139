"""One exception hierarchy. Every message says what is wrong *and* how to fix it."""

from __future__ import annotations


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
