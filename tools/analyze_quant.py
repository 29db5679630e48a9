"""Redraw a finished run's report, or compare runs side by side.

Nothing is rerun: the report is rebuilt from the work dir's files
(``quant_results.json``, ``report/run_data.json``, ``synthetic_images.pth``,
``search/search_result.json``)::

    python tools/analyze_quant.py work_dirs/demo
    python tools/analyze_quant.py work_dirs/w4a8 work_dirs/mixed \\
        --out work_dirs/w4a8_vs_mixed.md

One work dir: writes ``WORK_DIR/report.md`` and ``WORK_DIR/report/*.png``.
Two or more: each run's figures are redrawn in its own work dir and one
comparison file (``--out``, default ``comparison.md`` in the current
folder) shows them side by side. A folder that is not a finished run stops
the tool with one line on stderr and exit status 2, before anything is
written.
"""
import argparse
import os.path as osp
import sys

# Run from a checkout without installing: make clamp_mm importable.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

EXIT_BAD_INPUT = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Redraw the run report of a finished clamp_mm work dir, '
        'or compare several side by side (nothing is rerun)')
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR',
                        help='work dir(s) of finished tools/quantize.py runs')
    parser.add_argument(
        '--out', default='comparison.md',
        help='comparison file when several work dirs are given '
        '(default: comparison.md)')
    return parser.parse_args(argv)


def fail(message: str) -> None:
    """Report bad input in one line and exit with status 2."""
    print(f'analyze_quant.py: error: {message}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def main(argv=None) -> str:
    args = parse_args(argv)
    from clamp_mm.report import (NotAFinishedRunError, load_run,
                                 write_comparison, write_report)
    try:
        # Every folder is checked before anything is written.
        runs = [load_run(work_dir) for work_dir in args.work_dirs]
        if len(runs) == 1:
            path = write_report(args.work_dirs[0], runs[0])
        else:
            if not args.out.endswith('.md'):
                fail(f'--out must be a .md file, got {args.out}')
            path = write_comparison(args.work_dirs, args.out)
    except NotAFinishedRunError as error:
        fail(str(error))
    print(path)
    return path


if __name__ == '__main__':
    main()
