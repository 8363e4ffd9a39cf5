"""Calibrations: how fast a model trains and evaluates on a device, measured by
``run-experiment calibrate`` and read by ``plan`` and the SLURM backend.

One JSON file per (model signature, device) under ``<runs>/calibration/<signature>/``,
written atomically: two nodes calibrating at once never touch one file, and a newer
measurement on the same device replaces the older one (a speed, not a result)."""
import json
import os
import re
from typing import List, Optional

from experiments.core.device import device_matches
from experiments.core.files import atomic_write


def _slug(device: str) -> str:
    return re.sub(r'[^a-z0-9._-]+', '-', device.lower()).strip('-')[:120] or 'device'


class Calibrations:
    """The calibrations of one runs folder."""

    def __init__(self, runs_root: str) -> None:
        self.dir = os.path.join(runs_root, 'calibration')

    def path(self, signature: str, device: str) -> str:
        return os.path.join(self.dir, signature, _slug(device) + '.json')

    def put(self, signature: str, entry: dict) -> str:
        """Stores ``entry`` (which names its ``device``) for ``signature``; returns the file."""
        path = self.path(signature, entry['device'])
        atomic_write(path, json.dumps(dict(entry, signature=signature), indent=2, sort_keys=True))
        return path

    def of(self, signature: str) -> List[dict]:
        """Every device's calibration of a signature, newest first (unreadable files skipped)."""
        folder = os.path.join(self.dir, signature)
        out = []
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if not name.endswith('.json'):
                continue
            try:
                with open(os.path.join(folder, name)) as f:
                    entry = json.load(f)
                float(entry['seconds_per_iter']), float(entry['seconds_per_image']), str(entry['device'])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a torn or foreign file: as if not calibrated (calibrate writes it anew)
            out.append(entry)
        return sorted(out, key=lambda e: e.get('measured_at', ''), reverse=True)

    def find(self, signature: str, device: str) -> Optional[dict]:
        """The newest calibration of ``signature`` on a device that ``device`` names
        (``cuda``, ``a100``, ``cpu``), or None."""
        return next((e for e in self.of(signature) if device_matches(device, e['device'])), None)
