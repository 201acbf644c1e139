"""Change filtering of a year's land cover (persistence, minimum mapping unit).

Inputs: the aligned land cover of the year and of the mapped years before it that persistence
reads (keys mapped_<year>), the filtered land cover of the year before (key previous; none in the
first year), grid. Outputs: results/<year>/land_cover_filtered.tif (COG), change_filter.csv.
Settings: config change_filter; wildcard year; threads.
"""

from sinkmap.stages.jobserver import run_warm

run_warm(snakemake)  # noqa: F821  # forked from the run's warm job server, if it has one

from pathlib import Path

from sinkmap.config import load_config
from sinkmap.stages import step
from sinkmap.stages.filtering import filter_land_cover

sm = snakemake  # noqa: F821
year = int(sm.wildcards.year)
mapped = {
    int(k.removeprefix("mapped_")): Path(v) for k, v in sm.input.items() if k.startswith("mapped_")
}
with step(sm.log[0], f"change filtering of the land cover {year}"):
    filter_land_cover(
        load_config(dict(sm.config)),
        year,
        mapped=mapped,
        previous=Path(sm.input.previous) if "previous" in sm.input.keys() else None,
        grid_path=Path(sm.input.grid),
        outputs={k: Path(v) for k, v in sm.output.items()},
        threads=sm.threads,
    )
