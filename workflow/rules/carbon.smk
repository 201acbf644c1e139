# Aligned inputs -> carbon pools and stocks per year; stocks -> sinks per interval.


rule stocks:
    input:
        unpack(model_files),
        unpack(lambda w: {f"in_{role}": aligned(role, w.year) for role in stock_roles()}),
        grid=f"{RESULTS}/grid.json",
    output:
        pools=[f"{RESULTS}/{{year}}/carbon_stock_{p}.tif" for p in POOL_NAMES],
        class_summary=f"{RESULTS}/{{year}}/class_summary.csv",
        tile_summary=f"{RESULTS}/{{year}}/tile_summary.csv",
    log:
        f"{LOGS}/stocks/{{year}}.log",
    params:
        model=CFG.model.model_dump(),
    threads: 2
    script:
        "../scripts/stocks.py"


rule sink:
    input:
        check_interval,
        unpack(pool_stock_inputs),
        stock0=f"{RESULTS}/{{y0}}/carbon_stock_total.tif",
        stock1=f"{RESULTS}/{{y1}}/carbon_stock_total.tif",
        land_cover0=f"{RESULTS}/{{y0}}/land_cover.tif",
        land_cover1=f"{RESULTS}/{{y1}}/land_cover.tif",
        grid=f"{RESULTS}/grid.json",
    output:
        flux=f"{RESULTS}/sink/{{y0}}-{{y1}}/net_flux_co2e.tif",
        summary=f"{RESULTS}/sink/{{y0}}-{{y1}}/class_summary.csv",
        matrix=f"{RESULTS}/sink/{{y0}}-{{y1}}/change_matrix.csv",
        ipcc_matrix=f"{RESULTS}/sink/{{y0}}-{{y1}}/ipcc_change_matrix.csv",
        pool_flux=[f"{RESULTS}/sink/{{y0}}-{{y1}}/net_flux_co2e_{p}.tif" for p in POOL_FLUX],
    log:
        f"{LOGS}/sink/{{y0}}-{{y1}}.log",
    threads: 2
    script:
        "../scripts/sink.py"


rule gain_loss:
    input:
        unpack(gain_loss_inputs),
        land_cover0=f"{RESULTS}/{{y0}}/land_cover.tif",
        land_cover1=f"{RESULTS}/{{y1}}/land_cover.tif",
        stock1=f"{RESULTS}/{{y1}}/carbon_stock_total.tif",
        stocks0=[f"{RESULTS}/{{y0}}/carbon_stock_{p}.tif" for p in POOL_NAMES],
        growth_rates=str(CFG.account.gain_loss.growth_rates),
        grid=f"{RESULTS}/grid.json",
    output:
        [f"{RESULTS}/sink/{{y0}}-{{y1}}/{name}" for name in GAIN_LOSS_FILES],
    log:
        f"{LOGS}/gain_loss/{{y0}}-{{y1}}.log",
    params:
        gain_loss=CFG.account.gain_loss.model_dump(mode="json"),
    threads: 2
    script:
        "../scripts/gain_loss.py"
