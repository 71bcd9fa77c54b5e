# Entry points; tools/vmtest.py and its modules do the work.  See README.md.
VMTEST := python3 tools/vmtest.py

.PHONY: test check clients shell tree export build bench soak
test:				## the VM test suite (the main job): 7.3 and 6.12 kernels
	$(VMTEST) run $(if $(SCENARIOS),--scenarios $(SCENARIOS)) $(if $(KERNELS),--kernels $(KERNELS)) $(if $(TESTS),--tests '$(TESTS)')
check:				## everything CI runs
	$(VMTEST) check
clients:			## QEMU and DPDK as clients of both kernels (also in make check)
	$(VMTEST) run --scenarios clients,clients-noiommu $(if $(KERNELS),--kernels $(KERNELS))
shell:				## make shell SCENARIO=iommu KERNEL=6.12
	$(VMTEST) shell $(or $(SCENARIO),iommu) --kernel $(or $(KERNEL),7.3)
tree:				## kernel git trees = base + patches, both lines
	$(VMTEST) tree
export:				## kernel git trees -> mainline/patches, backport-6.12/patches
	$(VMTEST) export
build:
	$(VMTEST) build $(if $(KERNELS),--kernels $(KERNELS))
bench:				## a base kernel against the patched one (not a test)
	$(VMTEST) bench $(if $(SCENARIOS),--scenarios $(SCENARIOS))
soak:				## make soak SCENARIO=noiommu BOOTS=20: count hangs
	$(VMTEST) soak --scenario $(or $(SCENARIO),noiommu) --boots $(or $(BOOTS),20) $(if $(KERNELS),--kernels $(KERNELS))
