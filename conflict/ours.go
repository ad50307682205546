package conflict

import (
	"net"
	"sync"
	"time"
)

// OwnAddrs returns a Config.Ours that reports whether an address is ours:
// serverIP (PXE_SERVER_IP, may be nil) or any address of this host. The
// host's addresses are cached for ten seconds so a busy LAN costs no
// netlink dump per reply.
func OwnAddrs(serverIP net.IP) func(net.IP) bool {
	var (
		mu     sync.Mutex
		addrs  []net.IP
		loaded time.Time
	)
	return func(ip net.IP) bool {
		if serverIP != nil && serverIP.Equal(ip) {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if time.Since(loaded) > 10*time.Second {
			loaded = time.Now()
			if as, err := net.InterfaceAddrs(); err == nil {
				addrs = addrs[:0]
				for _, a := range as {
					if n, ok := a.(*net.IPNet); ok {
						addrs = append(addrs, n.IP)
					}
				}
			}
		}
		for _, a := range addrs {
			if a.Equal(ip) {
				return true
			}
		}
		return false
	}
}
