# SPDX-License-Identifier: GPL-2.0
"""Per-patch checks of a line: checkpatch, and a build at every patch."""

import collections
import os
import re
import subprocess
import time

from vmtest_common import CACHE, Fail, logpath, progress, sh
from vmtest_kernel import (BASE_TAG, BISECT_FRAGMENT, BRANCH, CODESPELL_DICT,
                           SELFTEST_DIR, build_selftests, configure, kmake)


def stage_checkpatch(line):
    bad = []
    patches = line.patches()
    for p in patches:
        # Debian's python3 (spdxcheck.py needs its ply and git modules)
        # and codespell dictionary
        rc = sh(['perl', os.path.join(line.tree, 'scripts/checkpatch.pl'), '--strict',
                 '--codespell', f'--codespellfile={CODESPELL_DICT}',
                 # new files are covered by MAINTAINERS' VFIO entry
                 '--ignore', 'FILE_PATH_CHANGES',
                 # the base is a tarball without mainline's history, so a
                 # Fixes: tag's commit cannot be looked up
                 '--ignore', 'UNKNOWN_COMMIT_ID',
                 '--color=never', p],
                log=f'checkpatch-{line.version}.log', cwd=line.tree, check=False,
                env={'PATH': '/usr/bin:' + os.environ.get('PATH', '')})
        if rc:
            bad.append(os.path.basename(p))
    progress('checkpatch', f'{line.version}: {len(patches) - len(bad)}/{len(patches)} clean'
             + (f"; not clean: {', '.join(bad)} (out/checkpatch-{line.version}.log)"
                if bad else ''))
    if bad:
        raise Fail(f'{line.version}: checkpatch --strict found problems')


WARN_LINE = re.compile(r'^(\S+\.[ch]):\d+(?::\d+)?: (?:warning|error): (.*)$')


class Bisect:
    """A worktree and a build directory that follow the series patch by patch."""

    def __init__(self, line):
        self.line = line
        self.wt = os.path.join(CACHE, f'bisect-tree-{line.version}')
        self.build = os.path.join(CACHE, f'bisect-build-{line.version}')
        self.log = f'bisect-{line.version}.log'
        if not os.path.isdir(self.wt):
            line.git('worktree', 'prune', capture=False, log=self.log)
            line.git('worktree', 'add', '-f', '--detach', self.wt, BASE_TAG,
                     capture=False, log=self.log)

    def checkout(self, commit):
        sh(['git', '-C', self.wt, 'checkout', '-q', '--detach', '-f', commit], log=self.log)

    def configure(self):
        # the selftests' config of the mainline series' tip (see
        # config_fragments()): the patch being built may come before the
        # one that adds or changes it, and the backport carries none
        configure(self.build, tree=self.wt, log=self.log,
                  extra=[BISECT_FRAGMENT])

    def warnings_at(self, commit, dirs, files):
        """W=1 and sparse (C=2) warnings in files, building dirs at commit.

        A Counter of (file, message), line numbers left out, so that the
        warnings of a patch can be told from those its parent already had.
        """
        self.checkout(commit)
        self.configure()
        for f in files:
            # recompile what the patch touches, so gcc (or ccache) says its
            # warnings again; C=2 runs sparse on every file anyway
            obj = os.path.join(self.build, f[:-2] + '.o')
            if f.endswith('.c') and os.path.exists(obj):
                os.unlink(obj)
        with open(logpath(self.log)) as f:
            before = len(f.read())
        kmake(self.build, *dirs, log=self.log, tree=self.wt, extra=['W=1', 'C=2'])
        with open(logpath(self.log)) as f:
            out = f.read()[before:]
        found = collections.Counter()
        for text in out.splitlines():
            m = WARN_LINE.match(text.strip())
            if not m:
                continue
            for f in files:
                if m.group(1).endswith('/' + f) or m.group(1) == f:
                    found[(f, m.group(2))] += 1
        return found

    def kerneldoc_at(self, commit, hdrs):
        self.checkout(commit)
        found = collections.Counter()
        for h in hdrs:
            if not os.path.exists(os.path.join(self.wt, h)):
                continue
            res = subprocess.run(['perl', 'scripts/kernel-doc', '-Wall', '-none', h],
                                 cwd=self.wt, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
            for text in res.stdout.splitlines():
                # line numbers left out ("h:123:" of the perl script,
                # "h:123 " of 7.3's python one): lines above shift them
                found[re.sub(r'(\.[ch]):\d+:?', r'\1:', text.strip())] += 1
        return found


def stage_bisect(line):
    """Build what each patch touches, at that patch and at its parent.

    Kernel directories with W=1 and sparse (C=2), touched uAPI headers with
    scripts/kernel-doc, the selftests where touched: any warning the patch
    adds in a file it touches fails it.
    """
    b = Bisect(line)
    commits = line.git('rev-list', '--reverse', f'{BASE_TAG}..{BRANCH}').split()
    bad = []
    for i, c in enumerate(commits, 1):
        subj = line.git('log', '-1', '--format=%s', c).strip()
        files = line.git('diff-tree', '--no-commit-id', '--name-only', '-r', c).split()
        kfiles = [f for f in files if re.search(r'\.[ch]$', f) and
                  not f.startswith(('tools/', 'Documentation/'))]
        kdirs = sorted({os.path.dirname(f) + '/' for f in kfiles if f.endswith('.c')})
        hdrs = [f for f in files if f.startswith('include/uapi/') and f.endswith('.h')]
        t = time.monotonic()
        what, new = [], []
        if kfiles:
            dirs = kdirs or ['drivers/vfio/']
            old = b.warnings_at(f'{c}^', dirs, kfiles)
            cur = b.warnings_at(c, dirs, kfiles)
            new += [f'{f}: {m}' for (f, m) in (cur - old)]
            what.append('W=1 C=2 ' + ' '.join(dirs))
        if hdrs:
            new += list(b.kerneldoc_at(c, hdrs) - b.kerneldoc_at(f'{c}^', hdrs))
            what.append('kernel-doc ' + ' '.join(hdrs))
        b.checkout(c)
        if any(f.startswith(SELFTEST_DIR) for f in files):
            b.configure()
            build_selftests(b.build, tree=b.wt, log=b.log)
            what.append('selftests')
        progress('bisect', f'{line.version} [{i}/{len(commits)}] {subj[:56]}: '
                 f"{'; '.join(what) or 'nothing to build'} ({time.monotonic() - t:.0f}s)"
                 + (f': {len(new)} new warnings' if new else ''))
        for w in new[:10]:
            progress('bisect', f'  {w}')
        if new:
            bad.append(i)
    if bad:
        raise Fail(f"{line.version}: patches {', '.join(map(str, bad))} add warnings "
                   f'(out/{b.log})')
