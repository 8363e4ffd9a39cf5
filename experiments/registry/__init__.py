"""The declarative registry: tables of rows (``tables``, ``rows``, ``schema``), the
tolerance a published value is judged with (``tolerance``), how a row's config becomes
a run (``profiles``) and the pretrained weights it reads (``weights``).

Above ``experiments.data`` (a row's dataset and evaluation pipeline): the registry is
what the suite runs, as data; nothing here plans or computes."""
