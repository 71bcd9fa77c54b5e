# SPDX-License-Identifier: GPL-2.0
"""What every vmtest module shares: paths, progress lines, running commands."""

import os
import re
import shlex
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get('VMTEST_CACHE', os.path.expanduser('~/.cache/vfio-hotreset'))
OUT = os.path.join(REPO, 'out')
T0 = time.monotonic()


class Fail(Exception):
    pass


def progress(stage, msg=''):
    print(f'[{time.monotonic() - T0:7.1f}s] {stage:<10} {msg}', flush=True)


def logpath(name):
    os.makedirs(OUT, exist_ok=True)
    return os.path.join(OUT, name)


def sh(cmd, log=None, cwd=None, env=None, check=True, capture=False):
    """Run cmd; append its output to out/<log> (or return it if capture)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if capture:
        res = subprocess.run(cmd, cwd=cwd, env=full_env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and res.returncode:
            raise Fail(f'{shlex.join(cmd)} failed:\n{res.stderr.strip()}')
        return res.stdout
    with open(logpath(log or 'misc.log'), 'a') as f:
        f.write(f'$ {shlex.join(cmd)}\n')
        f.flush()
        res = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=f,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if check and res.returncode:
        with open(logpath(log or 'misc.log')) as f:
            errs = [line.rstrip() for line in f if re.search(r'error:|Error \d', line)]
        raise Fail(f'{shlex.join(cmd)} failed (exit {res.returncode}), '
                   f'see out/{log or "misc.log"}' +
                   ''.join(f'\n    {e}' for e in errs[-5:]))
    return res.returncode
