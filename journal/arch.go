package journal

import "strconv"

// archNames are the client architectures of option 93 (RFC 4578 and the IANA
// registry; docs/pxe-notes.md §4), short enough for a table column.
var archNames = map[uint16]string{
	0: "x86 BIOS", 1: "NEC PC98", 2: "EFI Itanium", 3: "DEC Alpha", 4: "Arc x86", 5: "Intel Lean Client",
	6: "EFI IA32", 7: "EFI x86-64", 8: "EFI Xscale", 9: "EFI x86-64", 10: "EFI ARM32", 11: "EFI ARM64",
	12: "PowerPC OF", 13: "PowerPC ePAPR", 14: "POWER OPAL", 15: "EFI x86 HTTP", 16: "EFI x86-64 HTTP",
	17: "EFI EBC HTTP", 18: "EFI ARM32 HTTP", 19: "EFI ARM64 HTTP", 20: "x86 BIOS HTTP", 21: "U-Boot ARM32",
	22: "U-Boot ARM64", 23: "U-Boot ARM32 HTTP", 24: "U-Boot ARM64 HTTP", 25: "EFI RISC-V 32",
	26: "EFI RISC-V 32 HTTP", 27: "EFI RISC-V 64", 28: "EFI RISC-V 64 HTTP", 29: "EFI RISC-V 128",
	30: "EFI RISC-V 128 HTTP", 31: "s390 Basic", 32: "s390 Extended", 33: "EFI MIPS32", 34: "EFI MIPS64",
	35: "EFI Sunway 32", 36: "EFI Sunway 64", 37: "EFI LoongArch32", 38: "EFI LoongArch32 HTTP",
	39: "EFI LoongArch64", 40: "EFI LoongArch64 HTTP", 41: "arm rpiboot",
}

// ArchName names an option 93 architecture, or gives its number.
func ArchName(a uint16) string {
	if n, ok := archNames[a]; ok {
		return n
	}
	return "arch " + strconv.Itoa(int(a))
}

// isUEFI reports whether architecture a is UEFI firmware, where Secure Boot
// may refuse an unsigned boot file.
func isUEFI(a uint16) bool {
	switch a {
	case 2, 6, 7, 8, 9, 10, 11, 15, 16, 17, 18, 19, 25, 26, 27, 28, 29, 30, 33, 34, 35, 36, 37, 38, 39, 40:
		return true
	}
	return false
}

// bootFileVar names the setting that gives architecture a its boot file, for
// the "no boot file" verdict. It mirrors the command's variables.
func bootFileVar(a uint16) string {
	switch a {
	case 0:
		return "PXE_BOOTFILE_BIOS"
	case 7, 9:
		return "PXE_BOOTFILE_UEFI"
	case 6:
		return "PXE_BOOTFILE_UEFI32"
	case 11:
		return "PXE_BOOTFILE_ARM64"
	}
	return "PXE_BOOTFILES (" + strconv.Itoa(int(a)) + "=file)"
}
