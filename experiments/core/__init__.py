"""The bottom layer: facts and small tools every other layer shares, with no import of
the suite's own packages.

``metrics`` (the metric catalogue and the number formatter), ``device`` (which machine
a result was computed on), ``files`` (atomic writes, digests), ``provenance`` (git
revision, package versions, time), ``signals`` (the preemption signal), ``console``
(what a person sees while tasks run)."""
