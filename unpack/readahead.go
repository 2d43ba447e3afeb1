package unpack

import (
	"errors"
	"io"
)

// readahead decompresses and hashes on its own goroutine while the caller
// writes files: on two cores, inflate and the file system then work at the
// same time instead of taking turns. At most bufs chunks of size bytes are
// in flight, which bounds the memory it adds.
type readahead struct {
	full chan []byte
	free chan []byte
	stop chan struct{}
	done chan struct{}
	err  error // set before full is closed
	cur  []byte
	buf  []byte // the chunk cur is a tail of, returned to free when used up
}

func newReadahead(r io.Reader, bufs, size int) *readahead {
	ra := &readahead{
		full: make(chan []byte, bufs),
		free: make(chan []byte, bufs),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range bufs {
		ra.free <- make([]byte, size)
	}
	go ra.fill(r)
	return ra
}

func (ra *readahead) fill(r io.Reader) {
	defer close(ra.done)
	defer close(ra.full)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.stop:
			ra.err = errors.New("readahead closed")
			return
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			select {
			case ra.full <- buf[:n]:
			case <-ra.stop:
				ra.err = errors.New("readahead closed")
				return
			}
		}
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			ra.err = err
			return
		}
	}
}

func (ra *readahead) Read(p []byte) (int, error) {
	if len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		b, ok := <-ra.full
		if !ok {
			return 0, ra.err
		}
		ra.buf, ra.cur = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it: after Close, nothing reads
// the underlying reader any more.
func (ra *readahead) Close() {
	select {
	case <-ra.stop:
	default:
		close(ra.stop)
	}
	for range ra.full { // unblock a pending send
	}
	<-ra.done
}
