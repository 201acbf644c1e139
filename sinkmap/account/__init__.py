"""The carbon account's kernels: arrays and tables in, arrays and tables out; no file reading.

- :mod:`sinkmap.account.zones` — which cells count in which zone (exact fractions), and the one
  tally engine: sums per zone and key over a tile (:func:`~sinkmap.account.zones.group_sums`)
- :mod:`sinkmap.account.transitions` — land-use change matrices by class and IPCC category, the
  CRF-style summary of an interval
- :mod:`sinkmap.account.gain_loss` — the gain-loss balance per pixel (IPCC Eq. 2.4, 2.9, 2.10)
- :mod:`sinkmap.account.montecarlo` — Monte Carlo draws of parameters and per-pixel errors
- :mod:`sinkmap.account.rows` — the account's long rows (zone × class × pool) and intervals

The stages in :mod:`sinkmap.stages` read the layers, map these over tiles and write the tables.
"""
