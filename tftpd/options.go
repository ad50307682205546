package tftpd

import (
	"strconv"
	"strings"
	"time"
)

// Protocol limits.
const (
	defaultBlksize = 512   // RFC 1350
	minBlksize     = 8     // RFC 2348
	maxBlksize     = 65464 // RFC 2348
	maxWindowCap   = 64    // hard cap: RFC 7440 §4 shows no gain above ~64
	minTimeout     = 1     // RFC 2349, seconds
	maxTimeout     = 255   // RFC 2349, seconds
)

// Microsoft's variable-window extension, not in any RFC. Wireshark's TFTP
// dissector (epan/dissectors/packet-tftp.c, header comment) documents it
// from Windows Deployment Services traffic: the client asks msftwindow=31416
// (pi x 10^4), the server grants it with msftwindow=27182 (e x 10^4), and
// from then on each ACK carries one more byte, the number of blocks the
// client wants before its next ACK (docs/windows-bootmgr-tftp.md).
const (
	msftAsk   = "31416"
	msftGrant = "27182"
)

// limits are what the server allows for one request.
type limits struct {
	blksize int   // largest block size (path MTU - 32), >= minBlksize
	window  int   // largest window, 1..maxWindowCap
	size    int64 // file size reported for tsize; < 0 means unknown (netascii)
}

// params are the negotiated transfer parameters.
type params struct {
	blksize int
	window  int
	timeout time.Duration // 0: the server default
	tsize   bool          // the client asked for tsize (EDK2 probes with it)
	// varMax is set when msftwindow was granted: the fifth byte of each ACK
	// then sets the next window, clamped to 1..varMax. 0: fixed window.
	varMax int
}

// maxWindow is the largest window the transfer may send.
func (p params) maxWindow() int {
	return max(p.window, p.varMax)
}

// negotiate applies RFC 2347 option negotiation: names are case-insensitive,
// only options the client asked for are echoed (some EFI clients fail on an
// unsolicited tsize, docs/pxe-notes.md §7), unknown options and invalid
// values are ignored, the first occurrence of a duplicate wins, and
// every number is parsed with saturation so no arithmetic can overflow
// (blksize x windowsize was WDS's CVE-2018-8476). The echoed names keep the
// client's spelling.
func negotiate(opts []option, lim limits) (params, []option) {
	p := params{blksize: defaultBlksize, window: 1}
	var oack []option
	seen := map[string]bool{}
	msft := "" // the client's spelling of msftwindow, asked with msftAsk
	for _, o := range opts {
		name := strings.ToLower(o.name)
		if seen[name] {
			continue
		}
		v, ok := parseNum(o.value)
		if !ok {
			continue
		}
		switch name {
		case "blksize":
			if v < minBlksize {
				continue
			}
			p.blksize = int(min(v, maxBlksize, int64(lim.blksize)))
			v = int64(p.blksize)
		case "windowsize":
			if v < 1 {
				continue
			}
			p.window = int(min(v, int64(lim.window)))
			v = int64(p.window)
		case "timeout":
			if v < minTimeout || v > maxTimeout {
				continue
			}
			p.timeout = time.Duration(v) * time.Second
		case "tsize":
			// RFC 2349: the client sends 0 in an RRQ, the server answers with
			// the size. Unknown for netascii (it changes in translation), so
			// the option is then not acknowledged, as tftp-hpa does.
			if lim.size < 0 {
				continue
			}
			p.tsize = true
			v = lim.size
		case "msftwindow":
			// Only the one value the extension is known by: another value
			// is another protocol, of which nothing is known.
			if o.value != msftAsk {
				continue
			}
			seen[name] = true
			msft = o.name
			continue
		default:
			continue
		}
		seen[name] = true
		oack = append(oack, option{o.name, strconv.FormatInt(v, 10)})
	}
	// The variable window is granted only beside an RFC 7440 windowsize:
	// it is the first window, and what a client that ignores the grant keeps
	// to (an open WDS clone in public code grants it only so, too). Not
	// with PXE_TFTP_WINDOWSIZE_MAX=1 either: that is lock-step.
	if msft != "" && seen["windowsize"] && lim.window > 1 {
		p.varMax = lim.window
		oack = append(oack, option{msft, msftGrant})
	}
	return p, oack
}

// parseNum parses a plain decimal number (digits only), saturating at 1<<40.
func parseNum(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v < 1<<40 {
			v = v*10 + int64(c-'0')
		}
	}
	return min(v, 1<<40), true
}
