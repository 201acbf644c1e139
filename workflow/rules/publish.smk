# Per-year GeoPackages and the carbon account table.


rule geopackage:
    input:
        unpack(interval_tables_for),
        grid=f"{RESULTS}/grid.json",
        aoi=str(CFG.aoi.path),
        class_summary=f"{RESULTS}/{{year}}/class_summary.csv",
        tile_summary=f"{RESULTS}/{{year}}/tile_summary.csv",
        sink_summary=sink_summary_for,
        account_stocks=f"{RESULTS}/{{year}}/account_stocks.csv",
    output:
        f"{RESULTS}/{{year}}/sinkmap_{{year}}.gpkg",
    log:
        f"{LOGS}/geopackage/{{year}}.log",
    script:
        "../scripts/geopackage.py"


rule tally_stocks:
    input:
        unpack(zones_input),
        land_cover=f"{RESULTS}/{{year}}/land_cover.tif",
        stocks=[f"{RESULTS}/{{year}}/carbon_stock_{p}.tif" for p in POOL_NAMES],
        grid=f"{RESULTS}/grid.json",
    output:
        f"{RESULTS}/{{year}}/account_stocks.csv",
    log:
        f"{LOGS}/tally_stocks/{{year}}.log",
    params:
        zones=ZONES_PARAMS,
    threads: 2
    script:
        "../scripts/tally_stocks.py"


rule tally_changes:
    input:
        check_interval,
        unpack(zones_input),
        unpack(gain_loss_layers_for),
        land_cover0=f"{RESULTS}/{{y0}}/land_cover.tif",
        land_cover1=f"{RESULTS}/{{y1}}/land_cover.tif",
        stocks0=[f"{RESULTS}/{{y0}}/carbon_stock_{p}.tif" for p in POOL_NAMES],
        stocks1=[f"{RESULTS}/{{y1}}/carbon_stock_{p}.tif" for p in POOL_NAMES],
        grid=f"{RESULTS}/grid.json",
    output:
        changes=f"{RESULTS}/sink/{{y0}}-{{y1}}/account_changes.csv",
        ipcc_summary=f"{RESULTS}/sink/{{y0}}-{{y1}}/ipcc_summary.csv",
    log:
        f"{LOGS}/tally_changes/{{y0}}-{{y1}}.log",
    params:
        zones=ZONES_PARAMS,
    threads: 2
    script:
        "../scripts/tally_changes.py"


rule uncertainty:
    input:
        unpack(model_files),
        unpack(zones_input),
        unpack(lambda w: {f"in_{role}": aligned(role, w.year) for role in mc_roles()}),
        grid=f"{RESULTS}/grid.json",
    output:
        draws=f"{RESULTS}/{{year}}/monte_carlo.csv",
        sd=[f"{RESULTS}/{{year}}/carbon_stock_total_sd.tif"]
        if CFG.account.uncertainty.pixel_sd
        else [],
    log:
        f"{LOGS}/uncertainty/{{year}}.log",
    params:
        uncertainty=CFG.account.uncertainty.model_dump(mode="json"),
        model=CFG.model.model_dump(mode="json"),
        zones=ZONES_PARAMS,
    threads: 2
    script:
        "../scripts/uncertainty.py"


rule account:
    input:
        stocks=expand(f"{RESULTS}/{{year}}/account_stocks.csv", year=YEARS),
        changes=[f"{RESULTS}/sink/{y0}-{y1}/account_changes.csv" for y0, y1 in INTERVALS],
        monte_carlo=expand(f"{RESULTS}/{{year}}/monte_carlo.csv", year=YEARS)
        if CFG.account.uncertainty.enabled
        else [],
    output:
        csv=f"{RESULTS}/carbon_account.csv",
        parquet=f"{RESULTS}/carbon_account.parquet",
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
