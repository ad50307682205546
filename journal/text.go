package journal

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// DecodeClients reads the JSON of /api/v1/clients.
func DecodeClients(r io.Reader) (ClientList, error) {
	var l ClientList
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&l); err != nil {
		return ClientList{}, fmt.Errorf("decode clients: %w", err)
	}
	return l, nil
}

// WriteTable writes the clients as an aligned text table, in the order
// given, as of now: the table of the web page for a terminal. Every field is
// cleaned of control characters again, since it came over the network.
func WriteTable(w io.Writer, l ClientList) error {
	now := l.Now
	if now.IsZero() {
		now = time.Now()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MAC\tVENDOR\tIP\tARCH\tSTATE\tLAST\tVERDICT")
	for _, c := range l.Clients {
		mac := c.MAC
		if mac == "" {
			mac = "-"
		}
		ip := "-"
		if c.IP.IsValid() {
			ip = c.IP.String()
		}
		arch := "-"
		if c.Arch != nil {
			arch = strconv.Itoa(int(*c.Arch)) + " " + c.ArchName
			if c.IPXE {
				arch += " +iPXE"
			}
		}
		state := string(c.State)
		if p := c.Transfer; p != nil && p.Percent >= 0 {
			state += fmt.Sprintf(" %.0f%%", p.Percent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(mac, 40), cell(c.Vendor, 24), ip, cell(arch, 32),
			cell(state, 24), ago(now.Sub(c.LastSeen)), cell(c.Verdict, 400))
	}
	return tw.Flush()
}

// cell cleans a field for a tab-separated line: tabs would break the columns.
func cell(s string, n int) string {
	s = clean(s, n)
	if s == "" {
		return "-"
	}
	return s
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
