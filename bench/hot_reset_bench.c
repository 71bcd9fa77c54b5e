// SPDX-License-Identifier: GPL-2.0
/*
 * hot_reset_bench: time the vfio-pci hot reset ioctls per dev_set size and
 * per proof of ownership, on whatever kernel runs it.
 *
 * For every dev_set of devices bound to vfio-pci (not on a root bus), and
 * each method the devices can be opened for:
 *   group   the group API, group fds as proof
 *   zero    cdevs bound to one iommufd (or noiommu), zero-length array
 *   devfd   cdevs, bound device fds as proof, with
 *           VFIO_PCI_HOT_RESET_FLAG_DEVICE_FDS (new in the series; a base
 *           kernel refuses the flag with EINVAL)
 * it opens all N devices of the set, then times around the ioctl alone
 * (CLOCK_MONOTONIC, on the first device's fd):
 *   info      VFIO_DEVICE_GET_PCI_HOT_RESET_INFO
 *   refused   VFIO_DEVICE_PCI_HOT_RESET with the proof of the set's last
 *             device left out, so that the check walks the whole set
 *             (group: only with more than one group; devfd: N > 1)
 *   accepted  VFIO_DEVICE_PCI_HOT_RESET with the whole proof; the first
 *             one is checked to reset every device (the reset witness)
 * and, for a device alone on its bus, the PCI core's own bus reset of it
 * through sysfs (method "sysfs", op "bare"; reset_method set to "bus").
 * First, a calibration op that no patch changes, to compare boots: the
 * getppid() system call, timed in blocks of 100 (set=calib).
 * Each op gets untimed warm-up calls first; the answer of every timed call
 * must be the answer of the first one.
 *
 * Output, one line per set, method and op:
 *   bench: set=BDF n=N groups=G method=M op=O ret=R iters=K med=US p10=US p90=US
 * R is 0 or -errno; a method the kernel does not offer prints ret and no
 * times.  Usage: hot_reset_bench [iters [accepted_iters [first]]] (default
 * 101 5 0); first: the method timed first on every set (0 group, 1 zero,
 * 2 devfd; taken modulo 3), the others following in that order.  Under QEMU TCG the calls
 * on a set of 256 took up to twice as long for the methods timed after
 * another had opened and closed the set as for the first one, whatever
 * the method: the host rotates the first method over its rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hot_reset_lib.h"

/* built against the series' headers; the same binary runs on the bases */
#ifndef VFIO_PCI_HOT_RESET_FLAG_DEVICE_FDS
#define VFIO_PCI_HOT_RESET_FLAG_DEVICE_FDS (1 << 0)
#endif

#define WARMUP	5

static int iters = 101, accepted_iters = 5;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *prefix, const char *method, const char *op,
		   int ret, double *t, int k)
{
	printf("bench: %s method=%s op=%s ret=%d iters=%d", prefix, method, op,
	       ret, k);
	if (k > 0) {
		qsort(t, k, sizeof(*t), cmp_double);
		printf(" med=%.1f p10=%.1f p90=%.1f", t[k / 2], t[k / 10],
		       t[k - 1 - k / 10]);
	}
	printf("\n");
	fflush(stdout);
}

/* One op: warm up, then k timed calls that must all answer as the first. */
struct call {
	int fd;
	int kind;		/* 0: _INFO, 1: reset */
	unsigned int flags;	/* of the reset */
	const int *fds;
	unsigned int count;
};

static int do_call(const struct call *c)
{
	static struct hr_info info;

	if (!c->kind)
		return hr_get_info(c->fd, &info);
	return hr_hot_reset(c->fd, c->flags, c->fds, c->count);
}

static void time_op(const char *prefix, const char *method, const char *op,
		    const struct call *c, int warmup, int k)
{
	double *t = calloc(k, sizeof(*t));
	int i, ret, first;

	first = do_call(c);
	for (i = 1; i < warmup; i++)
		do_call(c);
	if (first == -ENOTTY || first == -EOPNOTSUPP || !t) {
		report(prefix, method, op, first, t, 0);
		free(t);
		return;
	}
	for (i = 0; i < k; i++) {
		double t0 = now_us();

		ret = do_call(c);
		t[i] = now_us() - t0;
		if (ret != first) {
			printf("bench: %s method=%s op=%s ret=%d then %d: unstable\n",
			       prefix, method, op, first, ret);
			free(t);
			return;
		}
	}
	report(prefix, method, op, first, t, k);
	free(t);
}

static void bench_method(const struct hr_dev *devs, const struct hr_set *set,
			 const char *prefix, const char *method)
{
	bool group = !strcmp(method, "group");
	bool devfd = !strcmp(method, "devfd");
	static const int bad_fd = -1;
	struct hr_opened op;
	struct call c = {};
	const int *proof;
	unsigned int n;
	int ret, r;

	ret = hr_open_set(devs, set, set->count, group, &op);
	if (ret) {
		report(prefix, method, "open", ret, NULL, 0);
		return;
	}
	c.fd = op.fds[0];
	time_op(prefix, method, "info", &c, WARMUP, iters);

	c.kind = 1;
	if (group) {
		proof = op.group_fds;
		n = op.ngroups;
	} else if (devfd) {
		/* the caller's own fd proves it: the others' are the proof */
		proof = op.fds + 1;
		n = op.count - 1;
		c.flags = VFIO_PCI_HOT_RESET_FLAG_DEVICE_FDS;
	} else {
		proof = NULL;
		n = 0;
	}
	/* the last device's group or fd left out; zero-length has none */
	if (n > (group ? 1 : 0)) {
		c.fds = proof;
		c.count = n - 1;
		time_op(prefix, method, "refused", &c, WARMUP, iters);
	}

	c.fds = proof;
	c.count = n;
	ret = hr_arm_set(devs, set, &op);
	r = ret ? ret : do_call(&c);
	if (!ret && !r) {
		r = hr_reset_count(devs, set, &op);
		if (r != (int)set->count)
			printf("bench: %s method=%s witness: %d of %u reset\n",
			       prefix, method, r, set->count);
	} else if (!ret && (!devfd ||
			    hr_hot_reset(c.fd, c.flags, &bad_fd, 1) != -EINVAL)) {
		/* (a base kernel refuses the flag: EINVAL, not EBADF) */
		printf("bench: %s method=%s witness: the whole proof refused, ret %d\n",
		       prefix, method, r);
	}
	time_op(prefix, method, "accepted", &c, 1, accepted_iters);
	hr_close_set(&op);
}

static int write_attr(const char *bdf, const char *attr, const char *val)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The PCI core's bus reset of a device alone on its bus, nothing open. */
static void bench_bare(const struct hr_dev *dev, const char *prefix)
{
	double *t = calloc(accepted_iters, sizeof(*t));
	int i, ret;

	ret = write_attr(dev->bdf, "reset_method", "bus");
	for (i = 0; !ret && i < accepted_iters + 1; i++) {
		double t0 = now_us();

		ret = write_attr(dev->bdf, "reset", "1");
		if (i)
			t[i - 1] = now_us() - t0;
	}
	report(prefix, "sysfs", "bare", ret, t, ret ? 0 : accepted_iters);
	write_attr(dev->bdf, "reset_method", "\n");
	free(t);
}

/*
 * Empty the reset methods of every device ("\n"), or give them back
 * ("default").  vfio-pci resets a device with its function reset when it
 * is opened and when it is closed, and every device is opened once to
 * learn its set and once per method; with FLR that is 100 ms or more
 * each time, most of a boot with hundreds of devices, and none of it
 * timed.  Without a method, vfio-pci leaves the reset to the bus reset it
 * does when a set's last device is closed.  No timed op is a function
 * reset: the hot reset is a slot or bus reset.
 */
static void set_reset_methods(const struct hr_dev *devs, int n,
			      const char *val)
{
	int i;

	for (i = 0; i < n; i++)
		write_attr(devs[i].bdf, "reset_method", val);
}

/* getppid() in blocks of 100 calls: the speed of this boot. */
static void bench_calib(void)
{
	double *t = calloc(iters, sizeof(*t));
	int i, j;

	for (i = 0; t && i < iters; i++) {
		double t0 = now_us();

		for (j = 0; j < 100; j++)
			getppid();
		t[i] = (now_us() - t0) / 100;
	}
	report("set=calib n=0 groups=0", "calib", "syscall", 0, t, t ? iters : 0);
	free(t);
}

int main(int argc, char **argv)
{
	static const char * const methods[] = { "group", "zero", "devfd" };
	static struct hr_dev devs[HR_MAX_DEVS];
	struct rlimit rl = { 8192, 8192 };
	struct hr_set set;
	char prefix[96];
	const unsigned int nr_methods = sizeof(methods) / sizeof(methods[0]);
	unsigned int m, first = 0;
	int n, i;

	if (argc > 1)
		iters = atoi(argv[1]);
	if (argc > 2)
		accepted_iters = atoi(argv[2]);
	if (argc > 3)
		first = strtoul(argv[3], NULL, 10) % nr_methods;
	/* a group, a container and a device fd per device */
	setrlimit(RLIMIT_NOFILE, &rl);

	n = hr_find_devices(devs, HR_MAX_DEVS);
	printf("bench: %d devices on vfio-pci, iters=%d accepted_iters=%d first=%s\n",
	       n, iters, accepted_iters, methods[first]);
	bench_calib();
	set_reset_methods(devs, n, "\n");
	for (i = 0; i < n; i++) {
		if (devs[i].root_bus || devs[i].is_vf ||
		    hr_get_set(devs, n, i, &set) || set.idx[0] != i)
			continue;
		snprintf(prefix, sizeof(prefix), "set=%.16s n=%u groups=%u",
			 devs[i].bdf, set.count, set.ngroups);
		for (m = 0; m < nr_methods; m++)
			bench_method(devs, &set, prefix, methods[(first + m) % nr_methods]);
		if (set.count == 1)
			bench_bare(&devs[i], prefix);
	}
	set_reset_methods(devs, n, "default");
	printf("bench: done\n");
	return 0;
}
