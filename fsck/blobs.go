package fsck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
)

// hashBufSize is the read size while hashing: large enough that the read
// syscalls cost little next to the hashing. One buffer serves the whole check.
const hashBufSize = 1 << 20

// blobState is what the scan found in the file of one blob.
type blobState struct {
	size int64
	file local.FileID
	// bad is KindCorruptBlob or KindUnreadableBlob; empty when the content
	// hashes to the digest.
	bad Kind
}

// tracked is a problem plus what repair needs to know about it.
type tracked struct {
	Problem
	// needers are the names whose content needs this blob.
	needers []string
	// entry is the index.json descriptor a dangling name pointed to, and
	// removable whether repair should remove the name.
	entry     ocispec.Descriptor
	removable bool
	// rel and file say what was found where (relative to the store root),
	// so repair deletes that file and not one put there since; rel is ""
	// when there is nothing to delete.
	rel  string
	file local.FileID
	// layer is what was found at a corrupt unpacked layer's directory.
	layer fs.FileInfo
}

type blobKey struct {
	kind Kind
	d    digest.Digest
}

// checker holds the state of one Check.
type checker struct {
	st       *local.Store
	report   Report
	problems []*tracked
	byBlob   map[blobKey]*tracked
	blobs    map[digest.Digest]*blobState
	buf      []byte
}

func newChecker(st *local.Store) *checker {
	return &checker{
		st:     st,
		byBlob: map[blobKey]*tracked{},
		blobs:  map[digest.Digest]*blobState{},
	}
}

func (c *checker) add(p *tracked) *tracked {
	c.problems = append(c.problems, p)
	return p
}

// blobProblem returns the problem of kind about blob d, creating it with
// detail the first time, so a blob many images need is reported once.
func (c *checker) blobProblem(kind Kind, d digest.Digest, detail string) *tracked {
	k := blobKey{kind, d}
	if p, ok := c.byBlob[k]; ok {
		return p
	}
	p := c.add(&tracked{Problem: Problem{Kind: kind, Digest: d, Detail: detail}})
	c.byBlob[k] = p
	return p
}

// scanBlobs verifies every file under blobs/ and reports those that do not
// hash to their names and those that are not blobs at all.
func (c *checker) scanBlobs(ctx context.Context) error {
	err := c.st.ScanBlobs(ctx, func(e local.BlobEntry) error {
		if e.Digest == "" {
			c.add(&tracked{Problem: Problem{Kind: KindStrayFile, Path: e.Rel, Detail: e.Stray}, rel: e.Rel, file: e.File.ID})
			return nil
		}
		return c.scanBlob(ctx, e)
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("fsck %s: %w", c.st.Root(), err)
	}
	return err
}

func (c *checker) scanBlob(ctx context.Context, e local.BlobEntry) error {
	d := e.Digest
	c.report.Blobs++
	if !e.File.Regular() {
		// A symlink (or a directory, a device) where a blob belongs is not
		// the blob, whatever it points to: corrupt, and deleted on repair.
		c.blobs[d] = &blobState{file: e.File.ID, bad: KindCorruptBlob}
		p := c.blobProblem(KindCorruptBlob, d, fmt.Sprintf("not a regular file (a %s)", e.File.Type))
		p.rel, p.file = e.Rel, e.File.ID
		return nil
	}
	size, got, err := c.hashBlob(ctx, d)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		c.report.Blobs--
		return nil // removed while scanning: nothing left to check
	case errors.Is(err, fs.ErrPermission):
		// Every blob would look unreadable: the check as a whole is moot.
		return fmt.Errorf("fsck %s: verify blob %s: %w", c.st.Root(), d, err)
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		c.blobs[d] = &blobState{size: size, file: e.File.ID, bad: KindUnreadableBlob}
		c.blobProblem(KindUnreadableBlob, d, fmt.Sprintf("cannot read it to verify: %v", err))
		return nil
	}
	st := &blobState{size: size, file: e.File.ID}
	c.blobs[d] = st
	if got != d {
		st.bad = KindCorruptBlob
		p := c.blobProblem(KindCorruptBlob, d, fmt.Sprintf("content (%d bytes) hashes to %s", size, got))
		p.rel, p.file = e.Rel, e.File.ID
	}
	return nil
}

// hashBlob hashes blob d as a stream and returns its size and digest.
func (c *checker) hashBlob(ctx context.Context, d digest.Digest) (int64, digest.Digest, error) {
	f, err := c.st.Open(ctx, d)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	if c.buf == nil {
		c.buf = make([]byte, hashBufSize)
	}
	// A plain read loop rather than io.Copy: it checks ctx between chunks,
	// so a cancelled check does not finish hashing a multi-gigabyte layer.
	dg := d.Algorithm().Digester()
	h := dg.Hash()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, "", err
		}
		m, err := f.Read(c.buf)
		h.Write(c.buf[:m])
		n += int64(m)
		if err == io.EOF {
			return n, dg.Digest(), nil
		}
		if err != nil {
			return n, "", err
		}
	}
}
