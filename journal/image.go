package journal

import "fmt"

// Image is what a delivered file is as a UEFI executable, read from its
// PE/COFF headers, so the verdict can tell a file the firmware cannot start
// from one Secure Boot may have refused.
type Image struct {
	// EFI is true for a PE/COFF image with an EFI subsystem.
	EFI bool `json:"efi"`
	// Machine is the COFF header's machine type (0x8664 x86-64, 0xaa64
	// ARM64, ...); set when EFI.
	Machine uint16 `json:"machine,omitempty"`
	// Signed is true when the image carries an Authenticode certificate
	// table (data directory 4), as shim and Microsoft's boot files do.
	Signed bool `json:"signed,omitempty"`
}

// Stored forms of an Image in rec.img; the machine goes in rec.arch.
const (
	imgUnknown = iota
	imgNotEFI
	imgUnsigned
	imgSigned
)

func (m Image) code() uint8 {
	switch {
	case !m.EFI:
		return imgNotEFI
	case m.Signed:
		return imgSigned
	}
	return imgUnsigned
}

func imageOf(code uint8, machine uint16) *Image {
	switch code {
	case imgNotEFI:
		return &Image{}
	case imgUnsigned, imgSigned:
		return &Image{EFI: true, Machine: machine, Signed: code == imgSigned}
	}
	return nil
}

// machineEBC is EFI byte code, which is not tied to one CPU.
const machineEBC = 0xebc

// machineNames are the COFF machine types of UEFI executables (PE/COFF
// specification, "Machine Types").
var machineNames = map[uint16]string{
	0x14c: "x86 (IA32)", 0x8664: "x86-64", 0x1c2: "ARM32", 0xaa64: "ARM64",
	0x5032: "RISC-V 32", 0x5064: "RISC-V 64", 0x6264: "LoongArch64", machineEBC: "EFI byte code",
}

func machineName(m uint16) string {
	if n, ok := machineNames[m]; ok {
		return n
	}
	return fmt.Sprintf("machine 0x%x", m)
}

// archMachine is the COFF machine a UEFI client of architecture a runs
// (option 93, with HTTP boot architectures taken to their PXE base by the
// caller); ok is false when we do not know it.
func archMachine(a uint16) (m uint16, ok bool) {
	switch a {
	case 6:
		return 0x14c, true
	case 7, 9: // 9 is x86-64 in the wild (RFC 4578 erratum 4624)
		return 0x8664, true
	case 10:
		return 0x1c2, true
	case 11:
		return 0xaa64, true
	case 25:
		return 0x5032, true
	case 27:
		return 0x5064, true
	case 39:
		return 0x6264, true
	}
	return 0, false
}
