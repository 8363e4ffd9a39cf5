"""exec-task: inside a SLURM array task, re-plan one manifest entry and compute it."""
import json
import shlex
import sys

from experiments.cli.parser import parse_args
from experiments.cli.selection import select_tasks
from experiments.engine.process.job import FAILED, run_job


def exec_task(manifest_path: str, index: int) -> int:
    """Re-plans entry ``index`` of the manifest (the array task's index: after-its-own-
    prerequisite arrays are sparse) and runs it. Exit 0 done, 1 failed, 3 preempted (the
    batch script requeues)."""
    with open(manifest_path) as f:
        manifest = json.load(f)
    entry = next((e for e in manifest['entries'] if e.get('index') == index), None)
    if entry is None:
        print(f'exec-task: {manifest_path} has no entry with index {index}', file=sys.stderr)
        return FAILED
    args = parse_args(entry['argv'] + [x for d in entry['tables'] for x in ('--tables', d)])
    selection = select_tasks(args)
    match = [t for t in selection.tasks if t.key == entry['key']]
    if not match:
        print(f'exec-task: {entry["key"]} is no longer what {" ".join(entry["argv"])} computes '
              '(the config or table changed since submission); resubmit', file=sys.stderr)
        return FAILED
    return run_job(match[0], selection.store, shlex.join(['run-experiment'] + entry['argv']))
