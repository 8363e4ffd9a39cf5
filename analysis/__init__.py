"""Results against the paper: a table's results read once into cells (``results``), their
pandas views, the verdicts (``verdicts``), the store's records as a frame (``collect``),
training curves and per-class differences."""
from analysis.collect import records_frame, released_records
from analysis.results import Cell, TableResults, read_results
from analysis.verdicts import Verdict, judge

__all__ = ['Cell', 'TableResults', 'Verdict', 'judge', 'read_results', 'records_frame', 'released_records']
