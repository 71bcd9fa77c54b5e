// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers for the vfio-pci hot reset selftests.  See hot_reset_lib.h.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>

#include "hot_reset_lib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define VFIO_PCI_DRV	"/sys/bus/pci/drivers/vfio-pci"
#define PCI_DEVICES	"/sys/bus/pci/devices"

static int read_hex(const char *bdf, const char *attr, unsigned int *val)
{
	char path[PATH_MAX];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ret = fscanf(f, "%x", val) == 1 ? 0 : -EINVAL;
	fclose(f);
	return ret;
}

static int fill_dev(struct hr_dev *dev, const char *bdf)
{
	unsigned int seg, bus, slot, fn, val;
	char path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	ssize_t len;
	DIR *dir;

	memset(dev, 0, sizeof(*dev));
	snprintf(dev->bdf, sizeof(dev->bdf), "%s", bdf);
	if (sscanf(bdf, "%x:%x:%x.%x", &seg, &bus, &slot, &fn) != 4)
		return -EINVAL;
	dev->segment = seg;
	dev->bus = bus;
	dev->devfn = (slot << 3) | fn;
	if (!read_hex(bdf, "vendor", &val))
		dev->vendor = val;
	if (!read_hex(bdf, "device", &val))
		dev->device = val;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/physfn", bdf);
	dev->is_vf = !access(path, F_OK);

	/* a device on a root bus sits right below "pciSSSS:BB" */
	snprintf(path, sizeof(path), PCI_DEVICES "/%s", bdf);
	if (realpath(path, link))
		dev->root_bus = !strncmp(basename(dirname(link)), "pci", 3);

	dev->group_id = -1;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/iommu_group", bdf);
	len = readlink(path, link, sizeof(link) - 1);
	if (len > 0) {
		char name[PATH_MAX];

		link[len] = '\0';
		dev->group_id = atoi(basename(link));
		snprintf(name, sizeof(name), "/dev/vfio/noiommu-%d",
			 dev->group_id);
		dev->noiommu = !access(name, F_OK);
	}

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		/* vfioN, or noiommu-vfioN for a noiommu device */
		if (strncmp(de->d_name, "vfio", 4) &&
		    strncmp(de->d_name, "noiommu-vfio", 12))
			continue;
		/* 6.12 registers noiommu devices without a device node */
		snprintf(path, sizeof(path), "/dev/vfio/devices/%s",
			 de->d_name);
		if (!access(path, F_OK))
			snprintf(dev->cdev, sizeof(dev->cdev), "%.31s",
				 de->d_name);
		break;
	}
	closedir(dir);
	return 0;
}

static int cmp_dev(const void *a, const void *b)
{
	const struct hr_dev *x = a, *y = b;

	if (x->segment != y->segment)
		return x->segment - y->segment;
	if (x->bus != y->bus)
		return x->bus - y->bus;
	return x->devfn - y->devfn;
}

int hr_find_devices(struct hr_dev *devs, int max)
{
	struct dirent *de;
	DIR *dir;
	int n = 0;

	dir = opendir(VFIO_PCI_DRV);
	if (!dir)
		return 0;
	while ((de = readdir(dir)) && n < max) {
		/* the driver's directory also holds bind, unbind, ... */
		if (!fill_dev(&devs[n], de->d_name))
			n++;
	}
	closedir(dir);
	qsort(devs, n, sizeof(*devs), cmp_dev);
	return n;
}

int hr_dev_index(const struct hr_dev *devs, int n, uint16_t segment,
		 uint8_t bus, uint8_t devfn)
{
	int i;

	for (i = 0; i < n; i++)
		if (devs[i].segment == segment && devs[i].bus == bus &&
		    devs[i].devfn == devfn)
			return i;
	return -1;
}

static int learn_set(const struct hr_dev *devs, int n, int i,
		     struct hr_set *set)
{
	struct hr_info info;
	struct hr_group grp;
	int fd, iommufd = -1, ret;
	unsigned int j, k;

	memset(set, 0, sizeof(*set));
	grp.group = -1;
	grp.container = -1;
	ret = devs[i].group_id >= 0 ? hr_group_open(&devs[i], &grp) : -ENOENT;
	if (ret && ret != -ENOENT)
		return ret;
	if (!ret) {
		fd = hr_group_device(&grp, &devs[i]);
	} else {
		/* no group node (CONFIG_VFIO_GROUP=n): ask through the cdev */
		iommufd = hr_iommufd_open();
		if (iommufd < 0)
			return iommufd;
		fd = hr_cdev_open(&devs[i]);
		if (fd >= 0) {
			ret = hr_cdev_bind(fd, iommufd, NULL);
			if (ret) {
				close(fd);
				fd = ret;
			}
		}
	}
	ret = fd < 0 ? fd : hr_get_info(fd, &info);
	if (fd >= 0)
		close(fd);
	if (iommufd >= 0)
		close(iommufd);
	else
		hr_group_close(&grp);
	if (ret)
		return ret;

	set->count = info.hdr.count;
	for (j = 0; j < set->count; j++) {
		struct vfio_pci_dependent_device *d = &info.devices[j];
		int gid;

		set->idx[j] = hr_dev_index(devs, n, d->segment, d->bus,
					   d->devfn);
		gid = set->idx[j] >= 0 ? devs[set->idx[j]].group_id : -1;
		if (gid < 0)
			continue;
		for (k = 0; k < set->ngroups; k++)
			if (set->group_ids[k] == gid)
				break;
		if (k == set->ngroups)
			set->group_ids[set->ngroups++] = gid;
	}
	return 0;
}

/*
 * A device's affected set does not change while the program runs, it is
 * the same for every device on the same bus (its slot or its bus), and
 * learning it costs a device open and close, so a reset: remember it
 * for each of them.
 */
static struct {
	char bdf[16];
	int ret;
	struct hr_set set;
} set_cache[HR_MAX_DEVS];
static int set_cache_n;

static void cache_set(const char *bdf, int ret, const struct hr_set *set)
{
	if (set_cache_n == HR_MAX_DEVS)
		return;
	memcpy(set_cache[set_cache_n].bdf, bdf, sizeof(set_cache[0].bdf));
	set_cache[set_cache_n].ret = ret;
	set_cache[set_cache_n].set = *set;
	set_cache_n++;
}

int hr_get_set(const struct hr_dev *devs, int n, int i, struct hr_set *set)
{
	int k, ret;

	for (k = 0; k < set_cache_n; k++) {
		if (!strcmp(set_cache[k].bdf, devs[i].bdf)) {
			*set = set_cache[k].set;
			return set_cache[k].ret;
		}
	}
	ret = learn_set(devs, n, i, set);
	cache_set(devs[i].bdf, ret, set);
	for (k = 0; !ret && k < (int)set->count; k++) {
		int j = set->idx[k];

		if (j >= 0 && j != i && devs[j].segment == devs[i].segment &&
		    devs[j].bus == devs[i].bus)
			cache_set(devs[j].bdf, ret, set);
	}
	return ret;
}

int hr_open_set(const struct hr_dev *devs, const struct hr_set *set,
		unsigned int count, bool group, struct hr_opened *op)
{
	int gids[HR_MAX_DEVS], ret = 0;
	unsigned int j, k;

	memset(op, 0, sizeof(*op));
	op->iommufd = -1;
	for (j = 0; j < HR_MAX_DEVS; j++) {
		op->fds[j] = -1;
		op->grps[j].group = -1;
		op->grps[j].container = -1;
	}
	for (j = 0; j < count && j < set->count; j++) {
		const struct hr_dev *d = &devs[set->idx[j]];
		int fd;

		if (group) {
			for (k = 0; k < op->ngroups; k++)
				if (gids[k] == d->group_id)
					break;
			if (k == op->ngroups) {
				ret = hr_group_open(d, &op->grps[k]);
				if (ret)
					break;
				gids[k] = d->group_id;
				op->group_fds[op->ngroups++] = op->grps[k].group;
			}
			fd = hr_group_device(&op->grps[k], d);
		} else {
			if (op->iommufd < 0) {
				op->iommufd = hr_iommufd_open();
				if (op->iommufd < 0) {
					ret = op->iommufd;
					break;
				}
			}
			fd = hr_cdev_open(d);
			if (fd >= 0) {
				/* no-IOMMU cdevs too: 7.3 binds them to an iommufd */
				ret = hr_cdev_bind(fd, op->iommufd, NULL);
				if (ret) {
					close(fd);
					fd = ret;
				}
			}
		}
		if (fd < 0) {
			ret = fd;
			break;
		}
		op->fds[op->count++] = fd;
	}
	if (ret)
		hr_close_set(op);
	return ret;
}

void hr_close_set(struct hr_opened *op)
{
	unsigned int j;

	for (j = 0; j < op->count; j++)
		close(op->fds[j]);
	for (j = 0; j < op->ngroups; j++)
		hr_group_close(&op->grps[j]);
	if (op->iommufd >= 0)
		close(op->iommufd);
	op->count = 0;
	op->ngroups = 0;
	op->iommufd = -1;
}

int hr_arm_set(const struct hr_dev *devs, const struct hr_set *set,
	       const struct hr_opened *op)
{
	unsigned int j;
	int ret;

	for (j = 0; j < op->count; j++) {
		ret = hr_witness_arm(op->fds[j], &devs[set->idx[j]]);
		if (ret)
			return ret;
	}
	return 0;
}

int hr_reset_count(const struct hr_dev *devs, const struct hr_set *set,
		   const struct hr_opened *op)
{
	unsigned int j;
	int ret, n = 0;

	for (j = 0; j < op->count; j++) {
		ret = hr_witness_reset(op->fds[j], &devs[set->idx[j]]);
		if (ret < 0)
			return ret;
		n += ret;
	}
	return n;
}

int hr_group_open(const struct hr_dev *dev, struct hr_group *grp)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[64];
	int ret;

	grp->container = -1;
	grp->group = -1;
	if (dev->group_id < 0)
		return -ENODEV;
	snprintf(path, sizeof(path), "/dev/vfio/%s%d",
		 dev->noiommu ? "noiommu-" : "", dev->group_id);
	grp->group = open(path, O_RDWR);
	if (grp->group < 0)
		return -errno;
	if (ioctl(grp->group, VFIO_GROUP_GET_STATUS, &status))
		goto err;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		goto err;
	}
	grp->container = open("/dev/vfio/vfio", O_RDWR);
	if (grp->container < 0)
		goto err;
	if (ioctl(grp->group, VFIO_GROUP_SET_CONTAINER, &grp->container))
		goto err;
	if (ioctl(grp->container, VFIO_SET_IOMMU,
		  dev->noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU))
		goto err;
	return 0;
err:
	ret = -errno;
	hr_group_close(grp);
	return ret;
}

int hr_group_device(struct hr_group *grp, const struct hr_dev *dev)
{
	int fd = ioctl(grp->group, VFIO_GROUP_GET_DEVICE_FD, dev->bdf);

	return fd < 0 ? -errno : fd;
}

void hr_group_close(struct hr_group *grp)
{
	if (grp->group >= 0)
		close(grp->group);
	if (grp->container >= 0)
		close(grp->container);
	grp->group = -1;
	grp->container = -1;
}

int hr_iommufd_open(void)
{
	int fd = open("/dev/iommu", O_RDWR);

	return fd < 0 ? -errno : fd;
}

int hr_cdev_open(const struct hr_dev *dev)
{
	char path[64];
	int fd;

	if (!dev->cdev[0])
		return -ENODEV;
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", dev->cdev);
	fd = open(path, O_RDWR);
	return fd < 0 ? -errno : fd;
}

int hr_cdev_bind(int devfd, int iommufd, uint32_t *devid)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind),
		.iommufd = iommufd,
	};

	if (ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	if (devid)
		*devid = bind.out_devid;
	return 0;
}

int hr_get_info(int devfd, struct hr_info *info)
{
	memset(info, 0, sizeof(*info));
	info->hdr.argsz = sizeof(*info);
	if (ioctl(devfd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info))
		return -errno;
	return 0;
}

int hr_hot_reset(int devfd, uint32_t flags, const int *fds, uint32_t count)
{
	struct vfio_pci_hot_reset *reset;
	size_t size = sizeof(*reset) + count * sizeof(*fds);
	int ret = 0;

	reset = calloc(1, size);
	if (!reset)
		return -ENOMEM;
	reset->argsz = size;
	reset->flags = flags;
	reset->count = count;
	if (count)
		memcpy(reset->group_fds, fds, count * sizeof(*fds));
	if (ioctl(devfd, VFIO_DEVICE_PCI_HOT_RESET, reset))
		ret = -errno;
	free(reset);
	return ret;
}

struct witness {
	uint16_t vendor;
	uint16_t device;
	uint32_t offset;	/* in BAR0 */
	uint32_t pattern;
	uint32_t reset_value;
};

static const struct witness witnesses[] = {
	/* QEMU nvme: CC with IOSQES = 6, IOCQES = 4, EN = 0 */
	{ 0x1b36, 0x0010, 0x14, 0x00460000, 0 },
	/* QEMU e1000e: receive descriptor base low, 16-byte aligned */
	{ 0x8086, 0x10d3, 0x2800, 0x5a5a5a50, 0 },
};

static const struct witness *find_witness(const struct hr_dev *dev)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(witnesses); i++)
		if (witnesses[i].vendor == dev->vendor &&
		    witnesses[i].device == dev->device)
			return &witnesses[i];
	return NULL;
}

bool hr_has_witness(const struct hr_dev *dev)
{
	return find_witness(dev);
}

static int bar0_access(int devfd, uint32_t offset, uint32_t *val, bool write)
{
	struct vfio_region_info reg = {
		.argsz = sizeof(reg),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	ssize_t n;

	if (ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, &reg))
		return -errno;
	if (offset + sizeof(*val) > reg.size)
		return -ERANGE;
	if (write)
		n = pwrite(devfd, val, sizeof(*val), reg.offset + offset);
	else
		n = pread(devfd, val, sizeof(*val), reg.offset + offset);
	if (n < 0)
		return -errno;
	return n == sizeof(*val) ? 0 : -EIO;
}

/*
 * BAR0 through sysfs, for a device that another process (a VMM) holds.
 * Memory decode is turned on first: the holder may have turned it off, as
 * QEMU does around a reset.
 */
static int sysfs_bar0_access(const struct hr_dev *dev, uint32_t offset,
			     uint32_t *val, bool write)
{
	long page = sysconf(_SC_PAGESIZE);
	uint32_t *reg;
	char path[PATH_MAX];
	uint16_t cmd;
	void *map;
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", dev->bdf);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	if (pread(fd, &cmd, sizeof(cmd), PCI_COMMAND) != sizeof(cmd)) {
		ret = -EIO;
	} else if (!(le16toh(cmd) & PCI_COMMAND_MEMORY)) {
		cmd = htole16(le16toh(cmd) | PCI_COMMAND_MEMORY);
		if (pwrite(fd, &cmd, sizeof(cmd), PCI_COMMAND) != sizeof(cmd))
			ret = -EIO;
	}
	close(fd);
	if (ret)
		return ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0",
		 dev->bdf);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	map = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   offset & ~(page - 1));
	close(fd);
	if (map == MAP_FAILED)
		return -errno;
	/*
	 * One plain 32-bit access each way, as the register wants; raw bytes,
	 * as bar0_access() reads them through the region.
	 */
	reg = (uint32_t *)((char *)map + (offset & (page - 1)));
	if (write)
		__atomic_store_n(reg, *val, __ATOMIC_RELAXED);
	else
		*val = __atomic_load_n(reg, __ATOMIC_RELAXED);
	munmap(map, page);
	return 0;
}

/* devfd < 0: through sysfs */
static int witness_io(int devfd, const struct hr_dev *dev, uint32_t offset,
		      uint32_t *val, bool write)
{
	if (devfd < 0)
		return sysfs_bar0_access(dev, offset, val, write);
	return bar0_access(devfd, offset, val, write);
}

static int witness_arm(int devfd, const struct hr_dev *dev)
{
	const struct witness *w = find_witness(dev);
	uint32_t val;
	int ret;

	if (!w)
		return -EOPNOTSUPP;
	val = w->pattern;
	ret = witness_io(devfd, dev, w->offset, &val, true);
	if (ret)
		return ret;
	ret = witness_io(devfd, dev, w->offset, &val, false);
	if (ret)
		return ret;
	return val == w->pattern ? 0 : -EIO;
}

static int witness_reset(int devfd, const struct hr_dev *dev)
{
	const struct witness *w = find_witness(dev);
	uint32_t val;
	int ret;

	if (!w)
		return -EOPNOTSUPP;
	ret = witness_io(devfd, dev, w->offset, &val, false);
	if (ret)
		return ret;
	if (val == w->reset_value)
		return 1;
	if (val == w->pattern)
		return 0;
	return -EIO;
}

int hr_witness_arm(int devfd, const struct hr_dev *dev)
{
	return devfd < 0 ? -EBADF : witness_arm(devfd, dev);
}

int hr_witness_reset(int devfd, const struct hr_dev *dev)
{
	return devfd < 0 ? -EBADF : witness_reset(devfd, dev);
}

