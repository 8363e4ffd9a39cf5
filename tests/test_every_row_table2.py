"""Every row of Table 2 through every stage, as `run-experiment table2 --profile check` runs
it (see test_every_row.py); a file of its own, as it shares no training with the other
tables: pytest-xdist runs it beside them."""
import pytest

from test_every_row import OWN_FILE, every_row_runs_every_stage, store  # noqa: F401  (the fixture)


@pytest.mark.parametrize('table', OWN_FILE)
def test_every_row_runs_every_stage(store, table, capsys):  # noqa: F811
    every_row_runs_every_stage(store, table, capsys)
