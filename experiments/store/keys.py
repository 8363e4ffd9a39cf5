"""The run key: what a record is of, readable, with the hash of everything it depends on."""
import hashlib
import json
import os
from typing import Any, Optional

# bumped whenever what goes into a key changes: records under older keys are not reused
KEY_VERSION = 2
SEEDED_STAGES = ('train', 'test', 'robustness')  # results depend on the trained weights


def content_hash(obj: Any) -> str:
    """sha1 of an object's canonical JSON (what a key's hash part is made of)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def run_key(stage: str, config: str, config_hash: str, profile: str, seed: Optional[int]) -> str:
    stem = os.path.splitext(os.path.basename(config))[0]
    key = f'{stage}/{stem}-{config_hash[:10]}-{profile}'
    return key + (f'-s{seed}' if stage in SEEDED_STAGES else '')
