package journal

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"net"
	"slices"
	"strconv"

	_ "embed"
)

//go:generate go run ouigen.go -in /usr/share/ieee-data/oui.txt -out oui.txt.gz

// ouiGz is the IEEE MA-L registry reduced to short vendor names (see
// ouigen.go): lines of six hex digits, a tab and a name, sorted.
//
//go:embed oui.txt.gz
var ouiGz []byte

// localOUIs name prefixes of locally administered MACs that are a
// convention rather than a registration.
var localOUIs = map[uint32]string{
	0x525400: "QEMU/KVM",
}

// ouiTable maps an OUI to a vendor name. Names are stored once each.
type ouiTable struct {
	keys  []uint32 // sorted
	name  []uint16 // index into names, per key
	names []string
}

// vendor returns the vendor of mac's OUI, or "" when unknown. The table is
// decoded on first use.
func (j *Journal) vendor(mac net.HardwareAddr) string {
	j.ouiOnce.Do(func() { j.oui = loadOUI(ouiGz) })
	return j.oui.lookup(mac)
}

func (t *ouiTable) lookup(mac net.HardwareAddr) string {
	if len(mac) < 3 {
		return ""
	}
	k := uint32(mac[0])<<16 | uint32(mac[1])<<8 | uint32(mac[2])
	if mac[0]&0x02 != 0 { // locally administered: not registered
		return localOUIs[k]
	}
	if i, ok := slices.BinarySearch(t.keys, k); ok {
		return t.names[t.name[i]]
	}
	return ""
}

// loadOUI decodes the embedded table; a damaged one gives an empty table
// (vendors are a nicety, never a reason to fail).
func loadOUI(gz []byte) *ouiTable {
	t := &ouiTable{}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return t
	}
	index := map[string]uint16{}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		hex, name, ok := bytes.Cut(sc.Bytes(), []byte{'\t'})
		k, err := strconv.ParseUint(string(hex), 16, 32)
		if !ok || err != nil || len(t.names) >= 1<<16 {
			continue
		}
		i, ok := index[string(name)]
		if !ok {
			i = uint16(len(t.names))
			index[string(name)] = i
			t.names = append(t.names, string(name))
		}
		t.keys = append(t.keys, uint32(k))
		t.name = append(t.name, i)
	}
	if sc.Err() != nil || !slices.IsSorted(t.keys) {
		return &ouiTable{}
	}
	return t
}
