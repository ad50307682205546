package journal

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pxeproxy/pxeproxy/internal/pxearch"
)

// State is a journey's state, from a closed set (States), so it can label a
// metric.
type State string

// States of a journey. Each has one kind of sentence in Verdict.Text.
const (
	StateInProgress     State = "in-progress"     // something is happening or expected within a short grace
	StateBooted         State = "booted"          // a later stage was fetched: the boot went on past the boot file
	StateNoRequest      State = "no-request"      // offered, but the offered file was never asked for
	StateSecureBoot     State = "secure-boot"     // UEFI got its boot file and never came back
	StateNoReturn       State = "no-return"       // a non-UEFI client got its boot file, or any client a later loader, and never came back
	StateIPXELoop       State = "ipxe-loop"       // iPXE asked for the iPXE binary again
	StateNotFound       State = "not-found"       // the last file asked for does not exist
	StateTransferFailed State = "transfer-failed" // the last transfer stalled, was aborted or failed
	StateRefused        State = "refused"         // deny or allow list
	StateNoBootFile     State = "no-bootfile"     // no boot file for the client's architecture
	StateIgnored        State = "ignored"         // not answered for another reason
	StateSeen           State = "seen"            // asked, but no answer was recorded
)

// States lists every State, in the order a table or metric shows them.
var States = []State{StateInProgress, StateBooted, StateNoRequest, StateSecureBoot, StateNoReturn,
	StateIPXELoop, StateNotFound, StateTransferFailed, StateRefused, StateNoBootFile, StateIgnored, StateSeen}

// Graces of the verdict: how long the next step may take before its absence
// is the verdict. Firmware asks for the offered file within a second or two
// and a boot file that runs asks for the next stage within seconds.
const (
	requestGrace = 15 * time.Second // offer -> request of the file
	followGrace  = 5 * time.Second  // not found, or a tsize probe -> the next request
	returnGrace  = 30 * time.Second // boot file delivered -> next stage
	stallAfter   = 10 * time.Second // running transfer without progress
	seenGrace    = 5 * time.Second  // request -> our answer recorded
	attemptGap   = 5 * time.Minute  // a firmware request after this long is a new attempt
	// settleAfter is how long a journey must be quiet before its attempt's
	// outcome is counted in Stats: longer than every grace above.
	settleAfter = time.Minute
)

// scriptGrace is requestGrace for an offer to iPXE: iPXE asks for its script
// only once every configurator of its "Configuring" step is done, and IPv6
// router discovery with no router on the link gives up only after ~8 s (iPXE
// src/net/ndp.c: doubling timeouts up to 3 s). Measured under QEMU TCG (e2e
// scenario browser) from the offer to the script's request: 17 s, and 30 s
// with two clients booting on a loaded machine.
const scriptGrace = 50 * time.Second

// secureBootAdvice is the remedy named by the Secure Boot verdict.
const secureBootAdvice = `Serve a signed chain (shim and GRUB) or turn Secure Boot off; see the README section "Secure Boot".`

// Journey is what Judge looks at: one client's events, oldest first.
type Journey struct {
	ID     string
	MAC    string
	IP     netip.Addr
	Events []Event
}

// Progress is a running transfer's state.
type Progress struct {
	Proto string `json:"proto"`
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
	Size  int64  `json:"size,omitempty"`
	// Percent is 0-100, or -1 when the size is not known.
	Percent float64 `json:"percent"`
}

// Verdict is what Judge says about a journey.
type Verdict struct {
	State State
	Text  string
	// Took is the time from the attempt's first request to its last file,
	// for StateBooted.
	Took time.Duration
	// Transfer is the running transfer, if any.
	Transfer *Progress
}

// step is what attempt segmentation needs of an event.
type step struct {
	firmware bool // a non-iPXE boot request on port 67: a firmware starting a boot
	transfer bool
	class    string
	first    int64
	last     int64
}

func stepOf(e *Event) step {
	s := step{transfer: e.Kind == KindTransfer, first: e.Time.UnixNano(), last: lastTime(e).UnixNano()}
	if e.Kind == KindDiscover && e.Port == PortDHCP && !e.IPXE {
		s.firmware, s.class = true, e.Class
	}
	return s
}

func stepOfRec(r *rec) step {
	s := step{transfer: r.kind == kTransfer, first: r.t, last: max(r.t, r.last)}
	if r.kind == kDiscover && r.port == PortDHCP && r.flags&flagIPXE == 0 {
		s.firmware, s.class = true, vendorClass(r.s1)
	}
	return s
}

// segmenter finds where boot attempts start, one event at a time: at a
// firmware request that follows a transfer of the attempt before, with the
// same class (a different class right after a download is the firmware's
// fallback to its next boot option, part of the same attempt:
// docs/pxe-notes.md §11), or that comes after a long silence.
type segmenter struct {
	started, classSet, sawTransfer bool
	class                          string
	prev                           int64
}

// next takes the next event's step and reports whether it starts a new
// attempt (the first event starts one too, but is not reported).
func (g *segmenter) next(s step) bool {
	newer := false
	if s.firmware {
		newer = g.started && ((g.sawTransfer && (!g.classSet || s.class == g.class)) || s.first-g.prev > int64(attemptGap))
		if newer {
			g.sawTransfer, g.classSet = false, false
		}
		if !g.classSet {
			g.class, g.classSet = s.class, true
		}
	}
	g.sawTransfer = g.sawTransfer || s.transfer
	g.prev = max(g.prev, s.last)
	g.started = true
	return newer
}

// attemptStart returns the index where the latest attempt starts.
func attemptStart(n int, at func(int) step) int {
	var g segmenter
	start := 0
	for i := range n {
		if g.next(at(i)) {
			start = i
		}
	}
	return start
}

func lastTime(e *Event) time.Time {
	if !e.Last.IsZero() {
		return e.Last
	}
	return e.Time
}

func endTime(e *Event) time.Time {
	return e.Time.Add(time.Duration(e.Millis) * time.Millisecond)
}

func count(e *Event) int { return max(1, e.Count) }

// fileKey is how file names are compared: the path of a URL, backslashes as
// slashes, no leading slash, case folded (the TFTP server resolves names
// case-insensitively).
func fileKey(name string) string {
	if i := strings.Index(name, "://"); i >= 0 {
		rest := name[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			name = rest[j:]
		} else {
			name = ""
		}
	}
	name = strings.ReplaceAll(name, `\`, "/")
	return strings.ToLower(strings.TrimLeft(name, "/"))
}

// facts are what the verdict needs from an attempt's events.
type facts struct {
	evs       []Event
	arch      uint16
	hasArch   bool
	class     string
	nbp       string // the boot file first offered to the firmware
	nbpKey    string
	firstIPXE int // index of the first request from iPXE, -1 if none
	loops     int // times the iPXE binary went back to iPXE
	lastXfer  int // index of the last transfer, -1 if none
	lastReply int // index of the last reply or ignored event, -1 if none
	conflicts []Event
	// replyIPXE: the last reply answered a request from iPXE.
	replyIPXE bool
	addrSeen  bool // the journey, any attempt, learnt an address of the client
}

func gather(evs []Event) facts {
	f := facts{evs: evs, firstIPXE: -1, lastXfer: -1, lastReply: -1}
	ipxeAsked := false // the latest request came from iPXE
	for i := range evs {
		e := &evs[i]
		switch e.Kind {
		case KindDiscover:
			ipxeAsked = e.IPXE
			if e.Arch != nil && !f.hasArch && e.Port != PortDHCP6 {
				f.arch, f.hasArch = *e.Arch, true
			}
			if f.class == "" && !e.IPXE && e.Port == PortDHCP {
				f.class = e.Class
			}
			if e.IPXE && f.firstIPXE < 0 {
				f.firstIPXE = i
			}
		case KindReply:
			f.lastReply, f.replyIPXE = i, ipxeAsked
			if f.nbp == "" && !ipxeAsked {
				f.nbp, f.nbpKey = e.File, fileKey(e.File)
			} else if ipxeAsked && f.nbpKey != "" && fileKey(e.File) == f.nbpKey {
				f.loops += count(e)
			}
		case KindIgnored:
			f.lastReply = i
		case KindTransfer:
			f.lastXfer = i
			if f.firstIPXE >= 0 && f.nbpKey != "" && fileKey(e.File) == f.nbpKey && e.Result != ResultNotFound {
				f.loops++
			}
		case KindConflict:
			f.conflicts = append(f.conflicts, *e)
		}
	}
	return f
}

// Judge says how the latest boot attempt of a journey went, as of now. It is
// a pure function of its arguments.
func Judge(jn Journey, now time.Time) Verdict {
	all := jn.Events
	evs := all[attemptStart(len(all), func(i int) step { return stepOf(&all[i]) }):]
	if len(evs) == 0 {
		return Verdict{State: StateSeen, Text: "Nothing recorded yet."}
	}
	f := gather(evs)
	f.addrSeen = slices.ContainsFunc(all, func(e Event) bool { return e.Kind == KindJoin })
	if f.loops > 0 {
		return Verdict{State: StateIPXELoop, Text: fmt.Sprintf(
			"iPXE loop: the client, already running iPXE, was given the iPXE binary %s again (%s). "+
				"iPXE must get the script (PXE_IPXE_SCRIPT) instead; check that the script does not chain back to %s.",
			f.nbp, times(f.loops), f.nbp)}
	}
	if f.lastXfer >= 0 {
		return f.judgeTransfer(now)
	}
	return f.judgeOffer(now)
}

func (f *facts) judgeTransfer(now time.Time) Verdict {
	t := &f.evs[f.lastXfer]
	proto := strings.ToUpper(t.Proto)
	if t.Running {
		p := &Progress{Proto: t.Proto, File: t.File, Bytes: t.Bytes, Size: t.Size, Percent: -1}
		if t.Size > 0 {
			p.Percent = min(100, 100*float64(t.Bytes)/float64(t.Size))
		}
		if idle := now.Sub(t.Moved); idle >= stallAfter {
			return Verdict{State: StateTransferFailed, Transfer: p, Text: fmt.Sprintf(
				"The %s transfer of %s is stalled at %s%s (no progress for %s).",
				proto, t.File, position(t), retransmits(t), seconds(idle))}
		}
		text := fmt.Sprintf("Downloading %s over %s: %s so far.", t.File, proto, mega(t.Bytes))
		if t.Size > 0 {
			text = fmt.Sprintf("Downloading %s over %s: %.0f%% (%s of %s).", t.File, proto, p.Percent, mega(t.Bytes), mega(t.Size))
		}
		return Verdict{State: StateInProgress, Text: text, Transfer: p}
	}
	end := endTime(t)
	switch t.Result {
	case ResultNotFound:
		if now.Sub(end) < followGrace {
			return progress("Asked for %s, which does not exist; waiting for its next request.", t.File)
		}
		text := fmt.Sprintf("The client asked for %s, which is not in the boot folder; ", t.File)
		if t.Closest != "" {
			text += fmt.Sprintf("the closest name there is %s.", t.Closest)
		} else {
			text += "no similar name is there."
		}
		return Verdict{State: StateNotFound, Text: text}
	case ResultOK:
	default:
		if t.Result == ResultAborted && t.Bytes == 0 && now.Sub(end) < followGrace {
			// EDK2 reads tsize from the OACK, aborts and asks again
			// (docs/pxe-notes.md §7): normal, unless nothing follows.
			return progress("Read the size of %s; waiting for the download.", t.File)
		}
		return Verdict{State: StateTransferFailed, Text: failed(t)}
	}
	// A UEFI loader delivered after the boot file (shim's grubx64.efi) has to
	// fetch its own next stage; until it does, the boot has not gone past it
	// (docs/pxe-notes.md §11: Debian's GRUB asks the site server instead).
	k := fileKey(t.File)
	loader := f.nbpKey != "" && k != f.nbpKey && strings.HasSuffix(k, ".efi")
	if v, ok := f.booted(); ok && !loader {
		return v
	}
	// Only the boot file, or a loader, so far.
	since := now.Sub(end)
	for i := f.lastXfer + 1; i < len(f.evs); i++ {
		e := &f.evs[i]
		if e.Kind != KindDiscover {
			continue
		}
		if e.IPXE {
			// iPXE came back (over either family: it sends a SOLICIT too);
			// what follows is its script.
			return f.judgeOffer(now)
		}
		if fallback := e.Port == PortDHCP6 || (e.Port == PortDHCP && !e.IPXE && e.Class != f.class); fallback && (!f.hasArch || isUEFI(f.arch)) {
			next := "PXE over IPv6"
			if e.Port == PortDHCP {
				next = "HTTP boot"
			}
			how := fmt.Sprintf("downloaded it, then moved on to its next boot option (%s) instead of running it", next)
			if v, ok := f.imageVerdict(t, "The UEFI firmware "+how+"."); ok && !loader {
				return v
			}
			return Verdict{State: StateSecureBoot, Text: fmt.Sprintf(
				"Secure Boot refused %s: the UEFI firmware %s. %s", t.File, how, secureBootAdvice)}
		}
	}
	if since < returnGrace {
		return progress("Delivered %s; waiting for the next stage.", t.File)
	}
	if loader {
		return Verdict{State: StateNoReturn, Text: fmt.Sprintf(
			"After %s, %s was delivered, and it asked pxeproxy for nothing after it (waited %s): %s",
			f.nbp, t.File, seconds(returnGrace), loaderAdvice(k))}
	}
	if f.hasArch && isUEFI(f.arch) {
		how := fmt.Sprintf("This UEFI client never came back for anything else (waited %s).", seconds(returnGrace))
		if v, ok := f.imageVerdict(t, how); ok {
			return v
		}
		return Verdict{State: StateSecureBoot, Text: fmt.Sprintf(
			"%s was delivered, but this UEFI client never came back for anything else (waited %s): "+
				"most likely Secure Boot refused an unsigned binary. %s", t.File, seconds(returnGrace), secureBootAdvice)}
	}
	return Verdict{State: StateNoReturn, Text: fmt.Sprintf(
		"%s was delivered, and the client asked for nothing after it (waited %s): "+
			"the boot file runs on its own or stopped on the client; check its screen.", t.File, seconds(returnGrace))}
}

// imageVerdict judges a UEFI client that never came back after its boot
// file t by what t is (its PE/COFF headers), so a file the firmware cannot
// start at all is not blamed on Secure Boot. how is a sentence on what the
// client did after the download. ok is false when the headers were not read.
func (f *facts) imageVerdict(t *Event, how string) (v Verdict, ok bool) {
	img := t.Image
	if img == nil {
		return Verdict{}, false
	}
	setting := "the PXE_BOOTFILE_ setting of its architecture"
	var base uint16
	if f.hasArch {
		base = f.arch
		if b, isHTTP := pxearch.HTTPBase(f.arch); isHTTP {
			base = b
		}
		setting = bootFileVar(base)
	}
	if !img.EFI {
		return Verdict{State: StateNoReturn, Text: fmt.Sprintf(
			"%s is not an EFI executable: UEFI firmware cannot start it; check %s. %s", t.File, setting, how)}, true
	}
	// EFI byte code runs on every machine whose firmware has the EBC
	// interpreter (UEFI specification, chapter "EFI Byte Code Virtual Machine").
	if want, known := archMachine(base); f.hasArch && known && img.Machine != want && img.Machine != machineEBC {
		return Verdict{State: StateNoReturn, Text: fmt.Sprintf(
			"%s is built for %s but the client is %s (arch %d): its firmware cannot start it; check %s. %s",
			t.File, machineName(img.Machine), pxearch.Short(f.arch), f.arch, setting, how)}, true
	}
	if !img.Signed {
		return Verdict{State: StateSecureBoot, Text: fmt.Sprintf(
			"%s is unsigned: a firmware with Secure Boot on refuses it. %s %s", t.File, how, secureBootAdvice)}, true
	}
	return Verdict{State: StateSecureBoot, Text: fmt.Sprintf(
		"%s is signed. %s Secure Boot may still have refused it if its signer is not in the firmware's allowed "+
			"keys (db); otherwise it stopped on the client: check its screen and the README section \"Secure Boot\".",
		t.File, how)}, true
}

// loaderAdvice says why a loader may have stopped. Debian's signed GRUB 2.06
// takes its TFTP server from the site DHCP server's ACK only (measured: e2e
// scenario secureboot-shim).
func loaderAdvice(key string) string {
	if strings.Contains(key, "grub") {
		return "GRUB takes its TFTP server from the site DHCP server's answer (next-server), not from pxeproxy's offer, " +
			"so it asked that server for its grub.cfg or stopped at a grub> prompt. Set next-server on the site DHCP server " +
			`to pxeproxy's address and put grub/grub.cfg in the boot folder; see the README section "Secure Boot".`
	}
	return "it runs on its own or stopped on the client; check its screen."
}

// booted reports whether the attempt went past its boot file: a file other
// than the boot file was delivered (the iPXE script, a kernel, GRUB, a WIM).
func (f *facts) booted() (Verdict, bool) {
	var names []string
	seen := map[string]bool{}
	var bytes int64
	var last *Event
	for i := range f.evs {
		e := &f.evs[i]
		if e.Kind != KindTransfer || e.Result != ResultOK {
			continue
		}
		k := fileKey(e.File)
		if f.nbpKey == "" && last == nil {
			// No offer recorded (a journey known by address): the first
			// file is the boot file.
			f.nbp, f.nbpKey = e.File, k
		}
		last = e
		if k == f.nbpKey {
			continue
		}
		bytes += e.Bytes
		if !seen[k] {
			seen[k] = true
			names = append(names, e.File)
		}
	}
	if len(names) == 0 {
		return Verdict{}, false
	}
	took := endTime(last).Sub(f.evs[0].Time)
	return Verdict{State: StateBooted, Took: took, Text: fmt.Sprintf("Booted in %s: after %s it fetched %s (%s).",
		seconds(took), f.nbp, list(names), mega(bytes))}, true
}

// judgeOffer judges an attempt from its last answer: no transfer since.
func (f *facts) judgeOffer(now time.Time) Verdict {
	if f.lastReply < 0 || f.lastReply < f.lastXfer {
		first := &f.evs[0]
		for i := max(0, f.lastXfer); i < len(f.evs); i++ {
			if f.evs[i].Kind == KindDiscover {
				first = &f.evs[i]
				break
			}
		}
		if now.Sub(lastTime(first)) < seenGrace {
			return progress("%s", "Asking to boot; waiting for the answer.")
		}
		return Verdict{State: StateSeen, Text: "Asked to boot, but no answer from pxeproxy was recorded."}
	}
	r := &f.evs[f.lastReply]
	if r.Kind == KindIgnored {
		switch r.Reason {
		case ReasonDenied:
			return Verdict{State: StateRefused, Text: "Refused: its MAC is in PXE_DENY_MACS, so pxeproxy does not answer it."}
		case ReasonNotAllowed:
			return Verdict{State: StateRefused, Text: "Refused: its MAC is not in PXE_ALLOW_MACS, so pxeproxy does not answer it."}
		case ReasonNoBootFile:
			arch := "its architecture"
			var a uint16
			if f.hasArch {
				a = f.arch
				arch = fmt.Sprintf("arch %d (%s)", a, pxearch.Short(a))
			}
			return Verdict{State: StateNoBootFile, Text: fmt.Sprintf(
				"No boot file for %s: set %s.", arch, bootFileVar(a))}
		}
		return Verdict{State: StateIgnored, Text: fmt.Sprintf("Not answered: %s.", r.Reason)}
	}
	grace := requestGrace
	if f.replyIPXE {
		grace = scriptGrace
	}
	if now.Sub(lastTime(r)) < grace {
		return progress("Offered %s; waiting for the client to ask for it.", r.File)
	}
	text := fmt.Sprintf("Offered %s, but the client never asked for it (waited %s): ", r.File, seconds(grace))
	if others := otherServers(f.conflicts); others != "" {
		return Verdict{State: StateNoRequest, Text: text + "another boot server answered it too, " + others +
			", and the firmware most likely took that offer. Let only one server answer PXE clients."}
	}
	if r.Port == PortDHCP6 && !f.replyIPXE {
		// EDK2 sends the 4011 REQUEST for a proxy offer's boot file only after
		// it has leased an address from another DHCPv6 server
		// (PxeBcSelectDhcp6Offer): an ADVERTISE alone is not enough.
		return Verdict{State: StateNoRequest, Text: text + "it never sent its port-4011 REQUEST for it. UEFI PXEv6 " +
			"goes on from a proxy ADVERTISE only once the site's DHCPv6 server has leased it an address: a segment with " +
			"SLAAC only cannot boot it (README: IPv6), or the firmware took another server's offer."}
	}
	if !f.addrSeen {
		return Verdict{State: StateNoRequest, Text: text + "no address of it was seen either (no DHCPREQUEST reached " +
			"pxeproxy), so most likely no DHCP server leased it one, and a proxy offer alone cannot boot a client. " +
			"Check that the site's DHCP server serves this segment."}
	}
	port := "UDP port 69 (TFTP)"
	if strings.HasPrefix(r.File, "http://") || strings.HasPrefix(r.File, "https://") {
		// tftp:// URLs are what IPv6 clients get.
		port = "the HTTP port"
	}
	server := "the boot server"
	if r.Server.IsValid() {
		server = r.Server.String()
	}
	return Verdict{State: StateNoRequest, Text: text + port + " may be blocked between the client and " + server +
		", or the firmware took another server's offer."}
}

func progress(format, arg string) Verdict {
	return Verdict{State: StateInProgress, Text: fmt.Sprintf(format, arg)}
}

func otherServers(cs []Event) string {
	var out []string
	seen := map[netip.Addr]bool{}
	for _, c := range cs {
		if seen[c.Server] {
			continue
		}
		seen[c.Server] = true
		s := c.Server.String()
		var d []string
		if c.What != "" {
			d = append(d, c.What)
		}
		if c.File != "" {
			d = append(d, "file "+c.File)
		}
		if len(d) > 0 {
			s += " (" + strings.Join(d, ", ") + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, " and ")
}

func failed(t *Event) string {
	proto := strings.ToUpper(t.Proto)
	detail := ""
	if t.Detail != "" {
		detail = ": " + t.Detail
	}
	switch t.Result {
	case ResultTimeout:
		return fmt.Sprintf("The %s transfer of %s stalled at %s%s and was given up%s.", proto, t.File, position(t), retransmits(t), detail)
	case ResultAborted:
		return fmt.Sprintf("The client aborted the %s transfer of %s at %s%s%s.", proto, t.File, position(t), retransmits(t), detail)
	}
	return fmt.Sprintf("The %s transfer of %s failed at %s%s%s.", proto, t.File, position(t), retransmits(t), detail)
}

// position says where a transfer is: "byte 1,048,576 of 27,262,976 (3.8%)".
func position(t *Event) string {
	s := "byte " + thousands(t.Bytes)
	if t.Size > 0 {
		s += fmt.Sprintf(" of %s (%.1f%%)", thousands(t.Size), 100*float64(t.Bytes)/float64(t.Size))
	}
	return s
}

func retransmits(t *Event) string {
	switch t.Retransmits {
	case 0:
		return " with no retransmits"
	case 1:
		return " after 1 retransmit"
	}
	return fmt.Sprintf(" after %d retransmits", t.Retransmits)
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return strconv.Itoa(n) + " times"
}

func list(names []string) string {
	const show = 3
	more := ""
	if len(names) > show {
		more = fmt.Sprintf(" and %d more", len(names)-show)
		names = names[:show]
	}
	if more == "" && len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return strings.Join(names, ", ") + more
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mega(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}
