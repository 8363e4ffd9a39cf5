"""Results against the paper: a table's results read once into cells (``results``), their
pandas views, the verdicts (``verdicts``), the store's records as a frame (``collect``),
how a run differs from the paper's (``deviations``), training curves and per-class
differences. The names below are imported when first used: ``status`` reads
``analysis.deviations`` without pandas."""
import importlib

_WHERE = {'records_frame': 'collect', 'released_records': 'collect', 'Cell': 'results', 'TableResults': 'results',
          'read_results': 'results', 'Verdict': 'verdicts', 'judge': 'verdicts'}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'analysis.{_WHERE[name]}'), name)
