package local

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/safefs"
)

// Writer ingests one blob: bytes go straight to a file under
// .imagec/ingest/<alg>-<hex>/data while being hashed, and Commit moves the
// verified file into blobs/. The writer holds an exclusive lock on its ingest
// entry until Commit or Close, so at most one writer per blob exists across
// all processes sharing the store. A Writer is not safe for concurrent use.
type Writer struct {
	store     *Store
	desc      ocispec.Descriptor
	dir       string
	lock      *fileLock
	data      *os.File
	digester  digest.Digester
	hash      hash.Hash // digester.Hash(), kept to avoid a call per Write
	offset    int64
	flushed   int64 // data up to here has been handed to writeback
	closed    bool
	committed bool
}

// Writer opens the ingest entry for desc, waiting (honouring ctx) while
// another writer of the same blob holds it; a lock held by a process that
// died is released by the kernel. If the blob is already committed, the
// error wraps errdefs.ErrAlreadyExists, which callers treat as success.
//
// Data left in the entry by an earlier writer that was closed or killed is
// kept: it is re-hashed and Offset reports where to resume (for example with
// an HTTP Range request). Partial data longer than desc.Size cannot be a
// prefix of the blob and is discarded.
func (s *Store) Writer(ctx context.Context, desc ocispec.Descriptor, opts ...content.WriterOption) (content.Writer, error) {
	var o content.WriterOptions
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := blobRelChecked(desc.Digest); err != nil {
		return nil, err
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("ingest blob %s: negative size %d: %w", desc.Digest, desc.Size, errdefs.ErrInvalidArgument)
	}
	// Cheap check first so that pulling an image whose layers are present
	// creates no ingest entries at all.
	if s.Has(ctx, desc) {
		return nil, alreadyExists(desc.Digest)
	}
	dir := ingestDir + "/" + string(desc.Digest.Algorithm()) + "-" + desc.Digest.Encoded()
	s.clearNonDir(dir)
	lock, err := s.acquireLock(ctx, dir+"/lock", o.OnWait)
	if err != nil {
		return nil, diskFull(s.root, fmt.Errorf("ingest blob %s: %w", desc.Digest, err))
	}
	// The previous holder may have committed while we waited.
	if s.Has(ctx, desc) {
		s.removeIngest(dir)
		lock.release()
		return nil, alreadyExists(desc.Digest)
	}
	data, err := s.openIngestData(dir + "/data")
	if err != nil {
		lock.release()
		return nil, diskFull(s.root, fmt.Errorf("ingest blob %s: %w", desc.Digest, err))
	}
	dg := desc.Digest.Algorithm().Digester()
	w := &Writer{store: s, desc: desc, dir: dir, lock: lock, data: data, digester: dg, hash: dg.Hash()}
	if err := w.resume(); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// clearNonDir removes what sits at an ingest entry's path if it is not a
// directory (a planted symlink): the entry is scratch space, and leaving
// the thing there would block every pull of the blob.
func (s *Store) clearNonDir(rel string) {
	if st, err := s.fs.Lstat(rel); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		s.fs.Remove(rel)
	}
}

// openIngestData opens (creating) the partial data file of an ingest entry
// whose lock the caller holds. The ingest area is imagec's scratch space:
// anything there that is not a regular file (a planted symlink, a
// directory) is not partial data, so it is removed, never written through,
// and the entry starts empty.
func (s *Store) openIngestData(rel string) (*os.File, error) {
	for attempt := 0; ; attempt++ {
		f, err := s.fs.OpenFile(rel, os.O_RDWR|os.O_CREATE, filePerm)
		if err == nil {
			fi, serr := f.Stat()
			if serr == nil && fi.Mode().IsRegular() {
				return f, nil
			}
			f.Close()
			if serr != nil {
				return nil, serr
			}
		}
		notData := err == nil || errors.Is(err, safefs.ErrSymlink) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENXIO)
		if !notData || attempt > 0 {
			return nil, err
		}
		if rerr := s.fs.Remove(rel); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a regular file and cannot be removed: %w", s.fs.Join(rel), rerr)
		}
	}
}

// resume hashes the partial data already in the entry and positions the
// writer after it. This is the only time the writer reads its file.
func (w *Writer) resume() error {
	fi, err := w.data.Stat()
	if err != nil {
		return w.errorf("resume: %w", err)
	}
	if fi.Size() > w.desc.Size {
		return w.Reset()
	}
	n, err := io.Copy(w.hash, w.data)
	if err != nil {
		return w.errorf("resume: re-hash partial data: %w", err)
	}
	w.offset, w.flushed = n, n
	return nil
}

// Write appends p to the blob and hashes it. A write that would take the
// blob past desc.Size fails with errdefs.ErrSizeMismatch and writes nothing,
// so a misbehaving server cannot make the store write without bound.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, w.errorf("write: %w", os.ErrClosed)
	}
	if int64(len(p)) > w.desc.Size-w.offset {
		return 0, w.errorf("write at offset %d: %d more bytes exceed size %d: %w",
			w.offset, len(p), w.desc.Size, errdefs.ErrSizeMismatch)
	}
	n, err := w.data.Write(p)
	w.hash.Write(p[:n])
	w.offset += int64(n)
	if err != nil {
		return n, w.errorf("write: %w", err)
	}
	if w.offset-w.flushed >= writebackChunk {
		// Start writing back what is done, without waiting, so that the
		// fsync at Commit finds the disk mostly caught up instead of
		// writing the whole blob then.
		_ = unix.SyncFileRange(int(w.data.Fd()), w.flushed, w.offset-w.flushed, unix.SYNC_FILE_RANGE_WRITE)
		w.flushed = w.offset
	}
	return n, nil
}

// ReadAt reads back data the writer holds, as io.ReaderAt does, so that a
// server can stream a blob on to its clients while it is ingested (and
// before it is verified: the caller must hold back what Commit has not
// vouched for). off+len(p) must be at most an Offset the caller saw. It may
// run while Write does, since Write only appends past that offset, but not
// with Reset, Commit or Close, which move or close the data.
func (w *Writer) ReadAt(p []byte, off int64) (int, error) {
	if w.closed {
		return 0, w.errorf("read: %w", os.ErrClosed)
	}
	return w.data.ReadAt(p, off)
}

// writebackChunk is how much written data prompts an early writeback.
const writebackChunk = 8 << 20

// Offset returns how many bytes the ingest entry holds, including data
// resumed from an earlier writer.
func (w *Writer) Offset() int64 { return w.offset }

// Reset discards the data written so far, so a download can restart from
// the beginning (for example when the server ignores a Range request).
func (w *Writer) Reset() error {
	if w.closed {
		return w.errorf("reset: %w", os.ErrClosed)
	}
	if err := w.data.Truncate(0); err != nil {
		return w.errorf("reset: %w", err)
	}
	if _, err := w.data.Seek(0, io.SeekStart); err != nil {
		return w.errorf("reset: %w", err)
	}
	w.hash.Reset()
	w.offset, w.flushed = 0, 0
	return nil
}

// Commit verifies the data against the descriptor and stores it as the
// blob. A nil error means the content is stored at desc.Digest; a blob that
// appeared there in the meantime is success too.
//
// If the size or digest is wrong (errdefs.ErrSizeMismatch or
// errdefs.ErrDigestMismatch), the data is discarded so a retry starts from
// zero, and the writer stays open and locked at offset 0: write again, or
// Close it. After any other failure the data is kept for a later resume.
func (w *Writer) Commit(ctx context.Context) error {
	if w.committed {
		return nil
	}
	if w.closed {
		return w.errorf("commit: %w", os.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return w.errorf("commit: %w", err)
	}
	if w.offset != w.desc.Size {
		err := w.errorf("commit: have %d bytes, want %d: %w", w.offset, w.desc.Size, errdefs.ErrSizeMismatch)
		return errors.Join(err, w.Reset())
	}
	if got := w.digester.Digest(); got != w.desc.Digest {
		err := w.errorf("commit: content hashes to %s: %w", got, errdefs.ErrDigestMismatch)
		return errors.Join(err, w.Reset())
	}
	if !w.store.Has(ctx, w.desc) {
		if err := w.publish(); err != nil {
			return err
		}
	}
	w.data.Close()
	w.store.removeIngest(w.dir)
	w.lock.release()
	w.closed, w.committed = true, true
	return nil
}

// publish makes the verified ingest file the blob: its contents reach the
// disk before the rename, and the rename reaches the disk before Commit
// returns, so after a crash the blob is either absent or complete. Whatever
// was at the blob's path (a truncated copy, a planted symlink) is replaced.
func (w *Writer) publish() error {
	if err := w.data.Sync(); err != nil {
		return w.errorf("commit: sync: %w", err)
	}
	// Committed blobs are content-addressed and must never change; the
	// read-only mode guards against accidental writes through the path.
	if err := w.data.Chmod(blobFilePerm); err != nil {
		return w.errorf("commit: %w", err)
	}
	fs := w.store.fs
	target := blobRel(w.desc.Digest)
	dir := blobsDir + "/" + string(w.desc.Digest.Algorithm())
	if err := fs.MkdirAll(dir, dirPerm); err != nil {
		return w.errorf("commit: %w", err)
	}
	if err := fs.Rename(w.dir+"/data", target); err != nil {
		// Keep the partial file writable so a later (unprivileged) writer
		// can still open it to resume.
		w.data.Chmod(filePerm)
		return w.errorf("commit: %w", err)
	}
	// The rename moved whatever was named data at that instant; it must be
	// the file that was written and verified, not something swapped in.
	var held unix.Stat_t
	if err := unix.Fstat(int(w.data.Fd()), &held); err != nil {
		return w.errorf("commit: %w", err)
	}
	cur, err := fs.Lstat(target)
	if err != nil {
		return w.errorf("commit: %w", err)
	}
	if cur.Dev != held.Dev || cur.Ino != held.Ino {
		fs.Remove(target)
		return w.errorf("commit: the ingest file was replaced before it was committed: %w", errdefs.ErrDigestMismatch)
	}
	if err := fs.SyncDir(dir); err != nil {
		return w.errorf("commit: %w", err)
	}
	return nil
}

// Close releases the lock and keeps the partial data so a later Writer for
// the same blob resumes from Offset. It is a no-op after Commit or Close.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.data.Close()
	if rerr := w.lock.release(); err == nil {
		err = rerr
	}
	if err != nil {
		return w.errorf("close: %w", err)
	}
	return nil
}

func (w *Writer) errorf(format string, args ...any) error {
	err := fmt.Errorf("ingest blob %s: "+format, append([]any{w.desc.Digest}, args...)...)
	return diskFull(w.store.root, err)
}

// diskFull marks an error caused by a full filesystem (or an exhausted
// quota) with errdefs.ErrDiskFull, saying which store it is.
func diskFull(root string, err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("no space left in store %s: %w: %w", root, err, errdefs.ErrDiskFull)
	}
	return err
}

// PruneIngest removes the partial downloads that no writer is using (their
// locks are free) and returns how many it removed. Entries being written are
// left alone. Nothing calls it implicitly: pruning discards data a later
// pull could have resumed, so it belongs in an explicit cleanup command.
func (s *Store) PruneIngest(ctx context.Context) (int, error) {
	return s.pruneIngest(ctx, false)
}

// CountIngest reports how many partial downloads PruneIngest would remove
// now: those no writer holds. It removes nothing.
func (s *Store) CountIngest(ctx context.Context) (int, error) {
	return s.pruneIngest(ctx, true)
}

func (s *Store) pruneIngest(ctx context.Context, dryRun bool) (int, error) {
	removed := 0
	err := s.eachIngest(ctx, func(dir, _ string) error {
		l, err := s.tryLock(dir + "/lock")
		if err != nil {
			return nil // busy, or removed by its writer meanwhile
		}
		// In a dry run tryLock may have created the lock file of an entry
		// that had none; the entry is stale either way and stays.
		if !dryRun {
			s.removeIngest(dir)
		}
		l.release()
		removed++
		return nil
	})
	return removed, err
}

// eachIngest calls fn with the path (relative to the root) and the name of
// every ingest entry directory.
func (s *Store) eachIngest(ctx context.Context, fn func(dir, name string) error) error {
	entries, err := s.readDir(ingestDir)
	if err != nil {
		return fmt.Errorf("ingest area of %s: %w", s.root, err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.IsDir() {
			continue
		}
		if err := fn(ingestDir+"/"+e.Name(), e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// removeIngest deletes an ingest entry whose lock the caller holds. The lock
// file is unlinked before it is released; waiters that locked the orphaned
// inode notice (see acquireLock) and start over on a fresh entry. Failures
// only leave clutter behind, so they are ignored.
func (s *Store) removeIngest(dir string) {
	s.fs.Remove(dir + "/data")
	s.fs.Remove(dir + "/lock")
	s.fs.Remove(dir) // fails harmlessly if a new waiter already recreated its lock file
}

func alreadyExists(d digest.Digest) error {
	return fmt.Errorf("ingest blob %s: %w", d, errdefs.ErrAlreadyExists)
}
