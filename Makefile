# Entry points; tools/vmtest.py does the work.  See README.md.
VMTEST := python3 tools/vmtest.py

.PHONY: test check shell tree export build bench
test:				## the VM test suite (the main job)
	$(VMTEST) run $(if $(SCENARIOS),--scenarios $(SCENARIOS)) $(if $(KERNELS),--kernels $(KERNELS))
check:				## everything CI runs
	$(VMTEST) check
shell:				## make shell SCENARIO=iommu
	$(VMTEST) shell $(or $(SCENARIO),iommu)
tree:				## kernel git tree = base + series/
	$(VMTEST) tree
export:				## kernel git tree -> series/
	$(VMTEST) export
build:
	$(VMTEST) build
bench:				## base kernel against the patched one (not a test)
	$(VMTEST) bench $(if $(SCENARIOS),--scenarios $(SCENARIOS))
