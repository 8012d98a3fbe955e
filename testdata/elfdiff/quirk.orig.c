// SPDX-License-Identifier: GPL-2.0
/*
 * DECLARE_PCI_FIXUP_FINAL() puts an entry in .pci_fixup_final, a table the
 * kernel walks at boot and at device probe: the patch (as
 * arch/x86/pci/fixup.c of 6.1.190) adds a quirk, which grows the table. An
 * update cannot add to the running kernel's table: refused
 * (unknown-section), saying to do the work from a hook.
 */
#include "kernel.h"

struct pci_fixup {
	unsigned short vendor, device;
	unsigned int class;
	unsigned int class_shift;
	void (*hook)(void *dev);
};

#define DECLARE_FIXUP(name, vendor, device, hook)			\
	static const struct pci_fixup name				\
	__attribute__((__used__, aligned(8), section(".pci_fixup_final"))) = \
		{ vendor, device, 0, 0, hook }

extern void quirk_set(void *dev, int v);

static void quirk_one(void *dev)
{
	quirk_set(dev, 1);
}
DECLARE_FIXUP(fixup_one, 0x8086, 0x1234, quirk_one);
