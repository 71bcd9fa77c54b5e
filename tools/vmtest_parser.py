# SPDX-License-Identifier: GPL-2.0
"""Reading a guest's console: TAP results, kernel splats, the summary."""

import collections
import fnmatch
import os
import re

from vmtest_common import REPO, progress

SPLAT = re.compile(r'(WARNING:|BUG:|Call Trace:|Kernel panic|KASAN:|UBSAN:|'
                   r'kmemleak: \d+ new suspected|possible recursive locking|'
                   r'circular locking dependency|INFO: task .* blocked)')
TAP = re.compile(r'^\s*(not ok|ok) (\d+) ([^#]*?)\s*(?:#\s*(SKIP|XFAIL|XPASS|TODO)\b(.*))?$')
# guest/init's own dump of the blocked tasks shortly before the host's
# timeout: what follows is a hang's evidence, reported as a timeout
DEADLINE = re.compile(r'^vmtest: deadline of \d+s reached', re.M)
TAP_COPY = re.compile(r'^vmtest: tap begin\r?\n(.*?)^vmtest: tap end', re.S | re.M)


EXPECTED = os.path.join(REPO, 'config', 'expected-failures')


def expected_failures(kernel):
    """[(program, test glob, cause)] that config/expected-failures lists for kernel."""
    out = []
    with open(EXPECTED) as f:
        for line in f:
            if not line.strip() or line.startswith('#'):
                continue
            kglob, test, cause = line.split(None, 2)
            if fnmatch.fnmatchcase(kernel, kglob):
                prog, _, name = test.partition(':')
                out.append((prog, name, cause.strip()))
    return out


def parse_tap(text, expected=()):
    """Count the TAP results of each test program run by guest/init.

    expected: expected_failures() of the kernel: those results count as
    xfail when they fail, and as failures (XPASS) when they pass.
    """
    res = {'pass': 0, 'fail': 0, 'skip': 0, 'xfail': 0, 'failed': [], 'expected': [],
           'done': False, 'kmemleak': None, 'figures': collections.Counter()}
    prog = None
    for raw in text.splitlines():
        line = raw.rstrip('\r')
        m = re.search(r'vmtest: begin (\S+)', line)
        if m:
            prog, seen, plan = m.group(1), 0, None
            failed_before, xfail_before = res['fail'], res['xfail']
            continue
        m = re.search(r'vmtest: end (\S+) rc=(\d+)', line)
        if m:
            rc = int(m.group(2))
            # a program that died early, or failed without saying which
            # test (kselftest: 0 pass, 4 all skipped)
            if plan is not None and seen < plan:
                res['fail'] += 1
                res['failed'].append(f'{prog}: {seen} of {plan} results (exit {rc})')
            elif rc not in (0, 4) and res['fail'] == failed_before and \
                    res['xfail'] == xfail_before:
                res['fail'] += 1
                res['failed'].append(f'{prog}: exit {rc}')
            elif rc == 4 and plan is None:
                # skipped as a whole before its plan (no device for it)
                res['skip'] += 1
            prog = None
            continue
        if 'vmtest: all done' in line:
            res['done'] = True
        m = re.search(r'vmtest: kmemleak: (\d+|not available)', line)
        if m:
            res['kmemleak'] = int(m.group(1)) if m.group(1).isdigit() else -1
        # what the fault, fuzz and stress tests did, summed per scenario
        m = re.match(r'^\s*# figure: ([\w.-]+)=(\d+)$', line)
        if m:
            res['figures'][m.group(1)] += int(m.group(2))
        if prog is None:
            continue
        m = re.match(r'^1\.\.(\d+)$', line)
        if m:
            plan = int(m.group(1))
            continue
        m = TAP.match(line)
        if not m or line.startswith('#'):
            continue
        # only a program's own top-level results count, not subtests' lines
        if raw.startswith(' ') or raw.startswith('\t'):
            continue
        seen += 1
        status, name, directive = m.group(1), m.group(3), m.group(4)
        known = [c for p, g, c in expected if p == prog and fnmatch.fnmatchcase(name, g)]
        if known and directive != 'SKIP':
            if status == 'ok':
                res['fail'] += 1
                res['failed'].append(f'{prog}: {name} (XPASS: listed in config/expected-failures)')
            else:
                res['xfail'] += 1
                res['expected'].append(f'{prog}: {name}: {known[0]}')
            continue
        if directive == 'SKIP':
            res['skip'] += 1
        elif directive == 'XFAIL':
            res['xfail'] += 1
        elif directive == 'XPASS':
            # an expected failure that passes: drop its XFAIL mark
            res['fail'] += 1
            res['failed'].append(f'{prog}: {name} (XPASS)')
        elif status == 'ok':
            res['pass'] += 1
        else:
            res['fail'] += 1
            res['failed'].append(f'{prog}: {name}')
    return res


def parse_console(text, expected=()):
    """The results of one boot from its whole console.

    The TAP comes from the clean copy guest/init prints at the end; without
    it (a hang, a panic) the live, interleaved output is all there is.
    Splats are looked for up to guest/init's deadline dump: the stacks it
    asks for are no splat, and a guest that got that far has timed out.
    """
    m = TAP_COPY.search(text)
    tap = m.group(1) if m else text
    res = parse_tap(tap, expected)
    d = DEADLINE.search(text)
    res['deadline'] = bool(d)
    head = text[:d.start()] if d else text
    res['splat'] = [line.strip() for line in head.splitlines() if SPLAT.search(line)]
    return tap, res


def verdict(r):
    if r['timeout'] or r['deadline']:
        return 'TIMEOUT'
    if r['fail'] or r['splat'] or not r['done']:
        return 'FAIL'
    return 'ok'


def report(name, r, timeout):
    v = verdict(r)
    if v == 'TIMEOUT':
        v = f'TIMEOUT after {timeout}s' + (' (blocked tasks dumped)' if r['deadline'] else '')
    progress('boot', f"{name}: {v} in {r['secs']:.1f}s: {r['pass']} passed, "
             f"{r['fail']} failed, {r['skip']} skipped, {r['xfail']} xfail "
             f"(console: out/{name}/console.log)")
    for f in r['failed']:
        progress('boot', f'  failed: {f}')
    for x in r['expected']:
        progress('boot', f'  expected failure: {x}')
    for s in r['splat'][:10]:
        progress('boot', f'  splat: {s}')


def summarize(results, checks=()):
    """Print the table and the closing line; checks: (stage, ok) pairs.

    results: {run name: (kernel name, result)}.  Returns True if all is well.
    """
    print()
    for stage, ok in checks:
        print(f"{stage:<24} {'ok' if ok else 'FAIL'}")
    print(f"{'scenario':<16} {'kernel':<11} {'pass':>5} {'fail':>5} {'skip':>5} {'xfail':>5} "
          f"{'splat':>5} {'leaks':>5} {'secs':>6}  verdict")
    tot = {'pass': sum(ok for _, ok in checks),
           'fail': sum(not ok for _, ok in checks), 'skip': 0}
    for name, (scn, kernel, r) in results.items():
        v = verdict(r)
        fail = r['fail'] + (1 if v == 'TIMEOUT' or not r['done'] else 0)
        leaks = '-' if r['kmemleak'] is None else 'n/a' if r['kmemleak'] < 0 else r['kmemleak']
        print(f"{scn:<16} {kernel:<11} {r['pass']:>5} {r['fail']:>5} {r['skip']:>5} "
              f"{r['xfail']:>5} {len(r['splat']):>5} {leaks:>5} {r['secs']:>6.1f}  {v}")
        tot['pass'] += r['pass']
        tot['fail'] += fail + (1 if r['splat'] else 0)
        tot['skip'] += r['skip'] + r['xfail']
    stalled = [n for n, (_, _, r) in results.items() if r.get('stalls')]
    if stalled:
        # a guest that stalled before /init was booted once more (vmtest_boot)
        print()
        print('stalled in early boot, booted again: ' +
              ', '.join(f'{n} (out/{n}/console-stall.log)' for n in stalled))
    figures = [(n, r['figures']) for n, (_, _, r) in results.items() if r['figures']]
    if figures:
        # the "# figure: key=N" lines of the fault, fuzz and stress tests
        print()
        print('figures (fuzz calls, and the resets among them):')
        for n, fig in figures:
            print(f'{n:<20} ' + ' '.join(f'{k}={v}' for k, v in sorted(fig.items())))
    print()
    print(f"{tot['pass']} passed, {tot['fail']} failed, {tot['skip']} skipped", flush=True)
    return tot['fail'] == 0
