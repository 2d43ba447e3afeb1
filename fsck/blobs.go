package fsck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/errdefs"
)

// blobsDir is the OCI layout's blob directory, relative to the store root.
const blobsDir = ocispec.ImageBlobsDir

// hashBufSize is the read size while hashing: large enough that the read
// syscalls cost little next to the hashing. One buffer serves the whole check.
const hashBufSize = 1 << 20

// blobState is what the scan found in the file of one blob.
type blobState struct {
	size int64
	file fs.FileInfo
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
	// file identifies what was found at Path or at the blob's path, so
	// repair deletes that file and not one put there since.
	file fs.FileInfo
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
	memo     map[memoKey][]fault
	buf      []byte
}

func newChecker(st *local.Store) *checker {
	return &checker{
		st:     st,
		byBlob: map[blobKey]*tracked{},
		blobs:  map[digest.Digest]*blobState{},
		memo:   map[memoKey][]fault{},
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
	root := c.st.Root()
	algs, err := os.ReadDir(filepath.Join(root, blobsDir))
	if err != nil {
		return fmt.Errorf("fsck %s: %w", root, err)
	}
	for _, a := range algs {
		rel := filepath.Join(blobsDir, a.Name())
		alg := digest.Algorithm(a.Name())
		if a.IsDir() && !alg.Available() {
			// Another tool's blobs under an algorithm imagec cannot
			// verify: neither judged nor touched.
			continue
		}
		if !a.IsDir() {
			c.stray(rel, "not a digest algorithm directory")
			continue
		}
		entries, err := os.ReadDir(filepath.Join(root, rel))
		if err != nil {
			return fmt.Errorf("fsck %s: %w", root, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := c.scanBlob(ctx, alg, e, filepath.Join(rel, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *checker) scanBlob(ctx context.Context, alg digest.Algorithm, e fs.DirEntry, rel string) error {
	d := digest.NewDigestFromEncoded(alg, e.Name())
	if d.Validate() != nil {
		c.stray(rel, "not named by a valid "+string(alg)+" digest")
		return nil
	}
	if !e.Type().IsRegular() {
		// A symlink (or a directory, a device) where a blob belongs is not
		// the blob, whatever it points to: corrupt, and deleted on repair.
		fi, err := os.Lstat(filepath.Join(c.st.Root(), rel))
		if err != nil {
			return nil // gone already
		}
		c.blobs[d] = &blobState{file: fi, bad: KindCorruptBlob}
		p := c.blobProblem(KindCorruptBlob, d, fmt.Sprintf("not a regular file (%s)", typeName(fi.Mode())))
		p.file = fi
		c.report.Blobs++
		return nil
	}
	size, got, fi, err := c.hashFile(ctx, d)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return nil // removed while scanning: nothing left to check
	case errors.Is(err, fs.ErrPermission):
		// Every blob would look unreadable: the check as a whole is moot.
		return fmt.Errorf("fsck %s: verify blob %s: %w", c.st.Root(), d, err)
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		c.blobs[d] = &blobState{size: size, file: fi, bad: KindUnreadableBlob}
		c.blobProblem(KindUnreadableBlob, d, fmt.Sprintf("cannot read it to verify: %v", err))
		c.report.Blobs++
		return nil
	}
	c.report.Blobs++
	st := &blobState{size: size, file: fi}
	c.blobs[d] = st
	if got != d {
		st.bad = KindCorruptBlob
		p := c.blobProblem(KindCorruptBlob, d, fmt.Sprintf("content (%d bytes) hashes to %s", size, got))
		p.file = fi
	}
	return nil
}

// hashFile hashes blob d as a stream, opened as the store opens blobs (no
// symlinks followed), and returns its size, its digest and its FileInfo.
func (c *checker) hashFile(ctx context.Context, d digest.Digest) (int64, digest.Digest, fs.FileInfo, error) {
	alg := d.Algorithm()
	f, err := c.st.Open(ctx, d)
	if err != nil {
		return 0, "", nil, err
	}
	defer f.Close()
	fi, err := f.(interface{ Stat() (fs.FileInfo, error) }).Stat()
	if err != nil {
		return 0, "", nil, err
	}
	if c.buf == nil {
		c.buf = make([]byte, hashBufSize)
	}
	// A plain read loop rather than io.Copy: it checks ctx between chunks,
	// so a cancelled check does not finish hashing a multi-gigabyte layer.
	dg := alg.Digester()
	h := dg.Hash()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, "", fi, err
		}
		m, err := f.Read(c.buf)
		h.Write(c.buf[:m])
		n += int64(m)
		if err == io.EOF {
			return n, dg.Digest(), fi, nil
		}
		if err != nil {
			return n, "", fi, err
		}
	}
}

// typeName names a file type for messages.
func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	}
	return "type " + m.Type().String()
}

// stray records rel (relative to the store root) as a stray file.
func (c *checker) stray(rel, why string) {
	fi, err := os.Lstat(filepath.Join(c.st.Root(), rel))
	if err != nil {
		return // gone already
	}
	c.add(&tracked{Problem: Problem{Kind: KindStrayFile, Path: filepath.ToSlash(rel), Detail: why}, file: fi})
}
