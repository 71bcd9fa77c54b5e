#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the patch series into booted, patched kernels and a test verdict.

The entry point, in the spirit of the kernel's kunit.py; the work is done
by its modules:

  vmtest_kernel.py   pins, kernel trees (base + series), builds, initramfs
  vmtest_patches.py  checkpatch and the build at every patch
  vmtest_boot.py     scenarios, QEMU command lines, booting, timeouts
  vmtest_parser.py   TAP and kernel splats from a console, the summary
  vmtest_bench.py    the benchmark

Subcommands:

  deps       install what the other stages need (apt-get)
  tree       make the kernel git trees: base commit + git am of the patches
  export     write the kernel trees' commits back to their patches/
  build      build the guest kernels, the selftests and the initramfs
  run        build, then boot each scenario on each kernel, collect TAP
  shell      build, then boot one scenario into a shell on the serial console
  check      the full check CI runs: apply, freshness, checkpatch,
             per-patch build of both series, then run
  bench      boot a base kernel and the patched one on the topologies of
             bench/ and compare the timings of the hot reset ioctls
  soak       boot one scenario N times on each kernel; count hangs

Kernels are named by their line and kind: 7.3 (mainline/ on Linux 7.3),
6.12 (backport-6.12/ on 6.12.y), with -debug (config/debug.config) or
-base (the base without the series).  Everything downloaded or built lives
in a cache outside the repository ($VMTEST_CACHE, default
~/.cache/vfio-hotreset); logs and serial consoles go to out/.
"""

import argparse
import collections
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vmtest_boot  # noqa: E402
from vmtest_bench import cmd_bench  # noqa: E402
from vmtest_boot import (Scenario, boot, boot_all, scenarios,  # noqa: E402
                         stage_scenarios)
from vmtest_common import CACHE, OUT, Fail, progress  # noqa: E402
from vmtest_kernel import (lines, parse_kernels, stage_build, stage_deps,  # noqa: E402
                           stage_export, stage_fresh, stage_tree)
from vmtest_parser import summarize, verdict  # noqa: E402
from vmtest_patches import stage_bisect, stage_checkpatch  # noqa: E402

RUN_KERNELS = '7.3,6.12'
CHECK_KERNELS = '7.3,6.12,7.3-debug'


def prepare(kernels, strict=False, clients=False):
    """deps, the trees of the kernels' lines, the kernels and initramfs
    (clients: a scenario to boot carries clients/)."""
    stage_deps()
    for line in {k.line.version: k.line for k in kernels}.values():
        stage_tree(line, strict=strict)
    return stage_build(kernels, clients)


def cmd_run(args, strict=False, checks=()):
    names = scenarios(args.scenarios, check=strict)
    kernels = prepare(parse_kernels(args.kernels), strict,
                      any(Scenario(n).clients for n in names))
    results = stage_scenarios(names, kernels, args.jobs or os.cpu_count() or 2)
    return summarize(results, checks)


def cmd_soak(args):
    """Boot one scenario --boots times on each kernel, --jobs at a time."""
    scn = Scenario(scenarios(args.scenario)[0])
    kernels = prepare(parse_kernels(args.kernels), clients=scn.clients)
    runs = {f'soak-{scn.name}-{k.name}-{i}': (scn, k)
            for k in kernels for i in range(1, args.boots + 1)}
    tally = {k.name: collections.Counter() for k in kernels}
    for _, kernel, r in boot_all(runs, args.jobs or os.cpu_count() or 2).values():
        tally[kernel][verdict(r)] += 1
        tally[kernel]['secs'] += r['secs']
    print()
    for name, t in tally.items():
        n = args.boots
        print(f"soak {scn.name} on {name}: {n} boots, {t['ok']} ok, {t['FAIL']} failed, "
              f"{t['TIMEOUT']} timed out, mean {t['secs'] / n:.1f}s")
    bad = sum(t['FAIL'] + t['TIMEOUT'] for t in tally.values())
    print(f"{sum(t['ok'] for t in tally.values())} passed, {bad} failed, 0 skipped")
    return bad == 0


def cmd_check(args):
    """Both series: apply, fresh, checkpatch, per-patch build; then run.

    A patch that fails checkpatch or its own build still gets booted: one
    run tells everything that is wrong with the series.
    """
    stage_deps()
    checks = []
    for line in lines():
        stage_tree(line, strict=True)
        stage_fresh(line)
        for name, stage in (('checkpatch', stage_checkpatch), ('bisect', stage_bisect)):
            try:
                stage(line)
                checks.append((f'{name} {line.name}', True))
            except Fail as e:
                progress('FAILED', str(e))
                checks.append((f'{name} {line.name}', False))
    return cmd_run(args, strict=True, checks=checks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    for name in ('deps', 'tree', 'export', 'build', 'run', 'shell', 'check', 'bench', 'soak'):
        p = sub.add_parser(name)
        if name in ('run', 'check'):
            p.add_argument('--scenarios', help='comma-separated (default: all)')
            p.add_argument('-j', '--jobs', type=int,
                           help='guests booted at a time (default: one per core)')
        if name in ('run', 'check', 'shell'):
            p.add_argument('--seed', type=int, help='seed of the fuzz test (default: the clock)')
        if name in ('run', 'shell'):
            p.add_argument('--tests', help='a glob: run only the test programs it matches')
        if name == 'soak':
            p.add_argument('--scenario', default='noiommu')
            p.add_argument('--boots', type=int, default=20)
            p.add_argument('-j', '--jobs', type=int,
                           help='guests booted at a time (default: one per core)')
        if name in ('run', 'build', 'check', 'soak'):
            default = CHECK_KERNELS if name == 'check' else RUN_KERNELS
            p.add_argument('--kernels', default=default,
                           help='comma-separated: 7.3, 6.12, with -debug or -base '
                           f'(default: {default})')
        if name in ('tree', 'export', 'bench'):
            p.add_argument('--lines', help='comma-separated: 7.3, 6.12 (default: both)')
        if name == 'bench':
            p.add_argument('--scenarios', help='comma-separated topologies of bench/ (default: all)')
            p.add_argument('--iters', type=int, default=101,
                           help='timed calls per _INFO and refused reset (default: 101)')
            p.add_argument('--accepted', type=int, default=5,
                           help='timed calls per accepted reset (default: 5)')
            p.add_argument('--rounds', type=int, default=5,
                           help='boots per kernel and topology, alternating (default: 5)')
            p.add_argument('--from-logs', action='store_true',
                           help='boot nothing: tabulate the consoles of the last run')
        if name == 'shell':
            p.add_argument('scenario')
            p.add_argument('--kernel', default='7.3', help='e.g. 7.3, 6.12-debug')
    args = ap.parse_args()
    if getattr(args, 'seed', None) is not None:
        vmtest_boot.SEED = args.seed
    vmtest_boot.TESTS = getattr(args, 'tests', None)
    # the logs of the last run only
    if os.path.isdir(OUT):
        for f in os.listdir(OUT):
            if f.endswith('.log'):
                os.unlink(os.path.join(OUT, f))
    me = os.path.relpath(sys.argv[0])
    progress('start', shlex.join([me] + sys.argv[1:]) + f'  (cache: {CACHE})')
    if args.cmd in ('run', 'check'):
        argv = [a for a in sys.argv[1:] if not a.startswith('--seed')]
        progress('start', f'fuzz seed {vmtest_boot.SEED} (replay: {me} '
                 f'{shlex.join(argv)} --seed {vmtest_boot.SEED})')
    try:
        if args.cmd == 'deps':
            stage_deps()
        elif args.cmd in ('tree', 'export'):
            for line in lines(args.lines.split(',') if args.lines else None):
                (stage_tree if args.cmd == 'tree' else stage_export)(line)
        elif args.cmd == 'build':
            prepare(parse_kernels(args.kernels))
        elif args.cmd == 'shell':
            scn = Scenario(args.scenario)
            k, = prepare(parse_kernels(args.kernel), clients=scn.clients)
            boot(scn, k, shell=True)
        elif args.cmd == 'run':
            return 0 if cmd_run(args) else 1
        elif args.cmd == 'check':
            return 0 if cmd_check(args) else 1
        elif args.cmd == 'bench':
            return 0 if cmd_bench(args) else 1
        elif args.cmd == 'soak':
            return 0 if cmd_soak(args) else 1
    except Fail as e:
        progress('FAILED', str(e))
        print('\n0 passed, 1 failed, 0 skipped')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
