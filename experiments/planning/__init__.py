"""Planning: options -> tasks with record keys.

Public names: ``PlanOptions``, ``Option``, ``register_option``, ``option_table``
(``options``: the option table); ``select``, ``Selection`` (``select``: the one way in);
``plan`` (``tasks``); ``Task``, ``ReleasedWeights`` (``task``); ``reproduce_command``,
``invalidate_command`` (``commands``); ``projections`` (``projection``: hours from
calibrations); ``cityscapes_c_root`` (``locations``); ``load_base_config`` (``configs``)."""
