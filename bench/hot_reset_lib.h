/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the hot reset benchmark: find the devices bound to vfio-pci in
 * sysfs, open them through the group or the cdev interface, call the hot
 * reset ioctls, and arm and read a reset witness.  (They were the library
 * of the 6.12 backport's own selftests, which mainline's replaced.)
 *
 * Every function that can fail returns a negative errno, so that a test
 * can assert the exact error of the ioctl it exercises.
 */
#ifndef HOT_RESET_LIB_H
#define HOT_RESET_LIB_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/vfio.h>

/* vfio-pci devices, and devices in one dev_set: a conventional bus has 256 */
#define HR_MAX_DEVS	512

struct hr_dev {
	char bdf[16];		/* "0000:01:00.0" */
	uint16_t segment;
	uint8_t bus;
	uint8_t devfn;
	uint16_t vendor;
	uint16_t device;
	int group_id;		/* -1: no IOMMU group */
	bool noiommu;		/* the group is a vfio noiommu group */
	bool is_vf;		/* an SR-IOV virtual function */
	bool root_bus;		/* on a root bus: no slot or bus reset */
	char cdev[32];		/* "vfio3" or "noiommu-vfio3"; empty: none */
};

/* Devices bound to vfio-pci, sorted by address; returns how many. */
int hr_find_devices(struct hr_dev *devs, int max);
/* Index of the device at segment/bus/devfn in devs, or -1. */
int hr_dev_index(const struct hr_dev *devs, int n, uint16_t segment,
		 uint8_t bus, uint8_t devfn);

/*
 * The devices a hot reset of devs[i] affects, as _INFO reports them
 * through the group interface (or the cdev one where there is no group).
 */
struct hr_set {
	unsigned int count;
	int idx[HR_MAX_DEVS];		/* into devs[]; -1: not on vfio-pci */
	unsigned int ngroups;
	int group_ids[HR_MAX_DEVS];	/* distinct, in order of appearance */
};

int hr_get_set(const struct hr_dev *devs, int n, int i, struct hr_set *set);

/* Legacy group/container interface: one container per group. */
struct hr_group {
	int container;
	int group;
};

int hr_group_open(const struct hr_dev *dev, struct hr_group *grp);
int hr_group_device(struct hr_group *grp, const struct hr_dev *dev);
void hr_group_close(struct hr_group *grp);

/* cdev + iommufd interface. */
int hr_iommufd_open(void);
int hr_cdev_open(const struct hr_dev *dev);
int hr_cdev_bind(int devfd, int iommufd, uint32_t *devid);

/*
 * Every device of a set opened by one process: through the groups (fds[]
 * from VFIO_GROUP_GET_DEVICE_FD, group_fds[] the distinct groups), or as
 * cdevs bound to one iommufd (no-IOMMU ones too, as 7.3 binds them), or only the first
 * count devices of the set (the others left unopened).
 */
struct hr_opened {
	unsigned int count;
	int fds[HR_MAX_DEVS];
	unsigned int ngroups;
	int group_fds[HR_MAX_DEVS];
	struct hr_group grps[HR_MAX_DEVS];
	int iommufd;
};

int hr_open_set(const struct hr_dev *devs, const struct hr_set *set,
		unsigned int count, bool group, struct hr_opened *op);
void hr_close_set(struct hr_opened *op);
/* Arm the witness of every opened device; 0 or -errno. */
int hr_arm_set(const struct hr_dev *devs, const struct hr_set *set,
	       const struct hr_opened *op);
/* How many of the opened devices hold their reset value, or -errno. */
int hr_reset_count(const struct hr_dev *devs, const struct hr_set *set,
		   const struct hr_opened *op);

/*
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO with room for HR_MAX_DEVS devices.
 * Returns 0 or -errno; the header is valid on -ENOSPC too.
 */
struct hr_info {
	struct vfio_pci_hot_reset_info hdr;
	struct vfio_pci_dependent_device devices[HR_MAX_DEVS];
};

int hr_get_info(int devfd, struct hr_info *info);

/* VFIO_DEVICE_PCI_HOT_RESET with the given fd array; returns 0 or -errno. */
int hr_hot_reset(int devfd, uint32_t flags, const int *fds, uint32_t count);

/*
 * Reset witness: a device register whose value a reset restores.  Config
 * space is no witness (the kernel saves and restores it around a bus
 * reset), so this writes a BAR register:
 *   - nvme (QEMU 1b36:0010): CC at BAR0 + 0x14, reset value 0;
 *   - e1000e (8086:10d3): RDBAL0 at BAR0 + 0x2800, reset value 0.
 * hr_witness_arm() writes a pattern and reads it back (-EOPNOTSUPP if the
 * device has no known witness); hr_witness_reset() returns 1 if the
 * register holds its reset value again, 0 if it still holds the pattern.
 */
int hr_witness_arm(int devfd, const struct hr_dev *dev);
int hr_witness_reset(int devfd, const struct hr_dev *dev);
bool hr_has_witness(const struct hr_dev *dev);

#endif /* HOT_RESET_LIB_H */
