"""sinkmap.carbon and sinkmap.tables: pool table, lookup, stock difference (IPCC 2006 Vol. 4
Eq. 2.5), CO2e."""

from __future__ import annotations

import numpy as np
import pytest

from sinkmap.carbon import (
    carbon_of,
    co2e,
    co2e_flux,
    flux_between,
    interval_years,
    lookup_pools,
    stock_difference,
    total_stock,
)
from sinkmap.errors import InputDataError, UnknownClassError
from sinkmap.tables import PoolTable

from ._helpers import POOL_CSV

# Rows of config/pools/worldcover_ipcc_tier1.csv, typed from the file (c_above, c_below, c_dead, c_soil):
#   10,Tree cover,131.6,48.7,52,8.9  -> above 131.6, below 48.7, soil 52, dead 8.9
#   40,Cropland,5.0,0,43.2,0         -> above 5.0,   below 0,    soil 43.2, dead 0
#   80,Permanent water bodies,0,0,0,0
TREE = {"above": 131.6, "below": 48.7, "dead": 8.9, "soil": 52.0}
CROP = {"above": 5.0, "below": 0.0, "dead": 0.0, "soil": 43.2}
WATER = {"above": 0.0, "below": 0.0, "dead": 0.0, "soil": 0.0}
HEADER = "lucode,c_above,c_below,c_soil,c_dead\n"


# -- pool table -----------------------------------------------------------------------------------
def test_pool_table_from_committed_csv(pool_table):
    assert sorted(pool_table.codes.tolist()) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100]
    assert pool_table.names[10] == "Tree cover"
    assert pool_table.name == str(POOL_CSV)
    i = pool_table.codes.tolist().index(95)  # 95,Mangroves,86.6,42.4,386,11.4
    assert [pool_table.values[p][i] for p in ("above", "below", "soil", "dead")] == [
        86.6,
        42.4,
        386.0,
        11.4,
    ]


def test_lookup_pools_values_from_csv(pool_table):
    classes = np.array([[0, 10, 40], [80, 10, 0], [40, 80, 10]], dtype=np.uint8)
    out = lookup_pools(classes, pool_table, nodata=0)
    assert set(out) == {"above", "below", "dead", "soil"}
    by_code = {10: TREE, 40: CROP, 80: WATER}
    for pool, arr in out.items():
        assert arr.shape == (3, 3) and arr.dtype == np.float32
        expected = np.array(
            [[np.nan if c == 0 else by_code[c][pool] for c in row] for row in classes.tolist()],
            dtype=np.float32,
        )
        np.testing.assert_array_equal(arr, expected)  # NaN where nodata, equal elsewhere


def test_lookup_pools_unknown_code_names_code_and_table(pool_table):
    classes = np.array([[10, 99], [0, 40]], dtype=np.uint8)
    with pytest.raises(
        UnknownClassError, match=r"code\(s\) 99 .*worldcover_ipcc_tier1\.csv"
    ) as info:
        lookup_pools(classes, pool_table)
    assert info.value.codes == [99]
    assert info.value.table == str(POOL_CSV)
    assert "Add a row for each code" in str(info.value)


def test_lookup_pools_all_nodata(pool_table):
    out = lookup_pools(np.zeros((2, 2), np.uint8), pool_table)
    assert all(np.isnan(a).all() for a in out.values())


def test_total_stock_is_sum_of_pools(pool_table):
    classes = np.array([[10, 40, 80, 0]], dtype=np.uint8)
    total = total_stock(lookup_pools(classes, pool_table))
    # tree 131.6 + 48.7 + 8.9 + 52 = 241.2 ; cropland 5.0 + 0 + 0 + 43.2 = 48.2 ; water 0 ; nodata NaN
    np.testing.assert_allclose(total[0, :3], [241.2, 48.2, 0.0], rtol=1e-6)
    assert np.isnan(total[0, 3])


# -- stock difference and CO2e --------------------------------------------------------------------
def test_stock_difference_eq_2_5():
    # (C2 - C1) / (t2 - t1) = (48.2 - 241.2) / (2022 - 2020) = -193 / 2 = -96.5 Mg C/ha/yr
    d = stock_difference(np.array([241.2]), np.array([48.2]), 2020, 2022)
    assert d[0] == pytest.approx(-96.5, rel=1e-6)


def test_stock_difference_nan_propagates():
    d = stock_difference(np.array([10.0, np.nan, 5.0]), np.array([12.0, 3.0, np.nan]), 2020, 2021)
    assert d[0] == pytest.approx(2.0)
    assert np.isnan(d[1]) and np.isnan(d[2])


@pytest.mark.parametrize(("t1", "t2"), [(2022, 2020), (2021, 2021)])
def test_stock_difference_interval_must_run_forwards(t1, t2):
    with pytest.raises(ValueError, match="must run forwards"):
        stock_difference(np.array([1.0]), np.array([2.0]), t1, t2)


def test_co2e_flux_shrinking_stock_is_emission():
    # -dC * 44/12 = 96.5 * 3.6666... = 353.8333... Mg CO2e/ha/yr, positive (emission)
    f = co2e_flux(np.array([-96.5]))
    assert f[0] == pytest.approx(96.5 * 44 / 12, rel=1e-6)
    assert f[0] == pytest.approx(353.8333, rel=1e-6)


def test_co2e_flux_growing_stock_is_removal():
    # +3 Mg C/ha/yr -> -3 * 44 / 12 = -11 Mg CO2e/ha/yr (a sink, negative)
    f = co2e_flux(np.array([3.0, np.nan]))
    assert f[0] == pytest.approx(-11.0, rel=1e-6)
    assert np.isnan(f[1])


def test_co2e_flux_no_change_is_positive_zero():
    # no stock change -> no flux; written as +0.0 (a -0.0 would print as "-0" in tables)
    f = co2e_flux(np.array([0.0]))
    assert f[0] == 0.0 and not np.signbit(f[0])


# -- CO2e of totals, and the flux between two stocks ---------------------------------------------
def test_co2e_of_totals_has_the_inventory_sign():
    # a loss of 579 Mg C is an emission of 579 x 44/12 = 2123 Mg CO2e; a gain a removal
    assert co2e(-579.0) == pytest.approx(2123.0)
    assert co2e(965.0) == pytest.approx(-965.0 * 44 / 12)
    assert co2e(0.0) == 0.0 and not np.signbit(co2e(0.0))
    np.testing.assert_allclose(co2e(np.array([1.0, -1.0])), [-44 / 12, 44 / 12])
    assert carbon_of(co2e(-12.0)) == pytest.approx(12.0)  # 44 Mg CO2 hold 12 Mg C


def test_flux_between_two_stocks():
    # 197 -> 46 Mg C/ha over 2 years: (197 - 46) x 44/12 / 2 = 276.83 Mg CO2e/ha/yr, an emission
    assert flux_between(197.0, 46.0, 2) == pytest.approx(151 * 44 / 12 / 2)
    assert interval_years(2020, 2022) == 2
    with pytest.raises(InputDataError, match="forwards"):
        interval_years(2022, 2020)


# -- pool table validation ------------------------------------------------------------------------
def _table(tmp_path, text: str):
    path = tmp_path / "pools.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_table_missing_file(tmp_path):
    with pytest.raises(InputDataError, match=r"does not exist; set model\.params\.table"):
        PoolTable.from_csv(tmp_path / "nope.csv")


def test_table_missing_column(tmp_path):
    path = _table(tmp_path, "lucode,c_above,c_below,c_soil\n10,1,2,3\n")
    with pytest.raises(InputDataError, match=r"lacks column\(s\) \['c_dead'\].*lucode,c_above"):
        PoolTable.from_csv(path)


def test_table_duplicate_lucode(tmp_path):
    path = _table(tmp_path, HEADER + "10,1,2,3,4\n20,1,2,3,4\n10,5,6,7,8\n")
    with pytest.raises(InputDataError, match=r"repeats lucode\(s\) \[10\]; keep one row per code"):
        PoolTable.from_csv(path)


def test_table_negative_value_names_line_and_column(tmp_path):
    # header is line 1, so the second data row is line 3
    path = _table(tmp_path, HEADER + "10,1,2,3,4\n20,1,-2,3,4\n")
    with pytest.raises(InputDataError, match=r"c_below .* line\(s\) \[3\].*stock >= 0"):
        PoolTable.from_csv(path)


def test_table_non_number_names_line_and_column(tmp_path):
    path = _table(tmp_path, HEADER + "10,1,2,3,4\n20,1,2,3,4\n30,1,2,abc,4\n")
    with pytest.raises(InputDataError, match=r"c_soil .* line\(s\) \[4\]"):
        PoolTable.from_csv(path)


def test_table_empty_value_names_line_and_column(tmp_path):
    path = _table(tmp_path, HEADER + "10,,2,3,4\n")
    with pytest.raises(InputDataError, match=r"c_above is empty.* line\(s\) \[2\]"):
        PoolTable.from_csv(path)


def test_table_non_number_lucode(tmp_path):
    # the docstring promises errors naming the row for non-numbers; lucode is a column like any other
    path = _table(tmp_path, HEADER + "10,1,2,3,4\nforest,1,2,3,4\n")
    with pytest.raises(InputDataError, match=r"(?s)lucode.*line.*\b3\b"):
        PoolTable.from_csv(path)


def test_table_empty_lucode(tmp_path):
    path = _table(tmp_path, HEADER + "10,1,2,3,4\n,1,2,3,4\n")
    with pytest.raises(InputDataError, match=r"(?s)lucode.*line.*\b3\b"):
        PoolTable.from_csv(path)


def test_table_header_case_and_spaces_tolerated(tmp_path):
    path = _table(tmp_path, "LUCODE, C_Above ,c_below,c_soil,c_dead,name\n10,1.5,2,3,4,x\n")
    t = PoolTable.from_csv(path)
    assert t.codes.tolist() == [10] and t.values["above"][0] == 1.5 and t.names == {10: "x"}


# -- the CSV reader (the standard library's csv, as spreadsheets save tables) ---------------------
def test_table_as_spreadsheets_save_it(tmp_path):
    """A byte-order mark (Excel's "CSV UTF-8"), CRLF line ends, blank lines, a quoted name holding
    a comma and a short row (its missing name) are read as a user means them."""
    path = tmp_path / "pools.csv"
    text = (
        "\ufefflucode,c_above,c_below,c_soil,c_dead,name\r\n"
        '10,131.6,48.7,52,8.9,"Tree cover, closed"\r\n'
        "\r\n"
        "40, 5.0 ,0,43.2,0\r\n"
    )
    path.write_bytes(text.encode("utf-8"))
    t = PoolTable.from_csv(path)
    assert t.codes.tolist() == [10, 40]
    assert t.values["above"].tolist() == [131.6, 5.0]
    assert t.values["soil"].tolist() == [52.0, 43.2]
    assert t.names == {10: "Tree cover, closed", 40: ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"is empty; save it as UTF-8 CSV with a header line"),
        (HEADER + "10,1,2,3,4,5\n", r"line 2 has 6 fields, the header 5; quote a value"),
        # the line of the file, blank lines counted
        (HEADER + "10,1,2,3,4\n\n  \n20,1,2,3,4,5\n", r"line 5 has 6 fields, the header 5"),
        ("lucode,c_above,c_below,c_soil,c_dead,C_Dead\n", r"repeats column\(s\) \['c_dead'\]"),
        # an unclosed quote: an error, not the rest of the file read into one cell
        (
            HEADER.replace("\n", ",source\n") + '10,1,2,3,4,"IPCC 2019\n20,1,2,3,4,x\n',
            r"not a readable CSV \(line 3\).*each quote closed",
        ),
        ("lucode;c_above;c_below;c_soil;c_dead\n10;1,5;2;3;4\n", r"separated by semicolons"),
        ("lucode\tc_above\tc_below\tc_soil\tc_dead\n10\t1\t2\t3\t4\n", r"separated by tabs"),
        # a value's line, blank lines counted
        (HEADER + "10,1,2,3,4\n\n\n20,1,-2,3,4\n", r"c_below .* line\(s\) \[5\]"),
        # what Python's float takes and a table does not write: 1_000, other scripts' digits
        (HEADER + "10,1_000,2,3,4\n", r"c_above is empty, not a number.* line\(s\) \[2\]"),
        (HEADER + "\u0661\u0660,1,2,3,4\n", r"lucode is empty.* line\(s\) \[2\]"),
        (HEADER + "9007199254740993,1,2,3,4\n", r"lucode .*not below 2\^53 on line\(s\) \[2\]"),
        (
            HEADER + "10,1,2,3,4\n20,1,2,3,4\n10,1,2,3,4\n10,1,2,3,4\n",
            r"repeats lucode\(s\) \[10, 10\]",
        ),
    ],
)
def test_table_unreadable_csv_names_the_fix(tmp_path, text, message):
    with pytest.raises(InputDataError, match=message):
        PoolTable.from_csv(_table(tmp_path, text))


def test_table_not_utf8_names_the_fix(tmp_path):
    path = tmp_path / "pools.csv"
    path.write_bytes((HEADER + "10,1,2,3,4\n").encode("utf-8") + b"\xff\xfe\n")
    with pytest.raises(InputDataError, match="is not a readable CSV: .*save it as UTF-8 CSV"):
        PoolTable.from_csv(path)


def test_table_from_columns_of_a_dict_and_a_dataframe(tmp_path):
    """The same table from a file, a dict of columns and a pandas DataFrame."""
    import pandas as pd

    columns = {"lucode": [10, 40], "c_above": [131.6, 5.0], "c_below": [48.7, 0.0]}
    columns |= {"c_soil": [52.0, 43.2], "c_dead": [8.9, 0.0]}
    path = _table(tmp_path, HEADER + "10,131.6,48.7,52,8.9\n40,5.0,0,43.2,0\n")
    tables = [
        PoolTable.from_csv(path),
        PoolTable.from_columns(columns, name="dict"),
        PoolTable.from_columns(pd.DataFrame(columns), name="frame"),
    ]
    for t in tables:
        assert t.codes.tolist() == [10, 40]
        assert {p: v.tolist() for p, v in t.values.items()} == {
            "above": [131.6, 5.0],
            "below": [48.7, 0.0],
            "dead": [8.9, 0.0],
            "soil": [52.0, 43.2],
        }
    with pytest.raises(InputDataError, match=r"table ragged: its columns differ in length"):
        PoolTable.from_columns(columns | {"c_dead": [8.9]}, name="ragged")
    # names as in a file: case and spaces ignored, so two that differ only so are refused
    shouted = {f" {k.upper()} ": v for k, v in columns.items()}
    assert PoolTable.from_columns(shouted, name="shouted").codes.tolist() == [10, 40]
    with pytest.raises(InputDataError, match=r"table both has two columns named 'c_above'"):
        PoolTable.from_columns(columns | {"C_ABOVE": [1.0, 2.0]}, name="both")


def test_growth_rates_from_a_file(tmp_path):
    """Rows after a blank line, a state's name, and the errors of a rate, a unit and a code."""
    from sinkmap.tables import GrowthRates

    path = tmp_path / "rates.csv"
    head = "lucode,state_code,state,rate,unit\n"
    path.write_text(head + "10,0,,0.7,t_dm_ha_yr\n\n10,2,young,3.4,t_dm_ha_yr\n", "utf-8")
    rates = GrowthRates.from_csv(path)
    assert rates.codes.tolist() == [10, 10] and rates.states.tolist() == [0, 2]
    assert rates.rates.tolist() == [0.7, 3.4] and rates.state_names[2] == "young"
    for row, message in [
        ("10,2,young,NA,t_dm_ha_yr", r"rate is empty, not a number or negative on line\(s\) \[4\]"),
        ("10,2,young,3.4,t/ha", r"unit must be one of .* \(line\(s\) \[4\]\)"),
        (
            "10.5,2,young,3.4,t_dm_ha_yr",
            r"lucode is not a whole number from 0 to 2\^53 - 1 on line\(s\) \[4\]",
        ),
    ]:
        path.write_text(head + "10,0,,0.7,t_dm_ha_yr\n\n" + row + "\n", "utf-8")
        with pytest.raises(InputDataError, match=message):
            GrowthRates.from_csv(path)
