"""What a stage adds to a table's report: its ``Figure`` declarations
(``experiments.core.stages``) name functions ``f(results, stage, **options)`` that return
a ``Contribution``; the presenters place it without knowing which stage made it."""
from dataclasses import dataclass, field
from typing import Dict, List


@dataclass
class Contribution:
    """Figures and tables for a table's report pages.

    Args:
        figures: name -> PNG, shown on the HTML page in this order.
        latex: name of a figure that the LaTeX report includes too -> its caption.
        class_tables: per-class comparisons (label, seeds, classes, gains, losses).
    """
    figures: Dict[str, bytes] = field(default_factory=dict)
    latex: Dict[str, str] = field(default_factory=dict)
    class_tables: List[dict] = field(default_factory=list)

    def add(self, other: 'Contribution') -> 'Contribution':
        self.figures.update(other.figures)
        self.latex.update(other.latex)
        self.class_tables += other.class_tables
        return self
