package tftpd

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// source produces the payload of block n (1-based, absolute, never wrapped)
// into buf, which is one block long. It is asked for blocks of the current
// window only, in any order within it, so retransmits re-read the file
// instead of keeping the window in memory.
type source interface {
	block(n int64, buf []byte) (int, error)
}

var errFileChanged = errors.New("file changed during transfer")

// readAhead is how much of the file an octet transfer reads at once: one
// pread serves ~44 blocks of 1468 bytes instead of one each, and a window
// resent after a loss is usually still in it.
const readAhead = 64 << 10

// octetSource reads blocks through a read-ahead buffer, bounded by the size
// at open so the transfer matches the tsize that was announced.
type octetSource struct {
	f     io.ReaderAt
	size  int64
	pool  *sync.Pool
	buf   *[]byte // from pool; nil after release
	cache []byte  // file bytes [coff, coff+len(cache))
	coff  int64
}

// newOctetSource reads f through a read-ahead buffer from pool, which
// holds *[]byte of readAhead bytes. The buffer is taken for the second
// block: the first goes out before the client has answered (its address
// may be forged), and 256 transfers from forged addresses holding 64 KiB
// each took the process past its memory bound (issue #15).
func newOctetSource(f io.ReaderAt, size int64, pool *sync.Pool) *octetSource {
	return &octetSource{f: f, size: size, pool: pool}
}

// newReadAheadPool returns a pool for newOctetSource.
func newReadAheadPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, readAhead); return &b }}
}

// release returns the read-ahead buffer to the pool.
func (s *octetSource) release() {
	if s.buf != nil {
		s.pool.Put(s.buf)
	}
	s.buf, s.cache = nil, nil
}

func (s *octetSource) block(n int64, buf []byte) (int, error) {
	off := (n - 1) * int64(len(buf))
	want := min(int64(len(buf)), max(s.size-off, 0))
	if want == 0 {
		return 0, nil
	}
	if off < s.coff || off+want > s.coff+int64(len(s.cache)) {
		if s.buf == nil {
			if n == 1 {
				return s.readBlock(n, off, buf[:want])
			}
			s.buf = s.pool.Get().(*[]byte)
		}
		c := (*s.buf)[:min(int64(len(*s.buf)), s.size-off)]
		got, err := s.f.ReadAt(c, off)
		if int64(got) < want {
			if err == nil || err == io.EOF {
				err = errFileChanged
			}
			s.cache = nil
			return 0, fmt.Errorf("read block %d: %w", n, err)
		}
		s.cache, s.coff = c[:got], off
	}
	return copy(buf, s.cache[off-s.coff:off-s.coff+want]), nil
}

// readBlock reads block n, at off, straight into b.
func (s *octetSource) readBlock(n, off int64, b []byte) (int, error) {
	got, err := s.f.ReadAt(b, off)
	if got < len(b) {
		if err == nil || err == io.EOF {
			err = errFileChanged
		}
		return 0, fmt.Errorf("read block %d: %w", n, err)
	}
	return got, nil
}

// netasciiSource translates the file to netascii (RFC 764: LF -> CR LF,
// CR -> CR NUL) on the fly. The output offset of a block cannot be computed
// from n, so it remembers where each block of the window starts in the file
// (and whether it starts with the second byte of a split pair).
type netasciiSource struct {
	f       io.ReaderAt
	scratch []byte
	starts  []nastart // ring indexed by n % len, covers the window
}

type nastart struct {
	n       int64
	off     int64
	pending byte // second byte of a pair split across blocks, 0xff: none
}

func newNetasciiSource(f io.ReaderAt, blksize, window int) *netasciiSource {
	s := &netasciiSource{f: f, scratch: make([]byte, blksize), starts: make([]nastart, window+2)}
	s.starts[1%len(s.starts)] = nastart{n: 1, pending: 0xff}
	return s
}

func (s *netasciiSource) block(n int64, buf []byte) (int, error) {
	st := s.starts[n%int64(len(s.starts))]
	if st.n != n {
		return 0, fmt.Errorf("netascii block %d: outside window", n)
	}
	out := 0
	if st.pending != 0xff {
		buf[0] = st.pending
		out = 1
	}
	off := st.off
	pending := byte(0xff)
	for out < len(buf) {
		// Each source byte yields at least one output byte, so reading no
		// more than the room left never overshoots.
		r, err := s.f.ReadAt(s.scratch[:len(buf)-out], off)
		if r == 0 {
			if err == io.EOF || err == nil {
				break
			}
			return 0, fmt.Errorf("read block %d: %w", n, err)
		}
		i := 0
		for ; i < r && out < len(buf); i++ {
			c := s.scratch[i]
			var second byte
			switch c {
			case '\n':
				c, second = '\r', '\n'
			case '\r':
				second = 0
			default:
				buf[out] = c
				out++
				continue
			}
			buf[out] = c
			out++
			if out < len(buf) {
				buf[out] = second
				out++
			} else {
				pending = second
			}
		}
		off += int64(i)
	}
	next := nastart{n: n + 1, off: off, pending: pending}
	s.starts[next.n%int64(len(s.starts))] = next
	return out, nil
}
