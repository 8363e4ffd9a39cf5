"""The complexity pass at the paper's sizes: for every runnable row of the given
tables, the suite's meta-tensor counter against mmengine's FlopAnalyzer on real
tensors (the paper's counter): both counts (they must be equal) and both times.

    .venv/bin/python tools/bench_complexity.py [table1 table2] [--fast-only]
"""
import argparse
import time


def main() -> None:
    from experiments.registry.tables import get_table
    from experiments.planning.configs import load_base_config
    from umixformer_config.input_size import measuring_hw
    from umixformer.complexity import build_segmentor, count_flops, count_flops_jit
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('tables', nargs='*', default=['table1', 'table2'])
    p.add_argument('--fast-only', action='store_true', help='skip FlopAnalyzer (minutes)')
    args = p.parse_args()
    seen, t_fast, t_ref, differ = set(), 0.0, 0.0, 0
    for name in args.tables:
        for row in get_table(name).runnable():
            if 'complexity' not in row.stages or row.config in seen:
                continue
            seen.add(row.config)
            cfg = load_base_config(row.config)
            hw = measuring_hw(row.dataset, cfg)
            t = time.perf_counter()
            fast = count_flops(build_segmentor(cfg), hw)  # build included: the stage builds too
            t_fast += (dt_fast := time.perf_counter() - t)
            line = f'{name:7s} {row.id:42s} {hw[1]}x{hw[0]}  {fast / 1e9:8.2f} GFLOPs  fast {dt_fast:5.2f} s'
            if not args.fast_only:
                t = time.perf_counter()
                ref = count_flops_jit(build_segmentor(cfg), hw)
                t_ref += (dt_ref := time.perf_counter() - t)
                differ += ref != fast
                line += f'  FlopAnalyzer {dt_ref:6.2f} s  {"equal" if ref == fast else f"DIFFERENT: {ref}"}'
            print(line, flush=True)
    print(f'{len(seen)} models: meta-tensor counter {t_fast:.1f} s' +
          ('' if args.fast_only else f', FlopAnalyzer {t_ref:.1f} s, {differ} count(s) different'))


if __name__ == '__main__':
    main()
