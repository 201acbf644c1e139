# Per-year GeoPackages and the carbon account table.


rule geopackage:
    input:
        grid=f"{RESULTS}/grid.json",
        aoi=str(CFG.aoi.path),
        class_summary=f"{RESULTS}/{{year}}/class_summary.csv",
        tile_summary=f"{RESULTS}/{{year}}/tile_summary.csv",
        sink_summary=sink_summary_for,
    output:
        f"{RESULTS}/{{year}}/sinkmap_{{year}}.gpkg",
    log:
        f"{LOGS}/geopackage/{{year}}.log",
    script:
        "../scripts/geopackage.py"


rule account:
    input:
        class_summaries=expand(f"{RESULTS}/{{year}}/class_summary.csv", year=YEARS),
        stocks=expand(f"{RESULTS}/{{year}}/carbon_stock_total.tif", year=YEARS),
        sink_summaries=[f"{RESULTS}/sink/{y0}-{y1}/class_summary.csv" for y0, y1 in INTERVALS],
    output:
        f"{RESULTS}/carbon_account.csv",
    log:
        f"{LOGS}/account.log",
    params:
        years=YEARS,
    script:
        "../scripts/account.py"


rule account_json:
    input:
        f"{RESULTS}/carbon_account.csv",
    output:
        f"{RESULTS}/carbon_account.json",
    log:
        f"{LOGS}/account_json.log",
    script:
        "../scripts/account_json.py"


rule stac:
    input:
        core_outputs(),
        account_json=f"{RESULTS}/carbon_account.json",
        report=f"{RESULTS}/report.html",
    output:
        f"{RESULTS}/stac/catalog.json",
    log:
        f"{LOGS}/stac.log",
    params:
        title=f"sinkmap carbon layers: {CFG.aoi.name or CFG.aoi.path}",
        synthetic=SYNTHETIC,
    script:
        "../scripts/stac.py"


rule report:
    input:
        core_outputs(),
        account_json=f"{RESULTS}/carbon_account.json",
    output:
        f"{RESULTS}/report.html",
    log:
        f"{LOGS}/report.log",
    params:
        title=f"sinkmap carbon account: {CFG.aoi.name or CFG.aoi.path}",
    script:
        "../scripts/report.py"
