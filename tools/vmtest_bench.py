# SPDX-License-Identifier: GPL-2.0
"""The benchmark: each line's base kernel against the patched one.

Not a test: it fails only when a guest does not finish or a timed call
goes wrong (an answer that changes, a whole proof refused, a reset that
misses a device).  See README, Benchmark.
"""

import math
import os
import re
import shlex
import sys

from vmtest_boot import Scenario, boot
from vmtest_common import OUT, Fail, logpath, progress
from vmtest_kernel import BENCH, Kernel, line_of, stage_build, stage_deps, stage_tree

BENCH_LINE = re.compile(r'^bench: set=(\S+) n=(\d+) groups=(\d+) method=(\w+) op=(\w+) '
                        r'ret=(-?\d+) iters=(\d+)(?: med=([\d.]+) p10=([\d.]+) p90=([\d.]+))?')
BENCH_OPS = ('info', 'refused', 'accepted', 'bare', 'syscall')
BENCH_METHODS = ('group', 'zero', 'devfd', 'sysfs', 'calib')
BENCH_LINES = ('7.3', '6.12')


def bench_scenarios():
    return sorted(p[:-4] for p in os.listdir(BENCH) if p.endswith('.scn'))


def bench_boot(name, k, args, rnd):
    """Boot one bench topology on kernel k; {(n, method, op): fields}."""
    scn = Scenario(name, BENCH)
    scn.name = 'bench-' + name + (f'-r{rnd}' if args.rounds > 1 else '')
    # the method timed first on each set turns with the rounds (the bench
    # takes the round modulo its methods); base and patched of a round alike
    scn.cmdline.append(f'vmtest.bench={args.iters},{args.accepted},{rnd - 1}')
    d = f'{scn.name}-{k.name}'
    console = os.path.join(logpath(d), 'console.log')
    if args.from_logs:
        r = {'timeout': False, 'splat': [], 'secs': 0}
    else:
        progress('bench', f'{d}: {scn.desc} (replay: sh out/{d}/qemu.sh)')
        r = boot(scn, k, name=d)
        if r['rc'] < 0 and not r['timeout']:
            # QEMU 7.2 itself has segfaulted under a 256-function bus
            # reset; say so, keep its console, and try once more
            os.replace(console, console + '.crashed')
            progress('bench', f"{d}: QEMU died of signal {-r['rc']} after {r['secs']:.0f}s "
                     f'(console: out/{d}/console.log.crashed); booting again')
            r = boot(scn, k, name=d)
    with open(console, 'rb') as f:
        text = f.read().decode('utf-8', 'replace')
    # the copy that guest/init prints after the run, free of kernel
    # messages; consoles from before it have only the live output
    m = re.search(r'^vmtest: bench begin\r?\n(.*?)^vmtest: bench end', text, re.M | re.S)
    if m:
        text = m.group(1)
    if r['timeout'] or r['splat'] or 'bench: done' not in text:
        raise Fail(f'{d}: the benchmark did not finish'
                   + (f" ({r['splat'][0]})" if r['splat'] else '')
                   + f' (console: out/{d}/console.log)')
    rows = {}
    for line in text.splitlines():
        m = BENCH_LINE.match(line.strip())
        if m:
            n, method, op = int(m.group(2)), m.group(4), m.group(5)
            rows[(n, method, op)] = {
                'groups': int(m.group(3)), 'ret': int(m.group(6)),
                'med': float(m.group(8)) if m.group(8) else None,
                'p10': float(m.group(9)) if m.group(9) else None,
                'p90': float(m.group(10)) if m.group(10) else None}
        elif line.startswith('bench: ') and ('unstable' in line or 'witness' in line):
            raise Fail(f'{d}: {line.strip()}')
    progress('bench', f"{d}: {len(rows)} measurements in {r['secs']:.0f}s")
    return rows


def merge_rounds(rounds):
    """Per key, the round with the smallest median; spread = max/min.

    The spread of one kernel's medians over its boots is the noise of the
    method itself: a ratio between two kernels inside it says nothing.
    """
    rows = {}
    for r in rounds:
        for key, row in r.items():
            best = rows.get(key)
            meds = (best['meds'] if best else []) + ([row['med']] if row['med'] else [])
            if best is None or (row['med'] and best['med'] and row['med'] < best['med']):
                best = dict(row)
            best['meds'] = meds
            rows[key] = best
    for row in rows.values():
        m = row['meds']
        row['spread'] = max(m) / min(m) if len(m) > 1 else None
    return rows


def fmt_us(row, op):
    if row is None:
        return '-'
    if row['med'] is None or row['ret'] not in (0, -22):
        return f"ret {row['ret']}"
    t = row['med']
    s = f'{t / 1000:.1f} ms' if t >= 1000 else f'{t:.0f} us' if t >= 100 else f'{t:.1f} us'
    if row.get('spread'):
        s += f" (x{row['spread']:.2f})"
    return s if row['ret'] == 0 or op == 'refused' else s + f" (ret {row['ret']})"


def growth(rows, kind, method, op, lo=0):
    """Slope of log(time) over log(N) between the smallest N >= lo and the largest.

    With the range the boots allow: from the slowest boot at the small N
    to the fastest at the large one, and the reverse.
    """
    if kind == 'base' and method == 'devfd' and op != 'info':
        return None
    pts = sorted((n, r['med'], r.get('spread') or 1) for (n, m, o), r in rows[kind].items()
                 if m == method and o == op and r['med'] and n >= lo and
                 r['ret'] == (-22 if op == 'refused' else 0))
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        return None
    (n0, t0, s0), (n1, t1, s1) = pts[0], pts[-1]
    span = math.log(n1 / n0)
    return (math.log(t1 / t0) / span, n0, n1,
            math.log(t1 / (t0 * s0)) / span, math.log(t1 * s1 / t0) / span)


def verdict_of(b, p):
    """'faster' or 'slower' when the two kernels' boots do not overlap.

    Every boot's median of one kernel below every boot's median of the
    other: with 5 boots each, two equal kernels do that by chance with a
    probability of 2 / C(10, 5), under 1 %.  Otherwise 'noise', with the
    ratio's range over the boots.
    """
    ratio = p['med'] / b['med']
    if not b.get('spread') or not p.get('spread'):
        return 'one boot: no noise measured'
    if ratio * p['spread'] < 1:
        return 'faster'
    if ratio > b['spread']:
        return 'slower'
    return f"noise ({ratio / b['spread']:.2f}-{ratio * p['spread']:.2f})"


def bench_table(name, rows):
    """Markdown: one row per (method, op, N) with both kernels and the ratio."""
    out = [f'### {name}', '',
           '| method | op | N | groups | base | patched | patched/base | verdict |',
           '|---|---|---:|---:|---:|---:|---:|---|']
    keys = sorted(set(rows['base']) | set(rows['plain']),
                  key=lambda k: (BENCH_METHODS.index(k[1]) if k[1] in BENCH_METHODS else 9,
                                 BENCH_OPS.index(k[2]) if k[2] in BENCH_OPS else 9, k[0]))
    for key in keys:
        n, method, op = key
        if op not in BENCH_OPS:
            continue
        b, p = rows['base'].get(key), rows['plain'].get(key)
        ratio, verdict = '-', '-'
        if b and p and b['med'] and p['med'] and b['ret'] == p['ret']:
            ratio = f"{p['med'] / b['med']:.2f}"
            verdict = verdict_of(b, p)
        groups = (p or b)['groups']
        base = fmt_us(b, op)
        if method == 'devfd' and op != 'info':
            # the base refuses VFIO_PCI_HOT_RESET_FLAG_DEVICE_FDS
            base, ratio, verdict = 'EINVAL, no such flag' if b else '-', '-', '-'
        out.append(f'| {method} | {op} | {n} | {groups} | {base} | {fmt_us(p, op)} '
                   f'| {ratio} | {verdict} |')
    # the whole range, and from N = 16 up where the topology has it
    out += ['', '| method | op | base growth | patched growth |', '|---|---|---|---|']
    for method in BENCH_METHODS[:3]:
        for op in BENCH_OPS[:3]:
            for lo in (0, 16):
                g = {kind: growth(rows, kind, method, op, lo) for kind in ('base', 'plain')}
                if not any(g.values()) or (lo and not any(v and v[1] == lo for v in g.values())):
                    continue
                cell = {kind: (f'N^{v[0]:.2f} (N {v[1]}..{v[2]}' +
                               (f'; {v[3]:.2f}-{v[4]:.2f})' if v[3] != v[4] else ')')
                               if v else '-') for kind, v in g.items()}
                out.append(f"| {method} | {op} | {cell['base']} | {cell['plain']} |")
    return '\n'.join(out) + '\n'


def cmd_bench(args):
    names = args.scenarios.split(',') if args.scenarios else bench_scenarios()
    for n in names:
        if not os.path.exists(os.path.join(BENCH, n + '.scn')):
            raise Fail(f'no bench topology {n!r}; have: {", ".join(bench_scenarios())}')
    versions = args.lines.split(',') if args.lines else BENCH_LINES
    bases = {v: Kernel(line_of(v), 'base') for v in versions}
    patched = {v: Kernel(line_of(v), 'plain') for v in versions}
    kernels = [k for v in versions for k in (bases[v], patched[v])]
    if not args.from_logs:
        stage_deps()
        for v in versions:
            stage_tree(line_of(v))
        stage_build(kernels)
    md = [f'Benchmark: {args.iters} timed calls per _INFO and refused reset, '
          f'{args.accepted} per accepted reset; medians (p10..p90 in out/bench-*/console.log). '
          f'Command: {shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}', '']
    if args.rounds > 1:
        md += [f'{args.rounds} boots per kernel, the kernels alternating, the method timed '
               'first on each set turning with the boots (group, zero, devfd, ...): each cell is the '
               'smallest median of the boots, (xS) the largest over the smallest, the '
               "noise of the method.  A verdict says 'faster' or 'slower' when no boot of "
               'one kernel overlaps a boot of the other (by chance: under 1 % with 5 boots '
               "each), else 'noise' with the range of the ratio over the boots; a growth "
               'exponent comes with its range over the boots.', '']
    for name in names:
        for v in versions:
            # one guest at a time; with rounds, base and patched alternate,
            # so that a slow spell of the host hits both
            runs = {'base': [], 'plain': []}
            for rnd in range(1, args.rounds + 1):
                for k in (bases[v], patched[v]):
                    runs[k.kind].append(bench_boot(name, k, args, rnd))
            rows = {kind: merge_rounds(r) for kind, r in runs.items()}
            md.append(bench_table(f'{name}: {v}-base against {v}', rows))
    text = '\n'.join(md)
    with open(os.path.join(OUT, 'bench.md'), 'w') as f:
        f.write(text)
    print()
    print(text)
    progress('bench', 'table written to out/bench.md')
    return True
