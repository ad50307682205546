package journal

import (
	"path"
	"strings"
	"sync"
	"time"
)

// Closest returns the name in names nearest to name, the file a client asked
// for and did not get, or "" when none is near. In order of preference: the
// same name in another case or with backslashes; the same name without its
// extension, with another one or with one more; the same file name in
// another folder; a name at most a few edits away (case ignored).
func Closest(name string, names []string) string {
	want := fileKey(name)
	if want == "" {
		return ""
	}
	stem := strings.TrimSuffix(want, path.Ext(want))
	base := path.Base(want)
	limit := min(3, max(1, len(want)/4))
	best, bestScore := "", 1<<30
	for _, n := range names {
		k := fileKey(n)
		score := 1 << 30
		switch {
		case k == want:
			score = 0
		case strings.TrimSuffix(k, path.Ext(k)) == stem, k == stem, strings.TrimSuffix(k, path.Ext(k)) == want:
			// Another extension, none, or one more: Debian ships its
			// signed boot files as NAME.efi.signed.
			score = 1
		case path.Base(k) == base:
			score = 2
		default:
			if d := editDistance(want, k, limit); d <= limit {
				score = 2 + d
			}
		}
		if score == 1<<30 {
			continue
		}
		// Ties go to the name nearest in length, then the first in order.
		if score < bestScore || (score == bestScore && (lenDiff(k, want) < lenDiff(fileKey(best), want) ||
			lenDiff(k, want) == lenDiff(fileKey(best), want) && n < best)) {
			best, bestScore = n, score
		}
	}
	return best
}

func lenDiff(a, b string) int { return max(len(a)-len(b), len(b)-len(a)) }

// editDistance is the Levenshtein distance of a and b, or limit+1 when it
// is larger than limit; only a band of width 2*limit+1 is computed, so a
// long list of names costs little.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		lo, hi := max(1, i-limit), min(len(b), i+limit)
		if lo > 1 {
			cur[lo-1] = limit + 1
		}
		rowMin := cur[0]
		if lo > 1 {
			rowMin = limit + 1
		}
		for j := lo; j <= hi; j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
			rowMin = min(rowMin, c)
		}
		if hi < len(b) {
			cur[hi+1] = limit + 1
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit+1)
}

// namesCache asks Config.Names at most every namesTTL and answers at most
// closestBurst look-ups at once plus closestRate a second, so a flood of
// requests for missing files costs little.
type namesCache struct {
	fetch func() []string
	mu    sync.Mutex
	names []string
	at    time.Time
	lim   bucket
}

const (
	namesTTL     = 10 * time.Second
	maxNames     = 5000
	closestRate  = 10
	closestBurst = 20
)

// closest names the existing file nearest to name, or "".
func (j *Journal) closest(name string) string {
	c := &j.names
	if c.fetch == nil {
		return ""
	}
	now := j.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lim.refill(now, closestRate, closestBurst)
	if c.lim.tokens < 1 {
		return ""
	}
	c.lim.tokens--
	if c.names == nil || now.Sub(c.at) >= namesTTL {
		names := c.fetch()
		c.names, c.at = make([]string, 0, min(len(names), maxNames)), now
		for _, n := range names[:min(len(names), maxNames)] {
			c.names = append(c.names, clean(n, maxFile))
		}
	}
	return Closest(name, c.names)
}
