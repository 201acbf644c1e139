# AOI -> grid; datasets -> raw files (resources/); raw files -> aligned inputs on the grid.


rule grid:
    input:
        aoi=str(CFG.aoi.path),
    output:
        f"{RESULTS}/grid.json",
    log:
        f"{LOGS}/grid.log",
    params:
        grid=CFG.grid.model_dump(),
        aoi_layer=CFG.aoi.layer,
    script:
        "../scripts/grid.py"


rule fetch:
    input:
        aoi=str(CFG.aoi.path),
    output:
        f"{RESOURCES}/raw/{{dataset}}/{{version}}/{{year}}/manifest.json",
    log:
        f"{LOGS}/fetch/{{dataset}}_{{version}}_{{year}}.log",
    params:
        entry=lambda w: get_dataset(REGISTRY, w.dataset).describe(),
    resources:
        downloads=1,
    script:
        "../scripts/fetch.py"


rule align:
    input:
        manifest=manifest_for,
        grid=f"{RESULTS}/grid.json",
        aoi=str(CFG.aoi.path),
    output:
        f"{RESULTS}/{{year}}/{{role}}.tif",
    log:
        f"{LOGS}/align/{{role}}_{{year}}.log",
    params:
        dataset=lambda w: CFG.inputs[w.role].model_dump(),
    threads: 2
    script:
        "../scripts/align.py"
