"""Per-class IoU in the test record.

mmseg's ``IoUMetric`` computes every class's IoU for the class table it logs and
returns only the means. ``PerClassIoUMetric`` returns the same means and keeps the
per-class values (percent, rounded as the table rounds them; ``None`` for a class that
neither the labels nor the predictions contain) for the test stage to record. The
test stage swaps it in at run time: the means are the same numbers, so the record key
(which holds the config as the official runs wrote it) does not change.
"""
from typing import Dict, List, Optional

import numpy as np
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """mmseg's IoUMetric; ``per_class`` holds {class name: IoU %} after ``compute_metrics``."""

    per_class: Optional[Dict[str, Optional[float]]] = None

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        intersect, union, pred, label = (sum(x) for x in zip(*results))
        iou = self.total_area_to_metrics(intersect, union, pred, label, ['mIoU'])['IoU']
        self.per_class = {name: (None if np.isnan(v) else round(float(v) * 100, 2))
                          for name, v in zip(self.dataset_meta['classes'], iou)}
        return metrics


def with_per_class(evaluator):
    """The test evaluator config with IoUMetric swapped for PerClassIoUMetric (same arguments)."""
    if isinstance(evaluator, dict) and evaluator.get('type') == 'IoUMetric':
        return dict(evaluator, type='PerClassIoUMetric')
    if isinstance(evaluator, (list, tuple)):
        return type(evaluator)(with_per_class(e) for e in evaluator)
    return evaluator


def per_class_of(runner) -> Optional[Dict[str, Optional[float]]]:
    for metric in getattr(runner.test_loop.evaluator, 'metrics', []):
        if isinstance(metric, PerClassIoUMetric) and metric.per_class is not None:
            return metric.per_class
    return None
