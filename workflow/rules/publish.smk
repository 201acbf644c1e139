# Per-year GeoPackages; the run's account, its JSON twin, the report, the QGIS project and the STAC
# catalog.


rule geopackage:
    input:
        unpack(geopackage_inputs),
        grid=str(P.grid()),
        aoi=str(CFG.aoi.path),
    output:
        str(P.geopackage("{year}")),
    log:
        str(P.log("geopackage", "{year}")),
    conda:
        "../envs/sinkmap.yaml"
    script:
        "../scripts/geopackage.py"


rule quicklooks:
    input:
        unpack(quicklook_inputs),
        aoi=str(CFG.aoi.path),
    output:
        **{k: str(v) for k, v in P.quicklooks("{year}", stateful=STATEFUL).items()},
    log:
        str(P.log("quicklooks", "{year}")),
    conda:
        "../envs/sinkmap.yaml"
    params:
        **AOI_WHERE,
    script:
        "../scripts/quicklooks.py"


rule flux_quicklook:
    input:
        flux=str(P.flux("{y0}", "{y1}")),
        aoi=str(CFG.aoi.path),
    output:
        str(P.flux_quicklook("{y0}", "{y1}")),
    log:
        str(P.log("flux_quicklook", "{y0}-{y1}")),
    conda:
        "../envs/sinkmap.yaml"
    params:
        **AOI_WHERE,
    script:
        "../scripts/flux_quicklook.py"


rule account:
    input:
        stocks=[str(P.stock_tally(y)) for y in YEARS],
        changes=[str(P.change_tally(y0, y1)) for y0, y1 in INTERVALS],
        monte_carlo=[str(P.monte_carlo(y)) for y in YEARS] if MC.enabled else [],
        sensitivity=(
            [str(P.monte_carlo_sensitivity(y)) for y in YEARS] if MC.enabled else []
        ),
        gain_loss=(
            [str(P.gain_loss_monte_carlo(y0, y1)) for y0, y1 in INTERVALS]
            if GAIN_LOSS_MC
            else []
        ),
        gain_loss_sensitivity=(
            [str(P.gain_loss_sensitivity(y0, y1)) for y0, y1 in INTERVALS]
            if GAIN_LOSS_MC
            else []
        ),
        adjusted=[
            str(P.assessment_outputs(y0, y1)["adjusted_account"])
            for y0, y1 in CFG.account.assessed()
        ],
    output:
        csv=report(
            str(P.account()), caption="../report/account.rst", category="Account"
        ),
        parquet=str(P.account("parquet")),
        sensitivity=str(P.sensitivity()),
    log:
        str(P.log("account")),
    conda:
        "../envs/sinkmap.yaml"
    params:
        years=YEARS,
        intervals=INTERVALS,
        assessed=list(CFG.account.assessed()),
    script:
        "../scripts/account.py"


rule assess:
    input:
        unpack(assess_inputs),
    output:
        **{k: str(v) for k, v in P.assessment_outputs("{y0}", "{y1}").items()},
    log:
        str(P.log("assess", "{y0}-{y1}")),
    conda:
        "../envs/sinkmap.yaml"
    threads: heavy_threads
    params:  # the emission factors' draws: a new seed, draw count or distribution reruns it
        uncertainty=MC.model_dump(mode="json"),
        model=CFG.model.model_dump(mode="json"),
    script:
        "../scripts/assess.py"


rule account_json:
    input:
        str(P.account()),
    output:
        str(P.account("json")),
    log:
        str(P.log("account_json")),
    conda:
        "../envs/sinkmap.yaml"
    script:
        "../scripts/account_json.py"


rule report:
    input:
        core_outputs(),
        quicklook_outputs(),
        account_json=str(P.account("json")),
    output:
        report(str(P.report()), caption="../report/report.rst", category="Report"),
    log:
        str(P.log("report")),
    conda:
        "../envs/sinkmap.yaml"
    params:
        title=f"sinkmap carbon account: {CFG.aoi.name or CFG.aoi.path}",
        config_files=config_label(),
    script:
        "../scripts/report.py"


rule qgis_project:
    input:
        core_outputs(),
    output:
        str(P.qgis_project()),
    log:
        str(P.log("qgis_project")),
    conda:
        "../envs/sinkmap.yaml"
    params:
        title=f"sinkmap carbon layers: {CFG.aoi.name or CFG.aoi.path}",
    script:
        "../scripts/qgis_project.py"


rule stac:
    input:
        core_outputs(),
        quicklook_outputs(),
        account_json=str(P.account("json")),
        report=str(P.report()),
        qgis_project=str(P.qgis_project()),
    output:
        str(P.stac_catalog()),
    log:
        str(P.log("stac")),
    conda:
        "../envs/sinkmap.yaml"
    params:
        title=f"sinkmap carbon layers: {CFG.aoi.name or CFG.aoi.path}",
        synthetic=RUN.synthetic,
    script:
        "../scripts/stac.py"
