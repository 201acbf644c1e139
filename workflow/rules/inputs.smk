# AOI -> grid; datasets -> raw files (resources/); raw files -> aligned inputs on the grid;
# the land cover -> its change-filtered series (what the account reads).


rule grid:
    input:
        aoi=str(CFG.aoi.path),
    output:
        str(P.grid()),
    log:
        str(P.log("grid")),
    priority: 1_000_000  # every alignment waits for it, and it takes a second
    conda:
        "../envs/sinkmap.yaml"
    params:
        **AOI_WHERE,
        grid=CFG.grid.model_dump(),
        aoi_layer=CFG.aoi.layer,
    script:
        "../scripts/grid.py"


rule fetch:
    input:
        aoi=str(CFG.aoi.path),
    output:
        str(P.manifest("{dataset}", "{version}", "{year}")),
    log:
        str(P.log("fetch", "{dataset}_{version}_{year}")),
    priority: earlier_first(100)
    conda:
        "../envs/sinkmap.yaml"
    resources:
        downloads=1,
    params:
        **AOI_WHERE,
        entry=lambda w: get_dataset(RUN.registry, w.dataset).describe(),
    script:
        "../scripts/fetch.py"


# Every input role of an accounted year in one job (one start-up for the year's layers, not one
# per role: the demo's 21 align jobs became 6, bench/README.md "bench_demo.py"); the change
# filter's warm-up years need their land cover only (rule align_role).
rule align:
    input:
        unpack(year_manifests),
        grid=str(P.grid()),
        aoi=str(CFG.aoi.path),
    output:
        **{role: str(P.aligned(role, "{year}")) for role in CFG.inputs},
    log:
        str(P.log("align", "{year}")),
    wildcard_constraints:
        year=ACCOUNTED,
    priority: earlier_first(100)
    conda:
        "../envs/sinkmap.yaml"
    # one thread, two years side by side (all cores for a single new year); a cluster profile may
    # give it more (profiles/slurm)
    threads: align_threads
    params:
        datasets={role: inp.model_dump() for role, inp in CFG.inputs.items()},
    script:
        "../scripts/align.py"


rule align_role:
    input:
        manifest=manifest_for,
        grid=str(P.grid()),
        aoi=str(CFG.aoi.path),
    output:
        str(P.aligned("{role}", "{year}")),
    log:
        str(P.log("align", "{role}_{year}")),
    wildcard_constraints:
        year=rf"(?!{ACCOUNTED})\d{{4}}",
    priority: earlier_first(100)
    conda:
        "../envs/sinkmap.yaml"
    threads: 1
    params:
        dataset=lambda w: CFG.inputs[w.role].model_dump(),
    script:
        "../scripts/align.py"


rule filter_land_cover:
    input:
        unpack(filter_inputs),
        grid=str(P.grid()),
    output:
        land_cover=str(P.filtered_land_cover("{year}")),
        summary=str(P.change_filter_summary("{year}")),
    log:
        str(P.log("filter_land_cover", "{year}")),
    priority: earlier_first(100)
    conda:
        "../envs/sinkmap.yaml"
    threads: heavy_threads
    params:
        change_filter=FILTER.model_dump(mode="json"),
    script:
        "../scripts/filter_land_cover.py"
