package journal

import "time"

// bucket is a token bucket: it holds up to burst tokens and gains rate per
// second.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if b.at.IsZero() {
		b.tokens, b.at = burst, now
		return
	}
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.tokens = min(burst, b.tokens+d*rate)
		b.at = now
	}
}

// maxSources bounds the per-source buckets; sources past it share one
// bucket, so a host that forges relay addresses gets no more than one
// source's share.
const maxSources = 256

// limiter rate-limits the creation of new journeys: per source (a relay's
// address, an ingress interface, or a transfer peer's /24 or /64) and over
// all sources. A flood from one source uses up that source's bucket and
// leaves the others alone; the global bucket caps what many forged sources
// can do together. Neither ever lets more than burst+rate journeys in per
// second, which is what keeps one host from evicting every other client.
type limiter struct {
	rate, burst   float64 // per source
	grate, gburst float64 // global
	global        bucket
	shared        bucket // sources past maxSources
	src           map[string]*bucket
	swept         time.Time
}

func newLimiter(clients int) *limiter {
	return &limiter{
		rate:   max(1, float64(clients)/100),
		burst:  max(10, float64(clients)/10),
		grate:  max(2, float64(clients)/20),
		gburst: max(20, float64(clients)/4),
		src:    map[string]*bucket{},
	}
}

// allow reports whether source may create a journey now, and takes a token
// from its bucket and the global one if so.
func (l *limiter) allow(source string, now time.Time) bool {
	b := l.src[source]
	if b == nil {
		if len(l.src) >= maxSources {
			l.sweep(now)
		}
		if len(l.src) < maxSources {
			b = &bucket{}
			l.src[source] = b
		} else {
			b = &l.shared
		}
	}
	b.refill(now, l.rate, l.burst)
	l.global.refill(now, l.grate, l.gburst)
	if b.tokens < 1 || l.global.tokens < 1 {
		return false
	}
	b.tokens--
	l.global.tokens--
	return true
}

// sweep forgets sources whose bucket has filled up again (idle ones); a
// forgotten source starts full, so nothing is lost. At most once a second.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Second {
		return
	}
	l.swept = now
	for k, b := range l.src {
		b.refill(now, l.rate, l.burst)
		if b.tokens >= l.burst {
			delete(l.src, k)
		}
	}
}
