package journal

import "strconv"

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
