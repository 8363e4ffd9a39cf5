"""Results, kept: records (``records``), their keys (``keys``), the store that holds them
(``store``) and the leases that let one process at a time compute a key (``lease``).

Above ``experiments.core`` only: a store is read by every layer above it and knows nothing
of tables, planning or how a result is computed."""
from experiments.store.records import (DONE, FAILED, INTERRUPTED, PREEMPTED, RUNNING, STATUSES, Record, check_record,
                                       current, finite, is_number)
from experiments.store.store import RecordExistsError, Store, StoreError

__all__ = ['DONE', 'FAILED', 'INTERRUPTED', 'PREEMPTED', 'RUNNING', 'STATUSES', 'Record', 'check_record', 'current',
           'finite', 'is_number', 'RecordExistsError', 'Store', 'StoreError']
