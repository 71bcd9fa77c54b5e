// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_client_tool: what the client scripts (clients/NAME_client) need done
 * in C in the guest.
 *
 *   vfio_client_tool bar0 BDF OFFSET [VALUE]
 *	Read (print as 0x%08x) or write a 32-bit register of BAR 0 through
 *	sysfs, for a device another process (a VMM, DPDK) holds.  Memory
 *	decode is turned on first: the holder may have left it off, as QEMU
 *	does around a reset.
 *
 *   vfio_client_tool info BDF
 *	Open BDF's cdev, bind it to a new iommufd and print what
 *	VFIO_DEVICE_GET_PCI_HOT_RESET_INFO says: "flags=0x%x count=%u", then
 *	"SSSS:BB:DD.F devid=%d" a device (what QEMU's iommufd back end reads).
 *
 *   vfio_client_tool hold-pf BDF UUID
 *	Open the PF BDF through its group (type1, or no-IOMMU), set its VF
 *	token to UUID (VFIO_DEVICE_FEATURE_PCI_VF_TOKEN), print "holding"
 *	and keep the device open until standard input closes.
 *
 * Exit status 0, or 1 with the reason on stderr.
 */
#include <endian.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

static int die(const char *what)
{
	fprintf(stderr, "vfio_client_tool: %s: %s\n", what, strerror(errno));
	return 1;
}

static int bar0(const char *bdf, const char *offset, const char *value)
{
	unsigned long off = strtoul(offset, NULL, 0);
	long page = sysconf(_SC_PAGESIZE);
	char path[PATH_MAX];
	volatile uint32_t *reg;
	uint16_t cmd;
	void *map;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return die(path);
	if (pread(fd, &cmd, sizeof(cmd), PCI_COMMAND) != sizeof(cmd))
		return die("read PCI_COMMAND");
	if (!(le16toh(cmd) & PCI_COMMAND_MEMORY)) {
		cmd = htole16(le16toh(cmd) | PCI_COMMAND_MEMORY);
		if (pwrite(fd, &cmd, sizeof(cmd), PCI_COMMAND) != sizeof(cmd))
			return die("write PCI_COMMAND");
	}
	close(fd);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return die(path);
	map = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   off & ~(page - 1));
	if (map == MAP_FAILED)
		return die("mmap resource0");
	reg = (volatile uint32_t *)((char *)map + (off & (page - 1)));
	if (value)
		*reg = htole32(strtoul(value, NULL, 0));
	else
		printf("0x%08x\n", le32toh(*reg));
	munmap(map, page);
	close(fd);
	return 0;
}

static int info(const char *bdf)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	char path[PATH_MAX], buf[4096];
	struct vfio_pci_hot_reset_info *hri = (void *)buf;
	struct dirent *dent;
	int device, iommufd;
	unsigned int i;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		return die(path);
	while ((dent = readdir(dir)) && strncmp(dent->d_name, "vfio", 4))
		;
	if (!dent) {
		fprintf(stderr, "vfio_client_tool: %s has no vfio cdev\n", bdf);
		return 1;
	}
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", dent->d_name);
	closedir(dir);
	device = open(path, O_RDWR);
	if (device < 0)
		return die(path);
	iommufd = open("/dev/iommu", O_RDWR);
	if (iommufd < 0)
		return die("/dev/iommu");
	bind.iommufd = iommufd;
	if (ioctl(device, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return die("VFIO_DEVICE_BIND_IOMMUFD");
	memset(buf, 0, sizeof(buf));
	hri->argsz = sizeof(buf);
	if (ioctl(device, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hri))
		return die("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO");
	printf("flags=0x%x count=%u\n", hri->flags, hri->count);
	for (i = 0; i < hri->count; i++)
		printf("%04x:%02x:%02x.%x devid=%d\n", hri->devices[i].segment,
		       hri->devices[i].bus, hri->devices[i].devfn >> 3,
		       hri->devices[i].devfn & 7, (int)hri->devices[i].devid);
	return 0;
}

static int parse_uuid(const char *s, uint8_t uuid[16])
{
	int i, n = 0;

	for (i = 0; i < 16; i++) {
		if (*s == '-')
			s++;
		if (sscanf(s, "%2hhx%n", &uuid[i], &n) != 1 || n != 2)
			return -1;
		s += 2;
	}
	return *s ? -1 : 0;
}

static int hold_pf(const char *bdf, const char *token)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	uint8_t buf[sizeof(struct vfio_device_feature) + 16];
	struct vfio_device_feature *feature = (void *)buf;
	char path[PATH_MAX], link[PATH_MAX];
	int container, group, device, iommu;
	char *name;
	ssize_t n;

	if (parse_uuid(token, feature->data)) {
		fprintf(stderr, "vfio_client_tool: bad UUID %s\n", token);
		return 1;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return die(path);
	link[n] = '\0';
	name = basename(link);
	snprintf(path, sizeof(path), "/dev/vfio/%s", name);
	iommu = VFIO_TYPE1v2_IOMMU;
	group = open(path, O_RDWR);
	if (group < 0) {
		snprintf(path, sizeof(path), "/dev/vfio/noiommu-%s", name);
		iommu = VFIO_NOIOMMU_IOMMU;
		group = open(path, O_RDWR);
	}
	if (group < 0)
		return die(path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status))
		return die("VFIO_GROUP_GET_STATUS");
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		return die("/dev/vfio/vfio");
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		return die("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, iommu))
		return die("VFIO_SET_IOMMU");
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (device < 0)
		return die("VFIO_GROUP_GET_DEVICE_FD");
	feature->argsz = sizeof(buf);
	feature->flags = VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_PCI_VF_TOKEN;
	if (ioctl(device, VFIO_DEVICE_FEATURE, feature))
		return die("VFIO_DEVICE_FEATURE_PCI_VF_TOKEN");
	printf("holding %s\n", bdf);
	fflush(stdout);
	while (read(0, path, sizeof(path)) > 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && argc <= 5 && !strcmp(argv[1], "bar0"))
		return bar0(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (argc == 3 && !strcmp(argv[1], "info"))
		return info(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "hold-pf"))
		return hold_pf(argv[2], argv[3]);
	fprintf(stderr, "usage: %s bar0 BDF OFFSET [VALUE]\n"
		"       %s info BDF\n"
		"       %s hold-pf BDF UUID\n", argv[0], argv[0], argv[0]);
	return 1;
}
