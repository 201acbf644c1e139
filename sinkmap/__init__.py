"""sinkmap: year-by-year land carbon stocks and sinks for a county, aligned with IPCC practice.

The package is usable without Snakemake: every stage of the workflow is a function here.

- :mod:`sinkmap.grid` — the canonical target grid derived from an AOI
- :mod:`sinkmap.aoi` — reading and validating the area of interest
- :mod:`sinkmap.sources` — where inputs come from (demo generator, later HTTP tiles, STAC, local files)
- :mod:`sinkmap.align` — warping any input onto the grid, chunk by chunk
- :mod:`sinkmap.carbon` — pure array maths: pool lookup, stock difference, CO2e
- :mod:`sinkmap.io` — chunked reads, atomic Cloud-Optimized GeoTIFF writes, tags
- :mod:`sinkmap.pipeline` — the stages the workflow runs, path in, path out
"""

from sinkmap.errors import SinkmapError

__version__ = "0.1.0"
#: Version of the output contract (docs/outputs.md). Bump the major part on breaking changes.
OUTPUT_VERSION = "0.2.0"

__all__ = ["OUTPUT_VERSION", "SinkmapError", "__version__"]
