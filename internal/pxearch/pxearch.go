// Package pxearch names the client architectures of DHCPv4 option 93 and
// DHCPv6 option 61 (RFC 4578, RFC 5970: one IANA registry). It is a leaf: the
// proxy's log lines, the probe and the journal all read this one table.
package pxearch

import "strconv"

// names holds each architecture's full name (for logs) and, where it needs
// one, a shorter one for a table column. 7 and 9 are both x86-64 UEFI: RFC
// 4578 erratum 4624 swapped 7 and 9, and firmware in the wild sends both.
var names = map[uint16]struct{ full, short string }{
	0: {"x86 BIOS", ""}, 1: {"NEC PC98", ""}, 2: {"Itanium", "EFI Itanium"}, 3: {"DEC Alpha", ""},
	4: {"Arc x86", ""}, 5: {"Intel Lean Client", ""}, 6: {"EFI IA32", ""}, 7: {"EFI x86-64", ""},
	8: {"EFI Xscale", ""}, 9: {"EFI x86-64 (BC)", "EFI x86-64"}, 10: {"EFI ARM32", ""}, 11: {"EFI ARM64", ""},
	12: {"PowerPC Open Firmware", "PowerPC OF"}, 13: {"PowerPC ePAPR", ""}, 14: {"POWER OPAL v3", "POWER OPAL"},
	15: {"EFI IA32 HTTP", "EFI x86 HTTP"}, 16: {"EFI x86-64 HTTP", ""}, 17: {"EFI BC HTTP", "EFI EBC HTTP"},
	18: {"EFI ARM32 HTTP", ""}, 19: {"EFI ARM64 HTTP", ""}, 20: {"x86 BIOS HTTP", ""},
	21: {"ARM32 U-Boot", "U-Boot ARM32"}, 22: {"ARM64 U-Boot", "U-Boot ARM64"},
	23: {"ARM32 U-Boot HTTP", "U-Boot ARM32 HTTP"}, 24: {"ARM64 U-Boot HTTP", "U-Boot ARM64 HTTP"},
	25: {"EFI RISC-V 32", ""}, 26: {"EFI RISC-V 32 HTTP", ""}, 27: {"EFI RISC-V 64", ""},
	28: {"EFI RISC-V 64 HTTP", ""}, 29: {"EFI RISC-V 128", ""}, 30: {"EFI RISC-V 128 HTTP", ""},
	31: {"s390 Basic", ""}, 32: {"s390 Extended", ""}, 33: {"EFI MIPS32", ""}, 34: {"EFI MIPS64", ""},
	35: {"EFI Sunway 32", ""}, 36: {"EFI Sunway 64", ""}, 37: {"EFI LoongArch32", ""},
	38: {"EFI LoongArch32 HTTP", ""}, 39: {"EFI LoongArch64", ""}, 40: {"EFI LoongArch64 HTTP", ""},
	41: {"ARM rpiboot", "arm rpiboot"},
}

// Name is the full name of architecture a, or "unknown".
func Name(a uint16) string {
	if n, ok := names[a]; ok {
		return n.full
	}
	return "unknown"
}

// Short is the name of architecture a for a table column, or "arch <a>" for
// a value the registry does not (yet) hold.
func Short(a uint16) string {
	n, ok := names[a]
	switch {
	case !ok:
		return "arch " + strconv.Itoa(int(a))
	case n.short != "":
		return n.short
	}
	return n.full
}

// Known reports whether a is in the registry (0-41 today). When a client
// lists several architectures, a value above is skipped in favour of one
// we know.
func Known(a uint16) bool {
	_, ok := names[a]
	return ok
}

// httpBase maps UEFI HTTP boot architectures (IANA "Processor Architecture
// Types") to the PXE architecture whose boot file they run.
var httpBase = map[uint16]uint16{15: 6, 16: 7, 17: 9, 18: 10, 19: 11, 20: 0, 23: 21, 24: 22, 26: 25, 28: 27, 30: 29, 38: 37, 40: 39}

// HTTPBase returns the PXE architecture whose boot file HTTP boot
// architecture a runs, so one PXE_BOOTFILE_UEFI serves both unless
// overridden. ok is false when a is not an HTTP boot architecture.
func HTTPBase(a uint16) (base uint16, ok bool) {
	base, ok = httpBase[a]
	return base, ok
}
