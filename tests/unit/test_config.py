"""sinkmap.config: loading, validation messages naming the key, and the committed JSON Schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sinkmap.config import expand_aois, json_schema, load_aoi_configs, load_config
from sinkmap.errors import ConfigError

from ._helpers import CONFIG_YAML, ROOT, SCHEMA_JSON


@pytest.fixture
def base() -> dict:
    return yaml.safe_load(CONFIG_YAML.read_text(encoding="utf-8"))


def test_committed_config_loads():
    c = load_config(CONFIG_YAML)
    assert c.years == [2020, 2021, 2022, 2023, 2024]
    assert c.grid.crs == "EPSG:32649" and c.grid.resolution == 10 and c.grid.chunk == 2048
    assert c.inputs["land_cover"].dataset == "demo_worldcover"
    assert c.model.name == "dynamics"
    assert c.aoi.layer == "baoting"


def test_intervals_are_consecutive_pairs():
    c = load_config(CONFIG_YAML)
    assert c.intervals == [(2020, 2021), (2021, 2022), (2022, 2023), (2023, 2024)]


def test_years_come_back_sorted(base):
    base["years"] = [2024, 2020, 2022]
    c = load_config(base)
    assert c.years == [2020, 2022, 2024]
    assert c.intervals == [(2020, 2022), (2022, 2024)]


def test_single_year_has_no_interval(base):
    base["years"] = [2021]
    assert load_config(base).intervals == []


def _edit(base: dict, fn) -> dict:
    d = copy.deepcopy(base)
    fn(d)
    return d


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(years=[2020, 2021, 2020]), r"years: years must not repeat"),
        (lambda d: d.update(years=[1900, 2020]), r"years: years \[1900\] are outside 1985-2100"),
        (
            lambda d: d.update(modle={"name": "lookup"}),
            r"modle: unknown key; remove it or check its spelling",
        ),
        (
            lambda d: d["grid"].update(crs="EPSG:4326"),
            r"grid\.crs: 'EPSG:4326' is not projected; use .*EPSG:32649",
        ),
        (lambda d: d["grid"].update(crs="EPSG:999999"), r"grid\.crs: .* is not a CRS pyproj knows"),
        (lambda d: d["grid"].update(chunk=1000), r"grid\.chunk: must be a multiple of 256"),
        (lambda d: d["grid"].update(resolution=-10), r"grid\.resolution"),
        (lambda d: d["inputs"].pop("land_cover"), r"inputs: needs a 'land_cover' role"),
        (lambda d: d.pop("aoi"), r"aoi: required key is missing"),
        (
            lambda d: d.setdefault("account", {}).update(assessments={"2024-2020": "x.csv"}),
            r"'2024-2020' is not an interval 'Y0-Y1' with Y0 < Y1",
        ),
        (
            lambda d: d.setdefault("account", {}).update(assessments={"1990-2099": "x.csv"}),
            r"account\.assessments: \['1990-2099'\] are not intervals of consecutive configured",
        ),
    ],
)
def test_bad_values_name_the_key(base, edit, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_edit(base, edit))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda d: d["model"].update(name="random_forest"),
            r"unknown model 'random_forest' \(model\.name\)",
        ),
        (lambda d: d["model"].update(params={"tabel": "x.csv"}), r"tabel: unknown key"),
        (lambda d: d["inputs"].update(land_cover={"dataset": "nope"}), r"unknown dataset 'nope'"),
        (
            lambda d: (
                d["model"].update(
                    name="biomass", params={"soil_table": d["model"]["params"]["table"]}
                )
                or d["inputs"].pop("biomass", None)
            ),
            r"reads input role\(s\) \['biomass'\]",
        ),
        (
            lambda d: _mc(d, parameters={"table.above": 0.5}, correlated={}),
            # Phi(-1 / 0.5) = 2.28 % of the draws below 0
            r"account\.uncertainty: parameter 'table\.above': a normal with relative SD 0\.5 puts "
            r"2\.28% of its draws outside .* lognormal .* truncnormal",
        ),
        (
            lambda d: _mc(
                d, parameters={"table.above": {"distribution": "triangular"}}, correlated={}
            ),
            r"'table\.above': a triangular needs rel_range \[lo, hi\]",
        ),
        (
            lambda d: _mc(d, parameters={"table.above": 0.2}, correlated={"g": ["table.dead"]}),
            r"name parameter\(s\) \['table\.dead'\] that have no uncertainty",
        ),
        (
            lambda d: _mc(
                d,
                parameters={"table.above": 0.2, "table.soil": {"rel_sd": 0.2, "classes": "shared"}},
                correlated={"g": ["table.above", "table.soil"]},
            ),
            r"correlated group 'g' mixes parameters drawn per class and drawn once",
        ),
        (
            lambda d: _mc(
                d,
                parameters={"table.above": 0.2, "table.below": 0.2},
                correlated={"table.above": ["table.above", "table.below"]},
            ),
            r"group name\(s\) \['table\.above'\] are also parameter names",
        ),
        (
            lambda d: d["account"].update(
                assessments={f"{d['years'][0]}-{d['years'][1]}": "no/such/labels.csv"}
            ),
            r"no/such/labels\.csv does not exist; draw the sample with `sinkmap sample",
        ),
    ],
)
def test_what_a_run_needs_is_checked_before_it_starts(base, edit, match):
    """The config's structure is load_config's; the model, its parameters, the datasets and the
    roles the model reads are checked by validate_run (the workflow and `sinkmap validate`)."""
    from sinkmap.stages.context import validate_run

    cfg = load_config(_edit(base, edit))
    with pytest.raises(ConfigError, match=match):
        validate_run(cfg)


def _mc(d, **settings):
    """Set account.uncertainty settings of a raw config (the Monte Carlo on)."""
    mc = d.setdefault("account", {}).setdefault("uncertainty", {})
    mc.update(enabled=True, **settings)


def _wc_2020_2021(d):
    d["inputs"]["land_cover"] = {"dataset": "esa_worldcover"}
    d["years"] = [2020, 2021]
    d["change_filter"]["warmup_years"] = 0  # WorldCover has no 2019


def test_an_interval_across_two_product_versions_stops_the_run(base):
    """ESA made WorldCover 2020 (v100) and 2021 (v200) with different algorithms: their
    difference is not all land change, so the interval is refused unless allowed, and when allowed
    every layer says so."""
    from sinkmap.stages.context import validate_run

    with pytest.raises(ConfigError) as info:
        validate_run(load_config(_edit(base, _wc_2020_2021)))
    msg = str(info.value)
    assert "land_cover 2020-2021: esa_worldcover v100 -> v200" in msg
    assert "inputs.<role>.version" in msg and "account.allow_version_change: true" in msg
    # one version for both years: no change to guard
    same = _edit(
        base, lambda d: (_wc_2020_2021(d), d["inputs"]["land_cover"].update(version="v200"))
    )
    assert validate_run(load_config(same)).version_changes == []
    allowed = _edit(
        base, lambda d: (_wc_2020_2021(d), d["account"].update(allow_version_change=True))
    )
    run = validate_run(load_config(allowed))
    tags = run.tags(sources=[], synthetic=False)
    assert tags["VERSION_CHANGE"] == "land_cover 2020-2021: esa_worldcover v100 -> v200"
    # the change filter's warm-up year counts too: 2021 alone, warmed up by the 2020 map (v100)
    warm = _edit(
        base,
        lambda d: (
            _wc_2020_2021(d),
            d.update(years=[2021]),
            d["change_filter"].update(warmup_years=1),
        ),
    )
    with pytest.raises(ConfigError, match="land_cover 2020-2021: esa_worldcover v100 -> v200"):
        validate_run(load_config(warm))


def test_warmup_years_must_exist_in_the_land_cover(base):
    """The filter's warm-up years are read from the land cover: a product without them (ESA
    WorldCover has 2020 and 2021 only) is refused before the run, with the fix."""
    from sinkmap.stages.context import validate_run

    def edit(d):
        d["inputs"]["land_cover"] = {"dataset": "esa_worldcover", "version": "v200"}
        d["years"] = [2020, 2021]
        d["change_filter"] = {"warmup_years": 1}

    with pytest.raises(ConfigError, match=r"warmup_years: dataset esa_worldcover has no year 2019"):
        validate_run(load_config(_edit(base, edit)))
    cfg = load_config(_edit(base, lambda d: d.update(change_filter={"warmup_years": 2})))
    assert cfg.change_filter.warmup(2020) == [2018, 2019]
    off = _edit(base, lambda d: d.update(change_filter={"warmup_years": 2, "enabled": False}))
    assert load_config(off).change_filter.warmup(2020) == []


def test_every_problem_is_listed(base):
    bad = _edit(base, lambda d: (d.update(years=[2020, 2020]), d["grid"].update(chunk=300)))
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "years:" in str(info.value) and "grid.chunk:" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist; copy config/config\.yaml"):
        load_config(tmp_path / "missing.yaml")


def test_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("years: [2020\naoi: {\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML"):
        load_config(path)


def test_error_from_file_names_the_file(tmp_path, base):
    base["modle"] = 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(base), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.yaml is invalid:\n  - modle: unknown key"):
        load_config(path)


# -- the JSON Schema ------------------------------------------------------------------------------
def test_committed_schema_is_in_sync():
    committed = json.loads(SCHEMA_JSON.read_text(encoding="utf-8"))
    assert committed == json_schema(), (
        "workflow/schemas/config.schema.json is stale: regenerate it with `sinkmap schema > workflow/schemas/config.schema.json`"
    )


def test_committed_config_validates_against_schema(base):
    schema = json.loads(SCHEMA_JSON.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(base)


def test_schema_rejects_unknown_key(base):
    schema = json.loads(SCHEMA_JSON.read_text(encoding="utf-8"))
    base["modle"] = {}
    with pytest.raises(jsonschema.ValidationError, match="modle"):
        jsonschema.Draft202012Validator(schema).validate(base)


# -- several AOIs in one run (aois:) ---------------------------------------------------------------
def _several(base: dict) -> dict:
    """The demo config turned into two AOIs: the county, and another with its own grid."""
    aoi = base.pop("aoi")
    base["aois"] = {
        "baoting": {"aoi": aoi},
        "other": {"aoi": {"path": "aoi/other.gpkg"}, "grid": {"crs": "EPSG:32650"}},
    }
    return base


def test_each_aoi_gets_the_rest_of_the_config_and_its_own_folders(base):
    configs = expand_aois(_several(base))
    assert list(configs) == ["baoting", "other"]
    baoting, other = configs["baoting"], configs["other"]
    assert baoting["aoi"]["layer"] == "baoting"
    # aoi is replaced whole: the county's layer name does not leak into the other AOI
    assert other["aoi"] == {"path": "aoi/other.gpkg"}
    # mappings merge key by key: the other AOI keeps the grid's resolution and chunk
    assert other["grid"] == {"crs": "EPSG:32650", "resolution": 10, "chunk": 2048}
    assert baoting["grid"]["crs"] == "EPSG:32649"
    assert other["years"] == base["years"] and other["model"] == base["model"]
    for name, cfg in configs.items():
        assert "aois" not in cfg
        assert cfg["results_dir"] == f"results/{name}"
        assert cfg["resources_dir"] == f"resources/{name}"
        assert cfg["logs_dir"] == f"logs/{name}"
        assert cfg["download_cache"] == "resources/downloads"  # one download of a shared tile
    loaded = load_aoi_configs(_several(yaml.safe_load(CONFIG_YAML.read_text(encoding="utf-8"))))
    assert loaded["other"].paths.log("grid") == Path("logs/other/grid.log")
    assert loaded["other"].paths.year_dir(2020) == Path("results/other/2020")


def test_one_aoi_config_has_no_aois(base):
    assert expand_aois(base) == {} and load_aoi_configs(base) == {}


def test_a_download_cache_given_once_serves_every_aoi(base):
    """The AOIs share the config's own download cache; one AOI may keep its own."""
    several = _several(base) | {"download_cache": "/data/cache"}
    several["aois"]["other"]["download_cache"] = "/scratch/other"
    configs = expand_aois(several)
    assert configs["baoting"]["download_cache"] == "/data/cache"
    assert configs["other"]["download_cache"] == "/scratch/other"
    assert load_config(CONFIG_YAML).download_cache is None  # one AOI: no cache unless asked for


@pytest.mark.parametrize(
    ("aois", "match"),
    [
        ([{"aoi": {"path": "a.gpkg"}}], r"aois must map each AOI's name"),
        ({"../up": {"aoi": {"path": "a.gpkg"}}}, r"'\.\./up' is not a usable AOI name"),
        ({"9lives": {"aoi": {"path": "a.gpkg"}}}, r"must start with a lower-case letter"),
        ({"Baoting": {"aoi": {"path": "a.gpkg"}}}, r"must start with a lower-case letter"),
        ({"stac": {"aoi": {"path": "a.gpkg"}}}, r"'stac' names a folder or rule of the run"),
        (  # resources/downloads is the AOIs' download cache
            {"downloads": {"aoi": {"path": "a.gpkg"}}},
            r"'downloads' names a folder or rule of the run",
        ),
        (
            {"a": {"aoi": {"path": "a.gpkg"}}, "a_gain_loss": {"aoi": {"path": "b.gpkg"}}},
            r"'a' and 'a_gain_loss': the rules of one would take the names of the other",
        ),
        ({"a": "a.gpkg"}, r"aois\.a must be a mapping"),
        ({"a": {"grid": {"resolution": 30}}}, r"aois\.a has no aoi; give aois\.a\.aoi\.path"),
        (
            {"a": {"aoi": {"path": "a.gpkg"}, "results_dir": "elsewhere"}},
            r"aois\.a sets \['results_dir'\].*set results_dir.*once",
        ),
    ],
)
def test_a_bad_aois_entry_names_the_aoi_and_the_fix(base, aois, match):
    del base["aoi"]
    base["aois"] = aois
    with pytest.raises(ConfigError, match=match):
        expand_aois(base)


def test_an_invalid_aoi_config_names_the_aoi(base):
    base = _several(base)
    base["aois"]["other"]["grid"]["resolution"] = -10
    with pytest.raises(ConfigError, match=r"(?s)aois\.other: .*grid\.resolution"):
        load_aoi_configs(base)


def test_schema_takes_either_aoi_or_aois(base):
    schema = json.loads(SCHEMA_JSON.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(_several(copy.deepcopy(base)))
    del base["aoi"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(base)


def test_the_hainan_counties_example_is_eighteen_disjoint_aois():
    """config/examples/hainan_counties.yaml: the demo's settings for each city and county of the
    island (aoi.where on one boundary file), Baoting with the demo's zones."""
    from sinkmap.aoi import check_disjoint, read_aoi

    raw = yaml.safe_load((ROOT / "config" / "examples" / "hainan_counties.yaml").read_text("utf-8"))
    configs = load_aoi_configs(raw)
    assert len(configs) == 18
    demo = load_config(CONFIG_YAML)
    for name, cfg in configs.items():
        assert cfg.years == demo.years and cfg.model == demo.model and cfg.inputs == demo.inputs
        assert cfg.results_dir == Path("results/hainan_counties") / name
        assert (cfg.account.zones is not None) == (name == "baoting")
    aois = {
        n: read_aoi(c.aoi.path, layer=c.aoi.layer, where=c.aoi.where) for n, c in configs.items()
    }
    assert check_disjoint(aois) == {}
    # Baoting's feature is the committed county boundary of the demo
    baoting = read_aoi(ROOT / "aoi" / "baoting.gpkg")
    assert aois["baoting"].geometry.symmetric_difference(baoting.geometry).area == 0


def test_aoi_and_aois_together_are_refused(base):
    base["aois"] = {"a": {"aoi": {"path": "a.gpkg"}}}
    with pytest.raises(ConfigError, match=r"both aoi and aois.*remove the top-level aoi"):
        expand_aois(base)


def test_aois_must_map_the_same_years(base):
    base = _several(base)
    base["aois"]["other"]["years"] = [2020, 2022]
    with pytest.raises(
        ConfigError, match=r"aois\.other\.years \[2020, 2022\] differ from aois\.baoting's"
    ):
        load_aoi_configs(base)


def test_group_tiles_splits_the_county_into_aois_of_tile_groups(base):
    """The demo county at 10 m is 3 x 3 tiles of 2048 px: groups of 2 x 2 tiles make up to four
    AOIs, each the county clipped to its group's box, run and added up as several AOIs are."""
    from sinkmap.stages.context import Run, split_into_groups

    assert split_into_groups(base) is base  # no group_tiles: as it is
    base["grid"]["group_tiles"] = 2
    split = split_into_groups(base)
    assert "aoi" not in split and "group_tiles" not in split["grid"]
    groups = split["aois"]
    assert set(groups) <= {"g0x0", "g0x1", "g1x0", "g1x1"} and len(groups) >= 2
    configs = load_aoi_configs(split)
    whole = Run(load_config(CONFIG_YAML)).aoi.to_crs("EPSG:32649").geometry.area
    parts = [Run(c).aoi.geometry.area for c in configs.values()]
    assert sum(parts) == pytest.approx(whole, rel=1e-9)  # every part of the county, once
    assert all(
        c.aoi.box is not None and c.results_dir.parent == Path("results") for c in configs.values()
    )
    base["grid"]["group_tiles"] = 3  # one group holds the whole grid: no split
    assert "aois" not in split_into_groups(base)
    with pytest.raises(ConfigError, match=r"group_tiles splits one AOI"):
        split_into_groups({**split, "grid": {**split["grid"], "group_tiles": 1}})
