# SPDX-License-Identifier: GPL-2.0
"""The kernel side of vmtest: bases, series trees, builds, initramfs.

A Line is one series on its base: the mainline series on Linux 7.3
(mainline/) or its backport on 6.12.y (backport-6.12/).  Each has a pin
(base.pin), a kernel git tree in the cache made of one deterministic base
commit plus `git am` of its patches, and builds of its kernels.
"""

import hashlib
import os
import re
import shutil
import stat
import subprocess
import time

from vmtest_common import CACHE, REPO, Fail, progress, sh

SELFTEST_DIR = 'tools/testing/selftests/vfio'
BRANCH = 'series'
BASE_TAG = 'base'
JOBS = str(os.cpu_count() or 2)
FRAGMENT = os.path.join(REPO, 'config', 'guest.config')
DEBUG_FRAGMENT = os.path.join(REPO, 'config', 'debug.config')
BISECT_FRAGMENT = os.path.join(REPO, 'config', 'bisect.config')
BENCH = os.path.join(REPO, 'bench')

# bookworm-backports: QEMU 10; trixie-backports: linux-source-7.3.  Both are
# NotAutomatic: nothing installed comes from them unless asked for.
APT_SOURCES = '/etc/apt/sources.list.d/vfio-hotreset.sources'
APT_SOURCES_TEXT = """\
# vfio-hotreset (tools/vmtest_kernel.py): QEMU 10 from bookworm-backports,
# the 7.3 kernel source (downloaded, not installed) from trixie-backports
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
QEMU_SUITE = 'bookworm-backports'
QEMU_MIN = 10

APT_PACKAGES = {
    # command or file that proves the package is there -> package
    '/usr/share/qemu/qboot.rom': 'qemu-system-data',
    '/bin/busybox': 'busybox-static',
    'mmdebstrap': 'mmdebstrap',
    'ccache': 'ccache',
    'sparse': 'sparse',
    'flex': 'flex',
    'bison': 'bison',
    '/usr/include/libelf.h': 'libelf-dev',
    '/usr/include/openssl/ssl.h': 'libssl-dev',
    '/usr/include/uuid/uuid.h': 'uuid-dev',
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


def apt(*args, log='deps.log'):
    sh(['apt-get', *args], log=log, env={'DEBIAN_FRONTEND': 'noninteractive'})


def qemu_major():
    try:
        out = subprocess.run(['qemu-system-x86_64', '--version'], text=True,
                             capture_output=True).stdout
    except OSError:
        return 0
    m = re.search(r'version (\d+)\.', out)
    return int(m.group(1)) if m else 0


def stage_deps(args=None):
    """apt-get what is missing; QEMU 10 from bookworm-backports."""
    missing = sorted({pkg for probe, pkg in APT_PACKAGES.items()
                      if not (os.path.exists(probe) if probe.startswith('/')
                              else shutil.which(probe))})
    old_qemu = qemu_major() < QEMU_MIN
    need_sources = not os.path.exists(APT_SOURCES)
    if not missing and not old_qemu and not need_sources:
        progress('deps', f'all installed (QEMU {qemu_major()})')
        return
    if need_sources:
        progress('deps', f'adding {APT_SOURCES} (backports, NotAutomatic)')
        with open(APT_SOURCES, 'w') as f:
            f.write(APT_SOURCES_TEXT)
    apt('update', '-q')
    if missing:
        progress('deps', 'apt-get install ' + ' '.join(missing))
        apt('install', '-y', '-q', '--no-install-recommends', *missing)
    if old_qemu:
        progress('deps', f'apt-get install -t {QEMU_SUITE} qemu-system-x86')
        apt('install', '-y', '-q', '--no-install-recommends', '-t', QEMU_SUITE,
            'qemu-system-x86', 'qemu-system-data')


# --- lines: a series on its base ---------------------------------------------

def read_pin(path):
    pin = {}
    with open(path) as f:
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


class Line:
    """One series on its pinned base: mainline/ or backport-6.12/."""

    def __init__(self, folder, prefix):
        self.folder = os.path.join(REPO, folder)
        self.name = folder
        self.pin = read_pin(os.path.join(self.folder, 'base.pin'))
        # '7.3', '6.12': what tables and kernel names say
        self.version = '.'.join(self.pin['kernelversion'].split('.')[:2])
        self.patches_dir = os.path.join(self.folder, 'patches')
        self.cover = os.path.join(self.folder, 'cover-letter.txt')
        self.prefix = prefix
        self.tree = os.path.join(CACHE, f'linux-{self.version}')
        self.log = f'tree-{self.version}.log'

    def patches(self):
        if not os.path.isdir(self.patches_dir):
            return []
        return sorted(os.path.join(self.patches_dir, p) for p in os.listdir(self.patches_dir)
                      if p.endswith('.patch') and not p.startswith('0000-'))

    def git(self, *args, capture=True, **kw):
        return sh(['git', '-C', self.tree] + list(args), capture=capture, **kw)

    def stamp(self, what):
        return os.path.join(CACHE, f'{what}-{self.version}.stamp')


# the subject prefix carries the version of each series
LINES = {'7.3': ('mainline', 'PATCH v6'), '6.12': ('backport-6.12', 'PATCH 6.12.y v9')}
# The line whose tree the selftests are built from, once, for every kernel:
# kselftests run from a newer tree against an older kernel
TEST_LINE = '7.3'


def lines(names=None):
    return [Line(*LINES[n]) for n in (names or LINES)]


def line_of(version):
    if version not in LINES:
        raise Fail(f'no series for {version!r}; have: {", ".join(LINES)}')
    return Line(*LINES[version])


# --- base and tree ----------------------------------------------------------

def fetch_base(line):
    """The base tarball from the pinned .deb: (path, version served)."""
    pin = line.pin
    debs = os.path.join(CACHE, 'debs')
    os.makedirs(debs, exist_ok=True)
    ver = pin['version']
    tarball = os.path.join(debs, f"{pin['package']}_{ver}.tar.xz")
    if os.path.exists(tarball):
        return tarball, ver
    res = subprocess.run(['apt-get', 'download', f"{pin['package']}={ver}"], cwd=debs,
                         capture_output=True, text=True)
    if res.returncode:
        cand = subprocess.run(['apt-cache', 'policy', pin['package']], capture_output=True,
                              text=True).stdout
        m = re.search(r'Candidate: (\S+)', cand)
        if not m or m.group(1) == '(none)':
            raise Fail(f"apt serves no {pin['package']}: {res.stderr.strip()}")
        ver = m.group(1)
        progress('base', f"WARNING: apt no longer serves {pin['package']} {pin['version']}; "
                 f'taking {ver}')
        tarball = os.path.join(debs, f"{pin['package']}_{ver}.tar.xz")
        if os.path.exists(tarball):
            return tarball, ver
        sh(['apt-get', 'download', f"{pin['package']}={ver}"], cwd=debs, log='deps.log')
    deb = [p for p in os.listdir(debs) if p.startswith(pin['package'] + '_')
           and p.endswith('.deb') and ver.replace(':', '%3a') in p]
    if not deb:
        raise Fail(f"apt-get download left no {pin['package']} .deb in {debs}")
    with open(tarball + '.tmp', 'wb') as out:
        fsys = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', os.path.join(debs, deb[0])],
                                stdout=subprocess.PIPE)
        subprocess.run(['tar', '-xO', './' + pin['tarball']], stdin=fsys.stdout,
                       stdout=out, check=True)
        if fsys.wait():
            raise Fail(f'dpkg-deb could not read {deb[0]}')
    os.replace(tarball + '.tmp', tarball)
    os.unlink(os.path.join(debs, deb[0]))
    return tarball, ver


def stage_base(line):
    """Unpack the pinned base into line.tree as one deterministic commit."""
    pin = line.pin
    tarball, ver = fetch_base(line)
    want = f"{pin['package']}={ver}"
    stamp = line.stamp('base')
    if os.path.exists(stamp) and open(stamp).read().strip() == want and \
            os.path.isdir(os.path.join(line.tree, '.git')):
        progress('base', f'{line.version}: {want} (cached)')
        return
    with open(tarball, 'rb') as f:
        digest = hashlib.file_digest(f, 'sha256').hexdigest()
    if ver == pin['version'] and digest != pin['sha256']:
        raise Fail(f"{tarball}: sha256 {digest} != pinned {pin['sha256']}")
    progress('base', f'{line.version}: unpacking {want} into {line.tree}')
    if os.path.exists(line.tree):
        shutil.rmtree(line.tree)
    os.makedirs(line.tree)
    sh(['tar', '-xJf', tarball, '-C', line.tree, '--strip-components=1'], log=line.log)
    kv = sh(['make', '-s', '-C', line.tree, 'kernelversion'], capture=True).strip()
    if ver == pin['version'] and kv != pin['kernelversion']:
        raise Fail(f"kernel version {kv} != pinned {pin['kernelversion']}")
    # A deterministic base commit: the same tarball gives the same hash on
    # every machine, so base-commit: in the cover letter means something.
    ident = {'GIT_AUTHOR_NAME': 'Debian', 'GIT_AUTHOR_EMAIL': 'debian-kernel@lists.debian.org',
             'GIT_COMMITTER_NAME': 'Debian',
             'GIT_COMMITTER_EMAIL': 'debian-kernel@lists.debian.org',
             'GIT_AUTHOR_DATE': '@0 +0000', 'GIT_COMMITTER_DATE': '@0 +0000'}
    line.git('init', '-q', '-b', BRANCH, capture=False, log=line.log)
    line.git('config', 'core.abbrev', '12', capture=False, log=line.log)
    # Debian's top-level .gitignore ignores everything: add by force.
    line.git('add', '-f', '-A', '.', capture=False, log=line.log)
    line.git('commit', '-q', '--no-verify', '-m', f'{want} (Linux {kv})',
             capture=False, log=line.log, env=ident)
    line.git('tag', BASE_TAG, capture=False, log=line.log)
    with open(stamp, 'w') as f:
        f.write(want + '\n')
    if os.path.exists(line.stamp('tree')):
        os.unlink(line.stamp('tree'))
    progress('base', f"{line.version}: base commit "
             f"{line.git('rev-parse', '--short', 'HEAD').strip()}")


def tree_state(line):
    """(series hash, tree HEAD) recorded at the last apply or export."""
    try:
        with open(line.stamp('tree')) as f:
            sh_, head = f.read().split()
            return sh_, head
    except (OSError, ValueError):
        return None, None


def write_tree_stamp(line):
    with open(line.stamp('tree'), 'w') as f:
        f.write(f"{file_hash(line.patches())} {line.git('rev-parse', 'HEAD').strip()}\n")


def tree_dirty(line):
    return line.git('status', '--porcelain', '--untracked-files=no').strip() != ''


def stage_tree(line, strict=False):
    """Make sure line.tree holds base + the line's patches.

    The patches changed since the last apply (a pull) and the tree holds no
    unexported work: re-apply.  The tree holds unexported commits or edits:
    keep it (run tests it as is), but a strict caller (check) fails, since
    it must test what the repository says.
    """
    stage_base(line)
    patches = line.patches()
    stamped_series, stamped_head = tree_state(line)
    head = line.git('rev-parse', 'HEAD').strip()
    cur = file_hash(patches)
    rel = os.path.relpath(line.patches_dir, REPO)
    if stamped_series == cur and stamped_head == head and not tree_dirty(line):
        progress('tree', f'{line.version}: {len(patches)} patches, up to date')
        return
    if stamped_series is not None and stamped_series == cur:
        msg = (f'{line.tree} has commits or edits that {rel}/ lacks '
               f'(export them: make export)')
        if strict:
            raise Fail(msg)
        progress('tree', f'{line.version}: WARNING: ' + msg + '; testing the tree as it is')
        return
    if stamped_head is not None and (stamped_head != head or tree_dirty(line)):
        raise Fail(f'{rel}/ changed and {line.tree} has unexported work; resolve by hand')
    progress('tree', f'{line.version}: git am {len(patches)} patches onto {BASE_TAG}')
    line.git('checkout', '-q', '-f', '-B', BRANCH, BASE_TAG, capture=False, log=line.log)
    if patches:
        env = {'GIT_COMMITTER_NAME': 'vmtest', 'GIT_COMMITTER_EMAIL': 'vmtest@localhost'}
        rc = line.git('am', '-q', '--committer-date-is-author-date', *patches,
                      capture=False, log=line.log, check=False, env=env)
        if rc:
            line.git('am', '--abort', capture=False, log=line.log, check=False)
            raise Fail(f'{rel}/ does not apply to {line.pin["package"]}, see out/{line.log}')
    write_tree_stamp(line)


def format_patches(line, outdir):
    with open(line.cover) as f:
        desc = f.read()
    line.git('config', f'branch.{BRANCH}.description', desc, capture=False, log='export.log')
    for p in os.listdir(outdir) if os.path.isdir(outdir) else []:
        if p.endswith('.patch'):
            os.unlink(os.path.join(outdir, p))
    line.git('format-patch', '-q', '--cover-letter', '--cover-from-description=subject',
             f'--subject-prefix={line.prefix}', '-n', f'--base={BASE_TAG}', '--no-signature',
             '-o', outdir, f'{BASE_TAG}..{BRANCH}', capture=False, log='export.log')


def stage_export(line):
    stage_base(line)
    if tree_dirty(line):
        raise Fail(f'{line.tree} has uncommitted changes: commit them first')
    format_patches(line, line.patches_dir)
    write_tree_stamp(line)
    progress('export', f'{line.version}: {len(line.patches())} patches written to '
             f'{os.path.relpath(line.patches_dir, REPO)}/')


def patch_text(p):
    """A patch without the lines that change when it is only re-applied."""
    with open(p) as f:
        text = f.read().splitlines()
    return [t for t in text[1:] if not re.match(r'^(\d+\.\d+\.\d+|Date: .*)$', t)]


def stage_fresh(line):
    """The line's patches must be exactly what its tree exports."""
    tmp = os.path.join(CACHE, f'export-check-{line.version}')
    os.makedirs(tmp, exist_ok=True)
    format_patches(line, tmp)
    mine = sorted(os.listdir(tmp))
    theirs = sorted(p for p in os.listdir(line.patches_dir) if p.endswith('.patch'))
    if mine != theirs or any(patch_text(os.path.join(tmp, p)) !=
                             patch_text(os.path.join(line.patches_dir, p)) for p in mine):
        raise Fail(f'{os.path.relpath(line.patches_dir, REPO)}/ is not what {line.tree} '
                   'exports: run make export (and never edit a patch by hand)')
    progress('fresh', f'{line.version}: patches match the kernel tree')


# --- build ------------------------------------------------------------------

def kenv():
    return {'CCACHE_DIR': os.path.join(CACHE, 'ccache'),
            'CCACHE_BASEDIR': CACHE,
            'KBUILD_BUILD_TIMESTAMP': 'Thu Jan  1 00:00:00 UTC 1970',
            'KBUILD_BUILD_USER': 'vmtest', 'KBUILD_BUILD_HOST': 'vmtest'}


def kmake(build, *targets, log, tree, extra=()):
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


def selftest_config():
    """The selftests' config fragment, from the tree they are built from."""
    return os.path.join(line_of(TEST_LINE).tree, SELFTEST_DIR, 'config')


def config_fragments():
    """config/guest.config and the selftests' config."""
    return [FRAGMENT, selftest_config()]


def configure(build, tree, log, extra=()):
    frags = config_fragments() + list(extra)
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


def build_selftests(build, tree, log):
    """The tree's vfio selftests, static, against the build's uAPI headers."""
    kmake(build, 'headers', log=log, tree=tree)
    out = os.path.join(build, 'kselftest', 'vfio')
    os.makedirs(out, exist_ok=True)
    sh(['make', '-C', os.path.join(tree, SELFTEST_DIR), f'OUTPUT={out}',
        f"KHDR_INCLUDES=-isystem {build}/usr/include", f'-j{JOBS}'],
       log=log, env={'LDFLAGS': '-static', 'CFLAGS': '-Werror',
                     'CCACHE_DIR': os.path.join(CACHE, 'ccache')})
    return out


def build_bench(build, log):
    """The benchmark (bench/), against the uAPI headers of build."""
    out = os.path.join(build, 'bench', 'hot_reset_bench')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    sh(['gcc', '-static', '-O2', '-Wall', '-Werror', f'-I{BENCH}',
        '-isystem', os.path.join(build, 'usr/include'),
        os.path.join(BENCH, 'hot_reset_bench.c'),
        os.path.join(BENCH, 'hot_reset_lib.c'), '-o', out], log=log)
    return out


def selftest_programs(outdir):
    return [os.path.join(outdir, p) for p in sorted(os.listdir(outdir))
            if p.endswith('_test') and os.path.isfile(os.path.join(outdir, p))
            and os.access(os.path.join(outdir, p), os.X_OK)]


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


def build_initramfs(path, progs, bench):
    """busybox, guest/init, the test programs, the benchmark."""
    entries = []
    dirs = ['bin', 'dev', 'proc', 'sys', 'tmp', 'tests', 'bench', 'etc', 'sbin',
            'usr', 'usr/bin', 'usr/sbin', 'root']
    for d in dirs:
        entries.append((d, stat.S_IFDIR | 0o755, b''))
    entries.append(('dev/console', stat.S_IFCHR | 0o600, b''))

    def add(name, host, mode=0o755):
        with open(host, 'rb') as f:
            entries.append((name, stat.S_IFREG | mode, f.read()))
    add('bin/busybox', '/bin/busybox')
    entries.append(('bin/sh', stat.S_IFLNK | 0o777, b'busybox'))
    add('init', os.path.join(REPO, 'guest', 'init'))
    for p in progs:
        add(f'tests/{os.path.basename(p)}', p)
    if bench:
        add('bench/hot_reset_bench', bench)
    cpio_newc(entries, path)
    return path


# The clients (clients/) and what they run: the host's QEMU with the
# shared libraries it loads and its firmware.  They go into an archive of
# their own, appended to the initramfs for the scenarios that name them
# (scenario key "clients"): the other guests boot without its 60 MB.
CLIENTS = os.path.join(REPO, 'clients')
GUEST_QEMU = '/usr/bin/qemu-system-x86_64'
GUEST_QEMU_DATA = ['/usr/share/qemu/qboot.rom', '/usr/share/qemu/kvmvapic.bin']
INITRD_WITH_CLIENTS = os.path.join(CACHE, 'initramfs-clients.cpio')


def shared_libraries(*binaries, root=None):
    """The files ldd says the binaries load (the dynamic loader included);
    with root, of binaries in that rootfs, by its own ldd."""
    out = subprocess.run((['chroot', root] if root else []) + ['ldd', *binaries],
                         capture_output=True, text=True, check=True).stdout
    # "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or
    # "/lib64/ld-linux-x86-64.so.2 (0x...)"
    return [m.group(1) for m in re.finditer(r'(/\S+) \(0x', out)]


# DPDK as a client: Debian's (trixie) needs a newer libc than the host's,
# so it comes from a minimal rootfs made with mmdebstrap, of which the
# guest gets dpdk-testpmd, the shared libraries it and three of its
# drivers load (PCI bus, ring mempool, e1000/igb/igbvf), in /dpdk, run by
# chroot (clients/dpdk_client).
DPDK_SUITE = 'trixie'
DPDK_PACKAGES = ['dpdk-dev', 'librte-net-e1000-25', 'librte-mempool-ring25']
DPDK_ROOTFS = os.path.join(CACHE, 'dpdk-rootfs')
DPDK_LIBDIR = 'usr/lib/x86_64-linux-gnu'
DPDK_PMDS = ['librte_bus_pci.so', 'librte_mempool_ring.so', 'librte_net_e1000.so']


def dpdk_rootfs(log):
    """The cached rootfs, made once (about 30 s and 420 MB)."""
    testpmd = os.path.join(DPDK_ROOTFS, 'usr/bin/dpdk-testpmd')
    if not os.path.exists(testpmd):
        shutil.rmtree(DPDK_ROOTFS, ignore_errors=True)
        progress('dpdk', f'mmdebstrap {DPDK_SUITE} + {" ".join(DPDK_PACKAGES)} '
                 f'(log: out/{log})')
        sh(['mmdebstrap', '--variant=apt', '--include=' + ','.join(DPDK_PACKAGES),
            DPDK_SUITE, DPDK_ROOTFS], log=log)
    return DPDK_ROOTFS


def dpdk_files(log):
    """The DPDK the guest gets: [(path in the guest, host file)] and
    [(path in the guest, symlink target)], the rootfs's links kept: a
    library reached by two names that are not one file would be loaded
    twice (and DPDK's drivers panic then)."""
    root = dpdk_rootfs(log)
    plugdir = [d for d in os.listdir(os.path.join(root, DPDK_LIBDIR, 'dpdk'))
               if d.startswith('pmds-')][0]
    # EAL loads the drivers of its plugin directory whose names end in .so
    pmds = [f'/{DPDK_LIBDIR}/dpdk/{plugdir}/{p}' for p in DPDK_PMDS]
    want = ['/usr/bin/dpdk-testpmd'] + pmds
    want += shared_libraries(*want, root=root)
    files, links = {}, {'dpdk/lib': 'usr/lib', 'dpdk/lib64': 'usr/lib64'}
    for f in want:
        # merged /usr, as in the rootfs: /lib and /lib64 are links into /usr
        f = re.sub(r'^/(lib|lib64)/', r'/usr/\1/', f)
        while os.path.islink(root + f):
            target = os.readlink(root + f)
            links['dpdk' + f] = target
            f = os.path.normpath(os.path.join(os.path.dirname(f), target))
        files['dpdk' + f] = root + f
    return sorted(files.items()), sorted(links.items())


def build_client_tool(build, log):
    """clients/vfio_client_tool.c, against the uAPI headers of build."""
    out = os.path.join(build, 'clients', 'vfio_client_tool')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    sh(['gcc', '-static', '-O2', '-Wall', '-Werror',
        '-isystem', os.path.join(build, 'usr/include'),
        os.path.join(CLIENTS, 'vfio_client_tool.c'), '-o', out], log=log)
    return out


def build_clients_archive(path, tool, log):
    """/clients (scripts, their library and the tool), the host's QEMU and /dpdk, as a cpio
    archive to append to the initramfs."""
    files = [(f.lstrip('/'), os.path.realpath(f))
             for f in [GUEST_QEMU] + GUEST_QEMU_DATA + shared_libraries(GUEST_QEMU)]
    dpdk, links = dpdk_files(log)
    files += dpdk
    dirs, entries = ['clients', 'dpdk/dev', 'dpdk/sys', 'dpdk/proc', 'dpdk/tmp'], []
    for name, _ in files + links:
        d = os.path.dirname(name)
        while d and d not in dirs:
            dirs.append(d)
            d = os.path.dirname(d)
    for d in sorted(dirs, key=lambda d: d.count('/')):
        entries.append((d, stat.S_IFDIR | 0o755, b''))

    def add(name, host):
        with open(host, 'rb') as f:
            entries.append((name, stat.S_IFREG | 0o755, f.read()))
    for name, host in files:
        add(name, host)
    for name, target in links:
        entries.append((name, stat.S_IFLNK | 0o777, target.encode()))
    for c in sorted(os.listdir(CLIENTS)):
        if c.endswith('_client') or c.endswith('.sh'):
            add(f'clients/{c}', os.path.join(CLIENTS, c))
    add('clients/vfio_client_tool', tool)
    cpio_newc(entries, path)
    return path


class Kernel:
    """One guest kernel of a line: plain, debug (config/debug.config) or
    base (the line's base commit without the series, for comparisons).

    Its name is the line's version plus the kind: '7.3', '7.3-debug',
    '6.12', '6.12-base'.  All kernels boot one initramfs, with the
    selftests of the TEST_LINE's tree.  The debug kernel's guests get more time and
    memory, panic_on_warn and a kmemleak scan at the end (guest/init).
    """
    KINDS = ('plain', 'debug', 'base')

    def __init__(self, line, kind):
        self.line, self.kind = line, kind
        self.name = line.version + ('' if kind == 'plain' else '-' + kind)
        self.build = os.path.join(CACHE, 'build-' + self.name)
        self.tree = os.path.join(CACHE, f'base-tree-{line.version}') if kind == 'base' \
            else line.tree
        self.extra = {'plain': [], 'debug': [DEBUG_FRAGMENT], 'base': []}[kind]
        self.log = f'build-{self.name}.log'
        self.bzimage = os.path.join(self.build, 'arch/x86/boot/bzImage')
        self.initrd = None
        # KASAN, lockdep and kmemleak under TCG, and the longer fault,
        # fuzz and stress runs of the debug guests
        self.slowdown = 5 if kind == 'debug' else 1
        self.memory = '1G' if kind == 'debug' else None
        self.cmdline = ['panic_on_warn=1', 'vmtest.debug=1'] if kind == 'debug' else []

    def prepare(self):
        """The base kernel's tree: a worktree of the base commit."""
        if self.kind == 'base' and not os.path.isdir(self.tree):
            self.line.git('worktree', 'prune', capture=False, log=self.log)
            self.line.git('worktree', 'add', '-f', '--detach', self.tree, BASE_TAG,
                          capture=False, log=self.log)


def parse_kernels(arg):
    """'7.3,6.12-debug' -> [Kernel]"""
    kernels = []
    for name in arg.split(','):
        version, _, kind = name.partition('-')
        kind = kind or 'plain'
        if kind not in Kernel.KINDS:
            raise Fail(f'no kernel kind {kind!r} in {name!r}; have: {", ".join(Kernel.KINDS)}')
        kernels.append(Kernel(line_of(version), kind))
    return kernels


def stage_build(kernels, clients=False):
    """Build each kernel, then the selftests and the initramfs they all boot
    (with clients, the initramfs with the clients too)."""
    for k in kernels:
        k.prepare()
        progress('config', f'{k.name}: allnoconfig + ' + ' + '.join(
            os.path.relpath(f, REPO) if f.startswith(REPO) else
            os.path.relpath(f, CACHE) for f in config_fragments() + k.extra))
        configure(k.build, tree=k.tree, log=k.log, extra=k.extra)
        t = time.monotonic()
        progress('kernel', f'{k.name}: make bzImage (log: out/{k.log})')
        kmake(k.build, 'bzImage', log=k.log, tree=k.tree)
        progress('kernel', f'{k.name}: done in {time.monotonic() - t:.1f}s')
    initrd = stage_initramfs(clients)
    for k in kernels:
        k.initrd = initrd
    return kernels


def stage_initramfs(clients=False):
    """The selftests of the TEST_LINE's tree, built once, in one initramfs;
    with clients, also that initramfs with the clients archive appended."""
    line = line_of(TEST_LINE)
    build = os.path.join(CACHE, 'build-' + line.version)
    log = f'build-{line.version}.log'
    if not os.path.exists(os.path.join(build, '.config')):
        configure(build, tree=line.tree, log=log)
    progs = selftest_programs(build_selftests(build, line.tree, log))
    if not progs:
        raise Fail(f'no selftests were built from {line.tree}/{SELFTEST_DIR}')
    initrd = build_initramfs(os.path.join(CACHE, 'initramfs.cpio'), progs,
                             build_bench(build, log))
    progress('initramfs', f'{len(progs)} test programs from {line.name}/ ({line.version}), '
             f'{os.path.getsize(initrd) >> 10} KiB, for every kernel')
    if clients:
        archive = build_clients_archive(os.path.join(CACHE, 'clients.cpio'),
                                        build_client_tool(build, log), log)
        with open(INITRD_WITH_CLIENTS, 'wb') as out:
            for part in (initrd, archive):
                with open(part, 'rb') as f:
                    shutil.copyfileobj(f, out)
        progress('initramfs', f'clients/, {GUEST_QEMU} and DPDK: '
                 f'+{os.path.getsize(archive) >> 10} KiB, for the scenarios with clients')
    return initrd
