#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the patch series into a booted, patched kernel and a test verdict.

One tool in the spirit of the kernel's kunit.py.  Subcommands:

  deps       install what the other stages need (apt-get)
  tree       make the kernel git tree: one base commit + git am series/*.patch
  export     write the kernel tree's commits back to series/ (git format-patch)
  build      build the guest kernel, the selftests and the initramfs
  run        build, then boot each scenario and collect its TAP results
  shell      build, then boot one scenario into a shell on the serial console
  check      the full check CI runs: apply, checkpatch, per-patch build,
             guest kernel, every scenario
  bench      boot the base kernel and the patched one on the topologies of
             bench/ and compare the timings of the hot reset ioctls

Everything it downloads or builds lives in a cache outside the repository
($VMTEST_CACHE, default ~/.cache/vfio-hotreset); logs and serial consoles go
to out/ in the repository.
"""

import argparse
import collections
import concurrent.futures
import hashlib
import math
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get('VMTEST_CACHE',
                       os.path.expanduser('~/.cache/vfio-hotreset'))
OUT = os.path.join(REPO, 'out')
TREE = os.path.join(CACHE, 'linux')
BUILD = os.path.join(CACHE, 'build')
BUILD_DEBUG = os.path.join(CACHE, 'build-debug')
# the base kernel of the benchmark: the series' kernel patches left out
BASE_TREE = os.path.join(CACHE, 'base-tree')
BUILD_BASE = os.path.join(CACHE, 'build-base')
SERIES = os.path.join(REPO, 'series')
SCENARIOS = os.path.join(REPO, 'scenarios')
BENCH = os.path.join(REPO, 'bench')
FRAGMENT = os.path.join(REPO, 'config', 'guest.config')
BISECT_FRAGMENT = os.path.join(REPO, 'config', 'bisect.config')
DEBUG_FRAGMENT = os.path.join(REPO, 'config', 'debug.config')
SELFTEST_DIR = 'tools/testing/selftests/vfio'
BRANCH = 'series'
BASE_TAG = 'base'
JOBS = str(os.cpu_count() or 2)

APT_PACKAGES = {
    # command or file that proves the package is there -> package
    'qemu-system-x86_64': 'qemu-system-x86',
    '/usr/share/qemu/qboot.rom': 'qemu-system-data',
    '/bin/busybox': 'busybox-static',
    'ccache': 'ccache',
    'sparse': 'sparse',
    'flex': 'flex',
    'bison': 'bison',
    '/usr/include/libelf.h': 'libelf-dev',
    '/usr/include/openssl/ssl.h': 'libssl-dev',
    'bc': 'bc',
    'codespell': 'codespell',
    '/usr/lib/python3/dist-packages/ply': 'python3-ply',
    '/usr/lib/python3/dist-packages/git': 'python3-git',
    'perl': 'perl',
    'git': 'git',
    'make': 'make',
    'gcc': 'gcc',
}

CODESPELL_DICT = '/usr/lib/python3/dist-packages/codespell_lib/data/dictionary.txt'

T0 = time.monotonic()
# the fuzz test's seed, the same for every guest of a run (--seed replays)
SEED = int(time.time()) % 1000000


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
            errs = [l.rstrip() for l in f if re.search(r'error:|Error \d', l)]
        raise Fail(f'{shlex.join(cmd)} failed (exit {res.returncode}), '
                   f'see out/{log or "misc.log"}' +
                   ''.join(f'\n    {l}' for l in errs[-5:]))
    return res.returncode


def git(*args, capture=True, **kw):
    return sh(['git', '-C', TREE] + list(args), capture=capture, **kw)


def read_pin():
    pin = {}
    with open(os.path.join(REPO, 'base.pin')) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith('#'):
                k, v = line.split('=', 1)
                pin[k] = v
    return pin


def file_hash(paths):
    h = hashlib.sha256()
    for p in paths:
        h.update(os.path.basename(p).encode())
        with open(p, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def series_patches():
    if not os.path.isdir(SERIES):
        return []
    return sorted(os.path.join(SERIES, p) for p in os.listdir(SERIES)
                  if p.endswith('.patch') and not p.startswith('0000-'))


# --- deps -------------------------------------------------------------------

def stage_deps(args):
    missing = sorted({pkg for probe, pkg in APT_PACKAGES.items()
                      if not (os.path.exists(probe) if probe.startswith('/')
                              else shutil.which(probe))})
    pin = read_pin()
    if not os.path.exists(pin['tarball']):
        missing.append(pin['package'])
    if not missing:
        progress('deps', 'all installed')
        return
    progress('deps', 'apt-get install ' + ' '.join(missing))
    env = {'DEBIAN_FRONTEND': 'noninteractive'}
    sh(['apt-get', 'update', '-q'], log='deps.log', env=env)
    sh(['apt-get', 'install', '-y', '-q', '--no-install-recommends'] + missing,
       log='deps.log', env=env)


# --- base and tree ----------------------------------------------------------

def installed_version(pkg):
    return sh(['dpkg-query', '-W', '-f=${Version}', pkg], capture=True,
              check=False).strip()


def stage_base(args):
    """Check the installed base against base.pin; return its identity."""
    pin = read_pin()
    ver = installed_version(pin['package'])
    if not ver:
        raise Fail(f"{pin['package']} is not installed (run: {sys.argv[0]} deps)")
    stamp = os.path.join(CACHE, 'base.stamp')
    if ver != pin['version']:
        progress('base', f"WARNING: apt serves {pin['package']} {ver}, "
                 f"the series is pinned to {pin['version']}; going on")
    want = f"{pin['package']}={ver}"
    if os.path.exists(stamp) and open(stamp).read().strip() == want and \
            os.path.isdir(os.path.join(TREE, '.git')):
        progress('base', f'{want} (cached)')
        return
    with open(pin['tarball'], 'rb') as f:
        digest = hashlib.file_digest(f, 'sha256').hexdigest()
    if ver == pin['version'] and digest != pin['sha256']:
        raise Fail(f"{pin['tarball']}: sha256 {digest} != pinned {pin['sha256']}")
    progress('base', f'unpacking {want} into {TREE}')
    if os.path.exists(TREE):
        shutil.rmtree(TREE)
    os.makedirs(TREE)
    sh(['tar', '-xJf', pin['tarball'], '-C', TREE, '--strip-components=1'],
       log='base.log')
    kv = sh(['make', '-s', '-C', TREE, 'kernelversion'], capture=True).strip()
    if ver == pin['version'] and kv != pin['kernelversion']:
        raise Fail(f"kernel version {kv} != pinned {pin['kernelversion']}")
    # A deterministic base commit: the same tarball gives the same hash on
    # every machine, so base-commit: in the cover letter means something.
    ident = {'GIT_AUTHOR_NAME': 'Debian', 'GIT_AUTHOR_EMAIL': 'debian-kernel@lists.debian.org',
             'GIT_COMMITTER_NAME': 'Debian', 'GIT_COMMITTER_EMAIL': 'debian-kernel@lists.debian.org',
             'GIT_AUTHOR_DATE': '@0 +0000', 'GIT_COMMITTER_DATE': '@0 +0000'}
    git('init', '-q', '-b', BRANCH, capture=False, log='base.log')
    git('config', 'core.abbrev', '12', capture=False, log='base.log')
    # Debian's top-level .gitignore ignores everything: add by force.
    git('add', '-f', '-A', '.', capture=False, log='base.log')
    git('commit', '-q', '--no-verify', '-m', f'{want} (Linux {kv})',
        capture=False, log='base.log', env=ident)
    git('tag', BASE_TAG, capture=False, log='base.log')
    with open(stamp, 'w') as f:
        f.write(want + '\n')
    for s in ('tree.stamp',):
        if os.path.exists(os.path.join(CACHE, s)):
            os.unlink(os.path.join(CACHE, s))
    progress('base', f"base commit {git('rev-parse', '--short', 'HEAD').strip()}")


def tree_state():
    """(series hash, tree HEAD) recorded at the last apply or export."""
    try:
        with open(os.path.join(CACHE, 'tree.stamp')) as f:
            sh_, head = f.read().split()
            return sh_, head
    except (OSError, ValueError):
        return None, None


def write_tree_stamp():
    with open(os.path.join(CACHE, 'tree.stamp'), 'w') as f:
        f.write(f"{file_hash(series_patches())} {git('rev-parse', 'HEAD').strip()}\n")


def tree_dirty():
    return git('status', '--porcelain', '--untracked-files=no').strip() != ''


def stage_tree(args, strict=False):
    """Make sure the kernel tree holds base + series/.

    series/ changed since the last apply (a pull) and the tree holds no
    unexported work: re-apply.  The tree holds unexported commits or edits:
    keep it (run tests it as is), but a strict caller (check) fails, since
    it must test what series/ says.
    """
    stage_base(args)
    patches = series_patches()
    stamped_series, stamped_head = tree_state()
    head = git('rev-parse', 'HEAD').strip()
    cur = file_hash(patches)
    if stamped_series == cur and stamped_head == head and not tree_dirty():
        progress('tree', f'{len(patches)} patches, up to date')
        return
    if stamped_series is not None and stamped_series == cur:
        msg = ('the kernel tree has commits or edits that series/ lacks '
               f'(export them: {sys.argv[0]} export)')
        if strict:
            raise Fail(msg)
        progress('tree', 'WARNING: ' + msg + '; testing the tree as it is')
        return
    if stamped_head is not None and (stamped_head != head or tree_dirty()):
        raise Fail('series/ changed and the kernel tree has unexported work; '
                   f'resolve by hand in {TREE}')
    progress('tree', f'git am {len(patches)} patches onto {BASE_TAG}')
    git('checkout', '-q', '-f', '-B', BRANCH, BASE_TAG, capture=False, log='tree.log')
    if patches:
        env = {'GIT_COMMITTER_NAME': 'vmtest', 'GIT_COMMITTER_EMAIL': 'vmtest@localhost'}
        rc = git('am', '-q', '--committer-date-is-author-date', *patches,
                 capture=False, log='tree.log', check=False, env=env)
        if rc:
            git('am', '--abort', capture=False, log='tree.log', check=False)
            pin = read_pin()
            raise Fail(f"series/ does not apply to {installed_version(pin['package'])} "
                       f"(pinned {pin['version']}), see out/tree.log")
    write_tree_stamp()


def format_patches(outdir):
    cover = os.path.join(REPO, 'cover-letter.txt')
    with open(cover) as f:
        desc = f.read()
    git('config', f'branch.{BRANCH}.description', desc, capture=False, log='export.log')
    for p in os.listdir(outdir) if os.path.isdir(outdir) else []:
        if p.endswith('.patch'):
            os.unlink(os.path.join(outdir, p))
    git('format-patch', '-q', '--cover-letter', '--cover-from-description=subject',
        '--subject-prefix=PATCH 6.12.y', '-n', f'--base={BASE_TAG}', '--no-signature',
        '-o', outdir, f'{BASE_TAG}..{BRANCH}', capture=False, log='export.log')


def stage_export(args):
    stage_base(args)
    if tree_dirty():
        raise Fail(f'{TREE} has uncommitted changes: commit them first')
    format_patches(SERIES)
    write_tree_stamp()
    progress('export', f'{len(series_patches())} patches written to series/')


def patch_text(p):
    """A patch without the lines that change when it is only re-applied."""
    with open(p) as f:
        lines = f.read().splitlines()
    return [l for l in lines[1:] if not re.match(r'^(\d+\.\d+\.\d+|Date: .*)$', l)]


def stage_fresh(args):
    """series/ must be exactly what the tree exports."""
    tmp = os.path.join(CACHE, 'export-check')
    os.makedirs(tmp, exist_ok=True)
    format_patches(tmp)
    mine = sorted(os.listdir(tmp))
    theirs = sorted(os.listdir(SERIES))
    if mine != theirs or any(patch_text(os.path.join(tmp, p)) !=
                             patch_text(os.path.join(SERIES, p)) for p in mine):
        raise Fail('series/ is not what the kernel tree exports: '
                   f'run {sys.argv[0]} export (and never edit a patch by hand)')
    progress('fresh', 'series/ matches the kernel tree')


# --- build ------------------------------------------------------------------

def kenv():
    return {'CCACHE_DIR': os.path.join(CACHE, 'ccache'),
            'CCACHE_BASEDIR': CACHE,
            'KBUILD_BUILD_TIMESTAMP': 'Thu Jan  1 00:00:00 UTC 1970',
            'KBUILD_BUILD_USER': 'vmtest', 'KBUILD_BUILD_HOST': 'vmtest'}


def kmake(build, *targets, log, tree=TREE, extra=()):
    cc = 'ccache gcc' if shutil.which('ccache') else 'gcc'
    sh(['make', '-C', tree, f'O={build}', 'ARCH=x86_64', f'CC={cc}',
        f'HOSTCC={cc}', f'-j{JOBS}'] + list(extra) + list(targets),
       log=log, env=kenv())


def fragment_options(frag):
    opts = {}
    with open(frag) as f:
        for line in f:
            m = re.match(r'^(CONFIG_\w+)=(.*)$', line.strip())
            if m:
                opts[m.group(1)] = m.group(2)
            m = re.match(r'^# (CONFIG_\w+) is not set$', line.strip())
            if m:
                opts[m.group(1)] = 'n'
    return opts


def check_config(build, frags):
    have = {}
    with open(os.path.join(build, '.config')) as f:
        for line in f:
            m = re.match(r'^(CONFIG_\w+)=(.*)$', line.strip())
            if m:
                have[m.group(1)] = m.group(2)
    bad = []
    for frag in frags:
        for k, v in fragment_options(frag).items():
            if have.get(k, 'n') != v:
                bad.append(f'{k}={v} (got {have.get(k, "n")})')
    if bad:
        raise Fail('guest config lacks: ' + ', '.join(bad))


def config_fragments(tree=TREE):
    frags = [FRAGMENT]
    st = os.path.join(tree, SELFTEST_DIR, 'config')
    if os.path.exists(st):
        frags.append(st)
    return frags


def configure(build, tree=TREE, log='build.log', extra=()):
    frags = config_fragments(tree) + list(extra)
    text = ''.join(open(f).read() for f in frags)
    stamp = os.path.join(build, '.fragment')
    merged = stamp + '.in'
    if os.path.exists(stamp) and open(stamp).read() == text and \
            os.path.exists(os.path.join(build, '.config')):
        return
    os.makedirs(build, exist_ok=True)
    with open(merged, 'w') as f:
        f.write(text)
    kmake(build, 'allnoconfig', log=log, tree=tree, extra=[f'KCONFIG_ALLCONFIG={merged}'])
    check_config(build, frags)
    with open(stamp, 'w') as f:
        f.write(text)


def build_selftests(build, tree=TREE, log='build.log'):
    kmake(build, 'headers', log=log, tree=tree)
    out = os.path.join(build, 'kselftest', 'vfio')
    os.makedirs(out, exist_ok=True)
    sh(['make', '-C', os.path.join(tree, SELFTEST_DIR), f'OUTPUT={out}',
        f"KHDR_INCLUDES=-isystem {build}/usr/include", f'-j{JOBS}'],
       log=log, env={'LDFLAGS': '-static', 'CFLAGS': '-Werror', 'CCACHE_DIR': os.path.join(CACHE, 'ccache')})
    return out


def build_bench(build, tree=TREE, log='build.log'):
    """The benchmark (bench/hot_reset_bench.c), on the selftests' library."""
    out = os.path.join(build, 'bench', 'hot_reset_bench')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    lib = os.path.join(tree, SELFTEST_DIR)
    sh(['gcc', '-static', '-O2', '-Wall', '-Werror', f'-I{lib}',
        '-isystem', os.path.join(build, 'usr/include'),
        os.path.join(BENCH, 'hot_reset_bench.c'),
        os.path.join(lib, 'hot_reset_lib.c'), '-o', out], log=log)
    return out


def selftest_programs(outdir):
    progs = []
    for p in sorted(os.listdir(outdir)):
        path = os.path.join(outdir, p)
        if os.path.isfile(path) and os.access(path, os.X_OK) and \
                p.endswith('_test'):
            progs.append(path)
    return progs


def cpio_newc(entries, path):
    """Write a newc cpio archive; entries: (name, mode, data or link target)."""
    ino = 1
    with open(path, 'wb') as f:
        def hdr(name, mode, size, nlink=1):
            nonlocal ino
            nb = name.encode() + b'\0'
            fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(nb), 0]
            f.write(b'070701' + b''.join(b'%08X' % x for x in fields) + nb)
            f.write(b'\0' * ((4 - (110 + len(nb)) % 4) % 4))
            ino += 1
        for name, mode, data in entries:
            hdr(name, mode, len(data))
            f.write(data)
            f.write(b'\0' * ((4 - len(data) % 4) % 4))
        hdr('TRAILER!!!', 0, 0)


# QEMU as a client inside the guest (hot_reset_qemu_test): the host's
# binary, the shared libraries it loads, the firmware and option ROM of
# its q35 machine and, Debian building TCG as a module, that module
GUEST_QEMU = '/usr/bin/qemu-system-x86_64'
GUEST_QEMU_FILES = ['/usr/share/qemu/qboot.rom', '/usr/share/qemu/kvmvapic.bin',
                    '/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so']


def qemu_client_files():
    """(path in the guest, host file) of the nested QEMU, or [] without one."""
    if not os.path.exists(GUEST_QEMU):
        return []
    files = [GUEST_QEMU] + [f for f in GUEST_QEMU_FILES if os.path.exists(f)]
    out = subprocess.run(['ldd', GUEST_QEMU], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or
        # "/lib64/ld-linux-x86-64.so.2 (0x...)"
        m = re.search(r'(/\S+) \(0x', line)
        if m:
            files.append(m.group(1))
    return [(f.lstrip('/'), f) for f in files]


def build_initramfs(build, progs, bench):
    entries = []
    extra = qemu_client_files()
    dirs = ['bin', 'dev', 'proc', 'sys', 'tmp', 'tests', 'bench', 'etc', 'sbin',
            'usr', 'usr/bin', 'usr/sbin', 'root']
    for name, _ in extra:
        d = os.path.dirname(name)
        while d and d not in dirs:
            dirs.append(d)
            d = os.path.dirname(d)
    for d in sorted(dirs, key=lambda d: d.count('/')):
        entries.append((d, stat.S_IFDIR | 0o755, b''))
    entries.append(('dev/console', stat.S_IFCHR | 0o600, b''))
    with open('/bin/busybox', 'rb') as f:
        entries.append(('bin/busybox', stat.S_IFREG | 0o755, f.read()))
    entries.append(('bin/sh', stat.S_IFLNK | 0o777, b'busybox'))
    with open(os.path.join(REPO, 'guest', 'init'), 'rb') as f:
        entries.append(('init', stat.S_IFREG | 0o755, f.read()))
    for p in progs:
        with open(p, 'rb') as f:
            entries.append((f'tests/{os.path.basename(p)}', stat.S_IFREG | 0o755, f.read()))
    with open(bench, 'rb') as f:
        entries.append(('bench/hot_reset_bench', stat.S_IFREG | 0o755, f.read()))
    for name, host in extra:
        with open(host, 'rb') as f:
            entries.append((name, stat.S_IFREG | 0o755, f.read()))
    path = os.path.join(build, 'initramfs.cpio')
    cpio_newc(entries, path)
    return path


class Kernel:
    """One guest kernel: plain, debug (config/debug.config) or base.

    All boot the same initramfs.  The debug kernel's guests get more time
    and memory, panic_on_warn, and a kmemleak scan at the end (guest/init).
    The base kernel is the base commit without the series, configured
    like the plain one; only the benchmark boots it.
    """
    KINDS = ('plain', 'debug', 'base')

    def __init__(self, kind):
        self.kind = kind
        self.build = {'plain': BUILD, 'debug': BUILD_DEBUG, 'base': BUILD_BASE}[kind]
        self.tree = BASE_TREE if kind == 'base' else TREE
        # the base tree has no selftests config: take the series' one
        self.extra = {'plain': [], 'debug': [DEBUG_FRAGMENT],
                      'base': [os.path.join(TREE, SELFTEST_DIR, 'config')]}[kind]
        self.log = {'plain': 'build.log', 'debug': 'build-debug.log',
                    'base': 'build-base.log'}[kind]
        self.bzimage = os.path.join(self.build, 'arch/x86/boot/bzImage')
        self.initrd = None
        # KASAN, lockdep and kmemleak under TCG, plus the fault, fuzz and
        # stress tests' longer runs: noiommu takes 76 s plain, 324 s debug
        self.slowdown = 5 if kind == 'debug' else 1
        self.memory = '1G' if kind == 'debug' else None
        self.cmdline = ['panic_on_warn=1', 'vmtest.debug=1'] if kind == 'debug' else []

    def suffix(self):
        return '' if self.kind == 'plain' else '-' + self.kind

    def prepare(self):
        """The base kernel's tree: a worktree of the base commit."""
        if self.kind == 'base' and not os.path.isdir(BASE_TREE):
            git('worktree', 'prune', capture=False, log=self.log)
            git('worktree', 'add', '-f', '--detach', BASE_TREE, BASE_TAG,
                capture=False, log=self.log)


def parse_kernels(arg):
    kinds = arg.split(',')
    for k in kinds:
        if k not in Kernel.KINDS:
            raise Fail(f'no kernel {k!r}; have: {", ".join(Kernel.KINDS)}')
    return [Kernel(k) for k in kinds]


def stage_build(args, kernels):
    """Build each kernel, then the selftests and the initramfs they share."""
    for k in kernels:
        k.prepare()
        progress('config', f'{k.kind}: allnoconfig + ' + ' + '.join(
            os.path.relpath(f, REPO) if f.startswith(REPO) else os.path.relpath(f, TREE)
            for f in config_fragments(k.tree) + k.extra))
        configure(k.build, tree=k.tree, log=k.log, extra=k.extra)
        t = time.monotonic()
        progress('kernel', f'{k.kind}: make bzImage (log: out/{k.log})'
                 + (f' from {os.path.relpath(k.tree, CACHE)} at {BASE_TAG}'
                    if k.kind == 'base' else ''))
        kmake(k.build, 'bzImage', log=k.log, tree=k.tree)
        progress('kernel', f'{k.kind}: done in {time.monotonic() - t:.1f}s')
    if not os.path.exists(os.path.join(BUILD, '.config')):
        configure(BUILD)
    progs = selftest_programs(build_selftests(BUILD))
    if not progs:
        raise Fail(f'no selftests were built from {SELFTEST_DIR}')
    initrd = build_initramfs(BUILD, progs, build_bench(BUILD))
    progress('initramfs', f'{len(progs)} test programs, '
             f'{os.path.getsize(initrd) >> 10} KiB')
    for k in kernels:
        k.initrd = initrd
    return kernels


# --- scenarios --------------------------------------------------------------

class Scenario:
    def __init__(self, name, folder=SCENARIOS):
        self.name = name
        self.path = os.path.join(folder, name + '.scn')
        self.desc = ''
        self.qemu = []
        self.cmdline = []
        self.vfio = []
        self.timeout = 120
        self.memory = '512M'
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
                elif key == 'timeout':
                    self.timeout = int(val)
                elif key == 'memory':
                    self.memory = val
                else:
                    raise Fail(f'{self.path}: unknown key {key!r}')


def all_scenarios():
    return sorted(p[:-4] for p in os.listdir(SCENARIOS) if p.endswith('.scn'))


def timeout_of(scn, k):
    return scn.timeout * k.slowdown


def qemu_cmd(scn, k, shell=False):
    # vmtest.deadline: guest/init dumps the blocked tasks (sysrq w, and
    # lockdep's held locks) this long after boot, before the host kills
    # the guest at the timeout, so that a hang leaves its stacks
    append = ['console=ttyS0', 'panic=-1', 'oops=panic', 'nokaslr',
              'vmtest.bind=' + ','.join(scn.vfio), f'vmtest.seed={SEED}',
              f'vmtest.deadline={max(timeout_of(scn, k) - 15, 10)}'] + \
        k.cmdline + scn.cmdline
    if shell:
        append.append('vmtest.shell=1')
    cmd = ['qemu-system-x86_64', '-machine', 'q35,accel=tcg', '-cpu', 'max',
           '-smp', '2', '-m', k.memory or scn.memory, '-nographic', '-no-reboot',
           '-bios', '/usr/share/qemu/qboot.rom',
           '-nic', 'none', '-kernel', k.bzimage, '-initrd', k.initrd,
           '-append', ' '.join(append)]
    return cmd + scn.qemu


SPLAT = re.compile(r'(WARNING:|BUG:|Call Trace:|Kernel panic|KASAN:|UBSAN:|'
                   r'kmemleak: \d+ new suspected|possible recursive locking|'
                   r'circular locking dependency|INFO: task .* blocked)')
TAP = re.compile(r'^\s*(not ok|ok) (\d+) ([^#]*?)\s*(?:#\s*(SKIP|XFAIL|XPASS|TODO)\b(.*))?$')


def parse_tap(text):
    """Count the TAP results of each test program run by guest/init."""
    res = {'pass': 0, 'fail': 0, 'skip': 0, 'xfail': 0, 'failed': [],
           'done': False, 'kmemleak': None, 'figures': collections.Counter()}
    prog = None
    for raw in text.splitlines():
        line = raw.rstrip('\r')
        m = re.search(r'vmtest: begin (\S+)', line)
        if m:
            prog, seen, plan, failed_before = m.group(1), 0, None, res['fail']
            continue
        m = re.search(r'vmtest: end (\S+) rc=(\d+)', line)
        if m:
            rc = int(m.group(2))
            # a program that died early, or failed without saying which
            # test (kselftest: 0 pass, 4 all skipped)
            if plan is not None and seen < plan:
                res['fail'] += 1
                res['failed'].append(f'{prog}: {seen} of {plan} results (exit {rc})')
            elif rc not in (0, 4) and res['fail'] == failed_before:
                res['fail'] += 1
                res['failed'].append(f'{prog}: exit {rc}')
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


def boot(scn, k, shell=False):
    name = scn.name + k.suffix()
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
    with open(console, 'wb') as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            p.wait(timeout=timeout_of(scn, k))
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            timed_out = True
    secs = time.monotonic() - t
    with open(console, 'rb') as f:
        text = f.read().decode('utf-8', 'replace')
    # the clean copy guest/init prints at the end; without it (a hang, a
    # panic) the live, interleaved output is all there is
    m = re.search(r'^vmtest: tap begin\r?\n(.*?)^vmtest: tap end', text, re.S | re.M)
    tap = m.group(1) if m else text
    with open(os.path.join(d, 'tests.log'), 'w') as f:
        f.write(tap)
    res = parse_tap(tap)
    res['splat'] = [l.strip() for l in text.splitlines() if SPLAT.search(l)]
    res['secs'] = secs
    res['timeout'] = timed_out
    res['rc'] = p.returncode
    if not res['done'] and not timed_out:
        res['failed'].append('guest stopped before its tests finished')
    if k.kind == 'debug' and res['done'] and res['kmemleak'] != 0:
        res['fail'] += 1
        res['failed'].append('kmemleak: ' + ('not available' if res['kmemleak'] in (None, -1)
                                             else f"{res['kmemleak']} suspected leaks"))
    return res


def report(name, scn, k, r):
    verdict = 'ok'
    if r['timeout']:
        verdict = f'TIMEOUT after {timeout_of(scn, k)}s'
    elif r['fail'] or r['splat'] or not r['done']:
        verdict = 'FAILED'
    progress('boot', f"{name}: {verdict} in {r['secs']:.1f}s: {r['pass']} passed, "
             f"{r['fail']} failed, {r['skip']} skipped, {r['xfail']} xfail "
             f"(console: out/{name}/console.log)")
    for f in r['failed']:
        progress('boot', f'  failed: {f}')
    for s in r['splat'][:10]:
        progress('boot', f'  splat: {s}')


def stage_scenarios(names, kernels, jobs):
    """Boot every scenario on every kernel, up to jobs guests at a time.

    The guests spend most of their time in the reset delays of the PCI
    core (100 ms and more per reset), not on the CPU, so several TCG guests
    share two cores well.  Results are keyed <scenario>[-<kernel>].
    """
    scns = {n: Scenario(n) for n in names}
    runs = {}
    for k in kernels:
        for n, scn in scns.items():
            runs[n + k.suffix()] = (scn, k)
    for r, (scn, k) in runs.items():
        progress('boot', f'{r}: {scn.desc} (replay: sh out/{r}/qemu.sh)')
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(boot, scn, k): r for r, (scn, k) in runs.items()}
        for fut in concurrent.futures.as_completed(futs):
            r = futs[fut]
            results[r] = fut.result()
            report(r, *runs[r], results[r])
    return {r: results[r] for r in runs}


def summarize(results, checks=()):
    """Print the table and the closing line; checks: (stage, ok) pairs."""
    print()
    for stage, ok in checks:
        print(f"{stage:<12} {'ok' if ok else 'FAIL'}")
    print(f"{'scenario':<14} {'pass':>5} {'fail':>5} {'skip':>5} {'xfail':>5} "
          f"{'splat':>5} {'leaks':>5} {'secs':>6}  verdict")
    tot = {'pass': sum(ok for _, ok in checks),
           'fail': sum(not ok for _, ok in checks), 'skip': 0}
    bad = tot['fail'] > 0
    for name, r in results.items():
        fail = r['fail'] + (1 if r['timeout'] or not r['done'] else 0)
        ok = not fail and not r['splat']
        bad |= not ok
        leaks = '-' if r['kmemleak'] is None else 'n/a' if r['kmemleak'] < 0 else r['kmemleak']
        print(f"{name:<14} {r['pass']:>5} {r['fail']:>5} {r['skip']:>5} {r['xfail']:>5} "
              f"{len(r['splat']):>5} {leaks:>5} {r['secs']:>6.1f}  "
              f"{'ok' if ok else 'TIMEOUT' if r['timeout'] else 'FAIL'}")
        tot['pass'] += r['pass']
        tot['fail'] += fail + (1 if r['splat'] else 0)
        tot['skip'] += r['skip'] + r['xfail']
    figures = [(n, r['figures']) for n, r in results.items() if r['figures']]
    if figures:
        # the "# figure: key=N" lines of the fault, fuzz and stress tests
        print()
        print('figures (fail-nth points swept, fuzz calls, stress seconds and operations):')
        for n, fig in figures:
            print(f'{n:<14} ' + ' '.join(f'{k}={v}' for k, v in sorted(fig.items())))
    print()
    print(f"{tot['pass']} passed, {tot['fail']} failed, {tot['skip']} skipped", flush=True)
    return not bad


# --- bench: the base kernel against the patched one --------------------------

BENCH_LINE = re.compile(r'^bench: set=(\S+) n=(\d+) groups=(\d+) method=(\w+) op=(\w+) '
                        r'ret=(-?\d+) iters=(\d+)(?: med=([\d.]+) p10=([\d.]+) p90=([\d.]+))?')
BENCH_OPS = ('info', 'refused', 'accepted', 'bare')
BENCH_METHODS = ('group', 'zero', 'devfd', 'sysfs')


def bench_scenarios():
    return sorted(p[:-4] for p in os.listdir(BENCH) if p.endswith('.scn'))


def bench_boot(name, k, args, rnd):
    """Boot one bench topology on kernel k; {(n, method, op): fields}."""
    scn = Scenario(name, BENCH)
    scn.name = 'bench-' + name + (f'-r{rnd}' if args.rounds > 1 else '')
    scn.cmdline.append(f'vmtest.bench={args.iters},{args.accepted}')
    d = scn.name + k.suffix()
    console = os.path.join(logpath(d), 'console.log')
    if args.from_logs:
        r = {'timeout': False, 'splat': [], 'secs': 0}
    else:
        progress('bench', f'{d}: {scn.desc} (replay: sh out/{d}/qemu.sh)')
        r = boot(scn, k)
        if r['rc'] < 0 and not r['timeout']:
            # QEMU 7.2 itself has segfaulted under a 256-function bus
            # reset; say so, keep its console, and try once more
            os.replace(console, console + '.crashed')
            progress('bench', f"{d}: QEMU died of signal {-r['rc']} after {r['secs']:.0f}s "
                     f'(console: out/{d}/console.log.crashed); booting again')
            r = boot(scn, k)
    with open(console, 'rb') as f:
        text = f.read().decode('utf-8', 'replace')
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
    """Per key, the round with the smallest median; spread = max/min."""
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


def growth(rows, kind, method, op):
    """Slope of log(time) over log(N) between the smallest and largest N."""
    if kind == 'base' and method == 'devfd' and op != 'info':
        return None
    pts = sorted((n, r['med']) for (n, m, o), r in rows[kind].items()
                 if m == method and o == op and r['med'] and
                 r['ret'] == (-22 if op == 'refused' else 0))
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        return None
    (n0, t0), (n1, t1) = pts[0], pts[-1]
    return math.log(t1 / t0) / math.log(n1 / n0), n0, n1


def bench_table(name, rows):
    """Markdown: one row per (method, op, N) with both kernels and the ratio."""
    out = [f'### {name}', '',
           '| method | op | N | groups | base | patched | patched/base |',
           '|---|---|---:|---:|---:|---:|---:|']
    keys = sorted(set(rows['base']) | set(rows['plain']),
                  key=lambda k: (BENCH_METHODS.index(k[1]) if k[1] in BENCH_METHODS else 9,
                                 BENCH_OPS.index(k[2]) if k[2] in BENCH_OPS else 9, k[0]))
    for key in keys:
        n, method, op = key
        if op not in BENCH_OPS:
            continue
        b, p = rows['base'].get(key), rows['plain'].get(key)
        ratio = '-'
        if b and p and b['med'] and p['med'] and b['ret'] == p['ret']:
            ratio = f"{p['med'] / b['med']:.2f}"
        groups = (p or b)['groups']
        base = fmt_us(b, op)
        if method == 'devfd' and op != 'info':
            # 6.12 refuses any array of device fds up front
            base, ratio = 'EINVAL, no such proof' if b else '-', '-'
        out.append(f'| {method} | {op} | {n} | {groups} | {base} | {fmt_us(p, op)} | {ratio} |')
    out += ['', '| method | op | base growth | patched growth |', '|---|---|---|---|']
    for method in BENCH_METHODS[:-1]:
        for op in BENCH_OPS[:-1]:
            g = {kind: growth(rows, kind, method, op) for kind in ('base', 'plain')}
            if not any(g.values()):
                continue
            cell = {kind: (f'N^{v[0]:.2f} (N {v[1]}..{v[2]})' if v else '-')
                    for kind, v in g.items()}
            out.append(f"| {method} | {op} | {cell['base']} | {cell['plain']} |")
    return '\n'.join(out) + '\n'


def cmd_bench(args):
    names = args.scenarios.split(',') if args.scenarios else bench_scenarios()
    for n in names:
        if not os.path.exists(os.path.join(BENCH, n + '.scn')):
            raise Fail(f'no bench topology {n!r}; have: {", ".join(bench_scenarios())}')
    kernels = [Kernel('base'), Kernel('plain')]
    if not args.from_logs:
        stage_deps(args)
        stage_tree(args)
        stage_build(args, kernels)
    md = [f'Benchmark: {args.iters} timed calls per _INFO and refused reset, '
          f'{args.accepted} per accepted reset; medians (p10..p90 in out/bench-*/console.log). '
          f'Command: {shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}', '']
    if args.rounds > 1:
        md += [f'{args.rounds} boots per kernel, alternating: each cell is the smallest '
               'median of the boots, and (xS) the largest over the smallest.', '']
    for name in names:
        # one guest at a time, the base kernel first; with rounds, the
        # kernels alternate, so that a slow spell of the host hits both
        runs = {k.kind: [] for k in kernels}
        for rnd in range(1, args.rounds + 1):
            for k in kernels:
                runs[k.kind].append(bench_boot(name, k, args, rnd))
        rows = {kind: merge_rounds(r) for kind, r in runs.items()}
        md.append(bench_table(name, rows))
    text = '\n'.join(md)
    with open(os.path.join(OUT, 'bench.md'), 'w') as f:
        f.write(text)
    print()
    print(text)
    progress('bench', 'table written to out/bench.md')
    return True


# --- check: per-patch stages ------------------------------------------------

def patch_commits():
    return git('rev-list', '--reverse', f'{BASE_TAG}..{BRANCH}').split()


def stage_checkpatch(args):
    bad = []
    for p in series_patches():
        # Debian's python3 (spdxcheck.py needs its ply and git modules)
        # and codespell dictionary
        rc = sh(['perl', os.path.join(TREE, 'scripts/checkpatch.pl'), '--strict',
                 '--codespell', f'--codespellfile={CODESPELL_DICT}',
                 # new files are covered by MAINTAINERS' VFIO entry (patch
                 # "add hot reset selftests" lists the directory there)
                 '--ignore', 'FILE_PATH_CHANGES',
                 # the base is a tarball without mainline's history, so a
                 # Fixes: tag's commit cannot be looked up
                 '--ignore', 'UNKNOWN_COMMIT_ID',
                 '--color=never', p],
                log='checkpatch.log', cwd=TREE, check=False,
                env={'PATH': '/usr/bin:' + os.environ.get('PATH', '')})
        if rc:
            bad.append(os.path.basename(p))
    progress('checkpatch', f'{len(series_patches()) - len(bad)}/{len(series_patches())} clean'
             + (f"; not clean: {', '.join(bad)} (out/checkpatch.log)" if bad else ''))
    if bad:
        raise Fail('checkpatch --strict found problems')


def touched(commit):
    return git('diff-tree', '--no-commit-id', '--name-only', '-r', commit).split()


WARN_LINE = re.compile(r'^(\S+\.[ch]):\d+(?::\d+)?: (?:warning|error): (.*)$')


def checkout_at(wt, commit):
    sh(['git', '-C', wt, 'checkout', '-q', '--detach', '-f', commit], log='bisect.log')


def warnings_at(commit, wt, build, dirs, files):
    """W=1 and sparse (C=2) warnings in files, building dirs at commit.

    Returns a Counter of (file, message), line numbers left out, so that
    the warnings of a patch can be told from those its parent already had.
    """
    checkout_at(wt, commit)
    configure(build, tree=wt, log='bisect.log', extra=[BISECT_FRAGMENT])
    for f in files:
        # recompile what the patch touches, so gcc (or ccache) says its
        # warnings again; C=2 runs sparse on every file anyway
        obj = os.path.join(build, f[:-2] + '.o')
        if f.endswith('.c') and os.path.exists(obj):
            os.unlink(obj)
    with open(logpath('bisect.log')) as f:
        before = len(f.read())
    kmake(build, *dirs, log='bisect.log', tree=wt, extra=['W=1', 'C=2'])
    with open(logpath('bisect.log')) as f:
        out = f.read()[before:]
    found = collections.Counter()
    for line in out.splitlines():
        m = WARN_LINE.match(line.strip())
        if not m:
            continue
        path = m.group(1)
        for f in files:
            if path.endswith('/' + f) or path == f:
                found[(f, m.group(2))] += 1
    return found


def kerneldoc_at(commit, wt, hdrs):
    checkout_at(wt, commit)
    found = collections.Counter()
    for h in hdrs:
        if not os.path.exists(os.path.join(wt, h)):
            continue
        res = subprocess.run(['perl', 'scripts/kernel-doc', '-Wall', '-none', h],
                             cwd=wt, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        for line in res.stdout.splitlines():
            found[re.sub(r':\d+:', ':', line.strip())] += 1
    return found


def stage_bisect(args):
    """Build what each patch touches, at that patch and at its parent.

    Kernel directories with W=1 and sparse (C=2), touched uAPI headers with
    scripts/kernel-doc, the selftests where touched: any warning the patch
    adds in a file it touches fails it.
    """
    wt = os.path.join(CACHE, 'bisect-tree')
    build = os.path.join(CACHE, 'bisect-build')
    if not os.path.isdir(wt):
        git('worktree', 'prune', capture=False, log='bisect.log')
        git('worktree', 'add', '-f', '--detach', wt, BASE_TAG, capture=False, log='bisect.log')
    commits = patch_commits()
    bad = []
    for i, c in enumerate(commits, 1):
        subj = git('log', '-1', '--format=%s', c).strip()
        files = touched(c)
        kfiles = [f for f in files if re.search(r'\.[ch]$', f) and
                  not f.startswith(('tools/', 'Documentation/'))]
        kdirs = sorted({os.path.dirname(f) + '/' for f in kfiles if f.endswith('.c')})
        hdrs = [f for f in files if f.startswith('include/uapi/') and f.endswith('.h')]
        t = time.monotonic()
        what, new = [], []
        if kfiles:
            dirs = kdirs or ['drivers/vfio/']
            old = warnings_at(f'{c}^', wt, build, dirs, kfiles)
            cur = warnings_at(c, wt, build, dirs, kfiles)
            new += [f'{f}: {m}' for (f, m) in (cur - old)]
            what.append('W=1 C=2 ' + ' '.join(dirs))
        if hdrs:
            new += list(kerneldoc_at(c, wt, hdrs) - kerneldoc_at(f'{c}^', wt, hdrs))
            what.append('kernel-doc ' + ' '.join(hdrs))
        checkout_at(wt, c)
        if any(f.startswith(SELFTEST_DIR) for f in files):
            configure(build, tree=wt, log='bisect.log', extra=[BISECT_FRAGMENT])
            build_selftests(build, tree=wt, log='bisect.log')
            what.append('selftests')
        progress('bisect', f'[{i}/{len(commits)}] {subj[:60]}: '
                 f"{'; '.join(what) or 'nothing to build'} ({time.monotonic() - t:.0f}s)"
                 + (f': {len(new)} new warnings' if new else ''))
        for w in new[:10]:
            progress('bisect', f'  {w}')
        if new:
            bad.append(i)
    if bad:
        raise Fail(f"patches {', '.join(map(str, bad))} add warnings (out/bisect.log)")


# --- entry points -----------------------------------------------------------

def cmd_run(args, strict=False, checks=()):
    names = args.scenarios.split(',') if args.scenarios else all_scenarios()
    for n in names:
        if not os.path.exists(os.path.join(SCENARIOS, n + '.scn')):
            raise Fail(f'no scenario {n!r}; have: {", ".join(all_scenarios())}')
    stage_deps(args)
    stage_tree(args, strict=strict)
    kernels = stage_build(args, parse_kernels(args.kernels))
    results = stage_scenarios(names, kernels, args.jobs or len(names) * len(kernels))
    return summarize(results, checks)


def cmd_check(args):
    stage_deps(args)
    stage_tree(args, strict=True)
    stage_fresh(args)
    # A patch that fails checkpatch or its own build still gets booted:
    # one run tells everything that is wrong with the series.
    checks = []
    for name, stage in (('checkpatch', stage_checkpatch), ('bisect', stage_bisect)):
        try:
            stage(args)
            checks.append((name, True))
        except Fail as e:
            progress('FAILED', str(e))
            checks.append((name, False))
    return cmd_run(args, strict=True, checks=checks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    for name in ('deps', 'tree', 'export', 'build', 'run', 'shell', 'check', 'bench'):
        p = sub.add_parser(name)
        if name in ('run', 'check'):
            p.add_argument('--scenarios', help='comma-separated (default: all)')
            p.add_argument('-j', '--jobs', type=int,
                           help='guests booted at a time (default: all)')
        if name in ('run', 'check', 'shell'):
            p.add_argument('--seed', type=int, help='seed of the fuzz test (default: the clock)')
        if name in ('run', 'build'):
            p.add_argument('--kernels', default='plain',
                           help='comma-separated: plain, debug, base (default: plain)')
        if name == 'check':
            p.add_argument('--kernels', default='plain,debug',
                           help='comma-separated: plain, debug (default: both)')
        if name == 'bench':
            p.add_argument('--scenarios', help='comma-separated topologies of bench/ (default: all)')
            p.add_argument('--iters', type=int, default=101,
                           help='timed calls per _INFO and refused reset (default: 101)')
            p.add_argument('--accepted', type=int, default=5,
                           help='timed calls per accepted reset (default: 5)')
            p.add_argument('--rounds', type=int, default=1,
                           help='boots per kernel and topology (default: 1)')
            p.add_argument('--from-logs', action='store_true',
                           help='boot nothing: tabulate the consoles of the last run')
        if name == 'shell':
            p.add_argument('scenario')
            p.add_argument('--kernel', default='plain', help='plain or debug')
    args = ap.parse_args()
    global SEED
    if getattr(args, 'seed', None) is not None:
        SEED = args.seed
    # the logs of the last run only
    if os.path.isdir(OUT):
        for f in os.listdir(OUT):
            if f.endswith('.log'):
                os.unlink(os.path.join(OUT, f))
    progress('start', shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
             + f'  (cache: {CACHE})')
    if args.cmd in ('run', 'check'):
        argv = [a for a in sys.argv[1:] if not a.startswith('--seed')]
        progress('start', f'fuzz seed {SEED} (replay: {os.path.relpath(sys.argv[0])} '
                 f"{shlex.join(argv)} --seed {SEED})")
    try:
        if args.cmd == 'deps':
            stage_deps(args)
        elif args.cmd == 'tree':
            stage_tree(args)
        elif args.cmd == 'export':
            stage_export(args)
        elif args.cmd == 'build':
            stage_deps(args)
            stage_tree(args)
            stage_build(args, parse_kernels(args.kernels))
        elif args.cmd == 'shell':
            stage_deps(args)
            stage_tree(args)
            k, = stage_build(args, parse_kernels(args.kernel))
            boot(Scenario(args.scenario), k, shell=True)
        elif args.cmd == 'run':
            return 0 if cmd_run(args) else 1
        elif args.cmd == 'check':
            return 0 if cmd_check(args) else 1
        elif args.cmd == 'bench':
            return 0 if cmd_bench(args) else 1
    except Fail as e:
        progress('FAILED', str(e))
        print('\n0 passed, 1 failed, 0 skipped')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
