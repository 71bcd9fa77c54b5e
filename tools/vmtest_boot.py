# SPDX-License-Identifier: GPL-2.0
"""Booting guests: scenarios (data files), QEMU command lines, timeouts."""

import concurrent.futures
import os
import shlex
import signal
import subprocess
import time

from vmtest_common import REPO, Fail, logpath, progress
from vmtest_kernel import INITRD_WITH_CLIENTS
from vmtest_parser import expected_failures, parse_console, report

SCENARIOS = os.path.join(REPO, 'scenarios')
# the fuzz test's seed, the same for every guest of a run (--seed replays)
SEED = int(time.time()) % 1000000
# a glob: only the test programs it matches run (--tests)
TESTS = None


class Scenario:
    """One QEMU topology: scenarios/NAME.scn (see README, Scenarios)."""

    def __init__(self, name, folder=SCENARIOS):
        self.name = name
        self.path = os.path.join(folder, name + '.scn')
        self.desc = ''
        self.qemu = []
        self.cmdline = []
        self.vfio = []
        self.timeout = 120
        self.memory = '512M'
        self.kernels = None     # the kernels it boots on: all
        self.tests = None       # a glob of the test programs it runs: all
        self.check_only = False  # slow: booted by make check, or when named
        self.clients = False    # the initramfs carries clients/ and QEMU
        with open(self.path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                key, _, val = line.partition(' ')
                val = val.strip()
                if key == 'desc':
                    self.desc = val
                elif key == 'qemu':
                    self.qemu += shlex.split(val)
                elif key == 'cmdline':
                    self.cmdline += shlex.split(val)
                elif key == 'vfio':
                    self.vfio += val.split()
                elif key == 'device':
                    # the device of the tests that take one BDF (libvfio)
                    self.cmdline.append(f'vmtest.device={val}')
                elif key == 'kernels':
                    self.kernels = val.split()
                elif key == 'tests':
                    self.tests = val
                elif key == 'timeout':
                    self.timeout = int(val)
                elif key == 'memory':
                    self.memory = val
                elif key == 'check-only':
                    self.check_only = val == 'yes'
                elif key == 'clients':
                    self.clients = val == 'yes'
                else:
                    raise Fail(f'{self.path}: unknown key {key!r}')


def all_scenarios():
    return sorted(p[:-4] for p in os.listdir(SCENARIOS) if p.endswith('.scn'))


def scenarios(arg, check=False):
    """The scenarios named in arg, or by default all but the check-only
    ones (all with check)."""
    names = arg.split(',') if arg else [
        n for n in all_scenarios() if check or not Scenario(n).check_only]
    for n in names:
        if not os.path.exists(os.path.join(SCENARIOS, n + '.scn')):
            raise Fail(f'no scenario {n!r}; have: {", ".join(all_scenarios())}')
    return names


def mib(size):
    """'512M', '2G' -> MiB"""
    return int(size[:-1]) * (1024 if size[-1] in 'Gg' else 1)


def guest_memory(scn, k):
    """The scenario's memory, or the kernel's if that is more (debug: 1G)."""
    if k.memory and mib(k.memory) > mib(scn.memory):
        return k.memory
    return scn.memory


# The scenarios' timeouts were measured here, where the loop of
# host_speed() takes 0.12 s while a kernel builds on both cores; a slower
# or busier host gets them stretched in proportion.
REFERENCE_LOOP_SECS = 0.12


def host_speed():
    """How many times slower than the reference this host runs now (>= 1).

    A fixed loop of Python, timed three times, the fastest kept, sees a
    slower CPU; the 1-minute load average per core sees other work.
    """
    best = None
    for _ in range(3):
        t = time.perf_counter()
        n = 0
        for i in range(2_000_000):
            n += i & 7
        best = min(best or 1e9, time.perf_counter() - t)
    # the loop may catch a core free for a moment on a host that is busy
    # all the same: a run queue longer than the cores slows the guests too
    busy = os.getloadavg()[0] / (os.cpu_count() or 1)
    return max(1.0, best / REFERENCE_LOOP_SECS, busy)


SPEED = None


def speed():
    global SPEED
    if SPEED is None:
        SPEED = host_speed()
    return SPEED


def timeout_of(scn, k):
    # twice the measured need, on a host as fast as the reference
    return int(2 * scn.timeout * k.slowdown * speed())


# A guest that has not started /init this long after QEMU did stalled in
# early boot: before vfio-pci binds a device, before any test.  Seen about
# once in 150 boots (README, Facts): QEMU spins and the guest prints
# nothing more, so without this the host waited for the whole timeout.
# Plain kernels start /init after 1-3 s.
INIT_LINE = b'Run /init as init process'
BOOT_SECS = 30


def boot_limit(k):
    return int(BOOT_SECS * k.slowdown * speed())


def qemu_cmd(scn, k, shell=False):
    # vmtest.deadline: guest/init dumps the blocked tasks (sysrq w, and
    # lockdep's held locks) this long after boot, before the host kills
    # the guest at the timeout, so that a hang leaves its stacks
    append = ['console=ttyS0', 'panic=-1', 'oops=panic', 'nokaslr',
              'vmtest.bind=' + ','.join(scn.vfio), f'vmtest.seed={SEED}',
              f'vmtest.deadline={max(timeout_of(scn, k) - 15, 10)}'] + \
        k.cmdline + scn.cmdline
    if TESTS or scn.tests:
        append.append(f'vmtest.tests={TESTS or scn.tests}')
    if shell:
        append.append('vmtest.shell=1')
    # One TCG thread for both vCPUs: with a thread per vCPU (QEMU 10.0.2),
    # a halted vCPU now and then misses its timer for good and the guest
    # sleeps forever (README, Facts)
    cmd = ['qemu-system-x86_64', '-machine', 'q35', '-accel', 'tcg,thread=single',
           '-cpu', 'max',
           '-smp', '2', '-m', guest_memory(scn, k), '-nographic', '-no-reboot',
           '-bios', '/usr/share/qemu/qboot.rom',
           '-nic', 'none', '-kernel', k.bzimage,
           '-initrd', INITRD_WITH_CLIENTS if scn.clients else k.initrd,
           '-append', ' '.join(append)]
    return cmd + scn.qemu


def run_name(scn, k):
    return f'{scn.name}-{k.name}'


def boot(scn, k, shell=False, name=None):
    name = name or run_name(scn, k)
    d = logpath(name)
    os.makedirs(d, exist_ok=True)
    cmd = qemu_cmd(scn, k, shell)
    with open(os.path.join(d, 'qemu.sh'), 'w') as f:
        f.write('#!/bin/sh\n# replay this boot\nexec ' + shlex.join(cmd) + '\n')
    if shell:
        progress('shell', f'{name}: ctrl-a x leaves QEMU')
        os.execvp(cmd[0], cmd)
    console = os.path.join(d, 'console.log')
    t = time.monotonic()
    # a stall in early boot is booted once more, and said so; a second
    # one fails the run
    for attempt in (1, 2):
        rc, how = run_qemu(cmd, console, timeout_of(scn, k), boot_limit(k))
        if how != 'stall' or attempt == 2:
            break
        os.replace(console, os.path.join(d, 'console-stall.log'))
        progress('boot', f'{name}: no /init after {boot_limit(k)}s, a stall in early boot '
                 f'(console: out/{name}/console-stall.log); booting it once more')
    timed_out = how != 'ok'
    with open(console, 'rb') as f:
        text = f.read().decode('utf-8', 'replace')
    tap, res = parse_console(text, expected_failures(k.name))
    with open(os.path.join(d, 'tests.log'), 'w') as f:
        f.write(tap)
    res['secs'] = time.monotonic() - t
    res['timeout'] = timed_out
    res['stalls'] = attempt - 1 + (how == 'stall')
    if how == 'stall':
        res['failed'].append(f'no /init after {boot_limit(k)}s, twice: a stall in early boot')
    with open(os.path.join(d, 'secs'), 'w') as f:
        f.write(f"{res['secs']:.1f}\n")
    res['rc'] = rc
    if not res['done'] and not timed_out:
        res['failed'].append('guest stopped before its tests finished')
    if k.kind == 'debug' and res['done'] and res['kmemleak'] != 0:
        res['fail'] += 1
        res['failed'].append('kmemleak: ' + ('not available' if res['kmemleak'] in (None, -1)
                                             else f"{res['kmemleak']} suspected leaks"))
    return res


def run_qemu(cmd, console, timeout, limit):
    """Run cmd, its output to console, until it exits, has not started
    /init after limit seconds, or runs past timeout.

    Returns (exit code, 'ok' | 'stall' | 'timeout').
    """
    t = time.monotonic()
    started = False
    with open(console, 'wb') as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        while True:
            try:
                return p.wait(timeout=1), 'ok'
            except subprocess.TimeoutExpired:
                pass
            secs = time.monotonic() - t
            if not started and secs > limit:
                with open(console, 'rb') as c:
                    started = INIT_LINE in c.read()
                how = None if started else 'stall'
            else:
                how = 'timeout' if secs > timeout else None
            if how:
                os.killpg(p.pid, signal.SIGKILL)
                return p.wait(), how


def stage_scenarios(names, kernels, jobs):
    """Boot every scenario on every kernel, up to jobs guests at a time.

    Returns {run name: (scenario, kernel name, result)}, run names being
    <scenario>-<kernel>.
    """
    scns = {n: Scenario(n) for n in names}
    runs = {}
    for k in kernels:
        for scn in scns.values():
            if scn.kernels is None or k.name in scn.kernels:
                runs[run_name(scn, k)] = (scn, k)
    progress('boot', f'{len(runs)} guests, {jobs} at a time; timeouts x{timeout_of(scn, k) / (scn.timeout * k.slowdown):.1f} '
             f'for this host (speed x{SPEED:.2f} of the reference, doubled)')
    for r, (scn, k) in runs.items():
        progress('boot', f'{r}: {scn.desc} (replay: sh out/{r}/qemu.sh)')
    return boot_all(runs, jobs)


def expected_secs(r, scn):
    """How long run r took last time (out/<r>/secs); never run: its
    scenario's timeout, so that it starts early."""
    try:
        with open(os.path.join(logpath(r), 'secs')) as f:
            return float(f.read())
    except (OSError, ValueError):
        return float(scn.timeout)


def boot_all(runs, jobs):
    """Boot {run name: (scenario, kernel)}, jobs at a time, reporting each.
    The longest runs go first, so that no core waits on one long guest at
    the end.

    Returns {run name: (scenario name, kernel name, result)} in runs' order.
    """
    results = {}
    order = sorted(runs, key=lambda r: -expected_secs(r, runs[r][0]))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(boot, *runs[r], name=r): r for r in order}
        for fut in concurrent.futures.as_completed(futs):
            r = futs[fut]
            scn, k = runs[r]
            results[r] = (scn.name, k.name, fut.result())
            report(r, results[r][2], timeout_of(scn, k))
    return {r: results[r] for r in runs}
