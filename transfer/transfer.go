// Package transfer schedules blob transfers in either direction (pulls
// fetching into a store, pushes uploading out of one): one transfer per
// blob at a time, the others waiting for it and sharing its outcome; at
// most a fixed number of transfers moving bytes at once, a slot held only
// while bytes flow (so waiting on a lock or an fsync never blocks another
// blob); and progress counted as bytes pass.
//
// Retries are not its business: each transfer runs under the registry
// client's one retry policy and budget (registry.Download, registry.Upload).
package transfer

import (
	"context"
	"errors"
	"sync"

	"github.com/opencontainers/go-digest"
)

// Scheduler coordinates the transfers of any number of concurrent jobs.
// It is safe for concurrent use; the zero value is not usable (use New).
type Scheduler struct {
	slots chan struct{}
	conns chan struct{}

	mu       sync.Mutex
	inflight map[key]*flight
}

// key tells transfers apart: the same blob fetched and uploaded (or
// uploaded to two places) are different transfers.
type key struct {
	d     digest.Digest
	where string
}

// flight is one transfer others wait on instead of repeating it.
type flight struct {
	done chan struct{}
	err  error
}

// DefaultConnections is how many connections the transfers of a Scheduler
// may hold at once: a transfer holds one; a large blob fetched in parts
// takes more while they are free.
const DefaultConnections = 8

// Option configures New.
type Option func(*Scheduler)

// WithConnections bounds the connections all transfers hold at once (at
// least the number of slots). Default DefaultConnections.
func WithConnections(n int) Option {
	return func(s *Scheduler) { s.conns = make(chan struct{}, max(n, cap(s.slots))) }
}

// New returns a Scheduler letting at most parallel transfers move bytes at
// once (1 if parallel is less).
func New(parallel int, opts ...Option) *Scheduler {
	s := &Scheduler{slots: make(chan struct{}, max(parallel, 1)), inflight: map[key]*flight{}}
	s.conns = make(chan struct{}, max(DefaultConnections, cap(s.slots)))
	for _, o := range opts {
		o(s)
	}
	return s
}

// Once runs fn as the transfer of blob d to or from where (a name for the
// other end: a store, a repository), unless that transfer is already
// running in this scheduler: then it waits for it (calling onWait first,
// if set) and returns its outcome. A transfer that ended because its own
// context did is not shared: the waiter runs fn itself. shared reports
// whether the outcome was another caller's.
func (s *Scheduler) Once(ctx context.Context, d digest.Digest, where string, onWait func(), fn func(context.Context) error) (shared bool, err error) {
	k := key{d, where}
	for {
		s.mu.Lock()
		f, busy := s.inflight[k]
		if !busy {
			f = &flight{done: make(chan struct{})}
			s.inflight[k] = f
		}
		s.mu.Unlock()
		if !busy {
			f.err = fn(ctx)
			s.mu.Lock()
			delete(s.inflight, k)
			s.mu.Unlock()
			close(f.done)
			return false, f.err
		}
		if onWait != nil {
			onWait()
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-f.done:
		}
		if !errors.Is(f.err, context.Canceled) && !errors.Is(f.err, context.DeadlineExceeded) {
			// Success, or a failure on the other end's account after the
			// blob's retry budget was spent: a second round would double it.
			return true, f.err
		}
		// The other transfer was cancelled, for a reason of its own.
	}
}

// Slot waits for one of the scheduler's slots and returns its release. Hold
// it only while bytes flow.
func (s *Scheduler) Slot(ctx context.Context) (release func(), err error) {
	return take(ctx, s.slots)
}

// Conn waits for one of the scheduler's connections and returns its
// release: each part of a blob fetched in parts holds one while its request
// runs, so the parts of all transfers share one bound.
func (s *Scheduler) Conn(ctx context.Context) (release func(), err error) {
	return take(ctx, s.conns)
}

func take(ctx context.Context, sem chan struct{}) (func(), error) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
