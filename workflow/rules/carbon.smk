# A year's stocks and Monte Carlo; an interval's sinks by both methods (one pass each); the
# account zones' cover of the grid, which they read.


rule zone_cover:
    input:
        zones=str(CFG.account.zones.path) if CFG.account.zones else [],
        grid=str(P.grid()),
    output:
        str(P.zone_cover()),
    log:
        str(P.log("zone_cover")),
    priority: 1_000_000  # every year's stocks waits for it
    conda:
        "../envs/sinkmap.yaml"
    params:  # the zones' settings only: the AOI's name does not change the cover
        zones=CFG.account.zones.model_dump(mode="json") if CFG.account.zones else None,
    script:
        "../scripts/zone_cover.py"


rule stocks:
    input:
        unpack(model_files),
        unpack(zones_input),
        unpack(aligned_inputs(stock_roles())),
        unpack(previous_state),
        grid=str(P.grid()),
    output:
        **year_outputs(),
    log:
        str(P.log("stocks", "{year}")),
    priority: earlier_first(10_000)
    conda:
        "../envs/sinkmap.yaml"
    threads: heavy_threads
    params:
        model=CFG.model.model_dump(),
        zones=ZONES_PARAMS,
    script:
        "../scripts/stocks.py"


rule uncertainty:
    input:
        unpack(model_files),
        unpack(zones_input),
        unpack(mc_inputs),
        grid=str(P.grid()),
    output:
        draws=str(P.monte_carlo("{year}")),
        sensitivity=str(P.monte_carlo_sensitivity("{year}")),
        sd=[str(P.stock_sd("{year}"))] if MC.pixel_sd else [],
    log:
        str(P.log("uncertainty", "{year}")),
    priority: earlier_first(0)
    conda:
        "../envs/sinkmap.yaml"
    threads: heavy_threads
    params:
        uncertainty=MC.model_dump(mode="json"),
        model=CFG.model.model_dump(mode="json"),
        zones=ZONES_PARAMS,
    script:
        "../scripts/uncertainty.py"


rule interval:
    input:
        unpack(interval_inputs),
        unpack(zones_input),
        grid=str(P.grid()),
    output:
        **interval_outputs(),
    log:
        str(P.log("interval", "{y0}-{y1}")),
    priority: earlier_first(0)
    conda:
        "../envs/sinkmap.yaml"
    threads: heavy_threads
    params:
        gain_loss=GAIN_LOSS.model_dump(mode="json"),
        zones=ZONES_PARAMS,
    script:
        "../scripts/interval.py"


rule gain_loss_uncertainty:
    input:
        unpack(model_files),
        unpack(gain_loss_mc_inputs),
    output:
        draws=str(P.gain_loss_monte_carlo("{y0}", "{y1}")),
        sensitivity=str(P.gain_loss_sensitivity("{y0}", "{y1}")),
    log:
        str(P.log("gain_loss_uncertainty", "{y0}-{y1}")),
    conda:
        "../envs/sinkmap.yaml"
    threads: heavy_threads
    params:
        uncertainty=MC.model_dump(mode="json"),
        gain_loss=GAIN_LOSS.model_dump(mode="json"),
        model=CFG.model.model_dump(mode="json"),
    script:
        "../scripts/gain_loss_uncertainty.py"
