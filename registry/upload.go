package registry

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

const (
	// defaultChunkThreshold is the largest blob sent in one PUT: image
	// configs and small layers, for which one request beats a session of
	// chunks, and whose resend after a failure costs little.
	defaultChunkThreshold = 16 << 20
	// defaultChunkSize is the size of a PATCH: large enough that the
	// round trips don't show, small enough that a registry which drops a
	// chunk cut off midway (not every one keeps the part it received)
	// costs at most that much again. S3-backed registries need at least 5
	// MiB per chunk; they say so with OCI-Chunk-Min-Length, which raises it.
	defaultChunkSize = 16 << 20
)

// BlobSource opens the content of a blob being uploaded, from offset on. An
// upload opens it again at the offset the registry reports after a failure,
// so it must start anywhere from 0 to the blob's size. Its bytes are not
// hashed here: the upload ends with a PUT carrying the digest, and the
// registry verifies it. A failure of the source ends the upload (a source
// that reads from the network resumes on its own, as a Download does).
type BlobSource func(ctx context.Context, offset int64) (io.ReadCloser, error)

// ReaderAtSource is a BlobSource reading r: a blob of a content store
// (content.Reader), a file.
func ReaderAtSource(r io.ReaderAt) BlobSource {
	return func(_ context.Context, offset int64) (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(r, offset, math.MaxInt64-offset)), nil
	}
}

// BlobPush says how a blob came to be in the repository.
type BlobPush int

const (
	// BlobUploaded: its bytes were sent and the registry verified them.
	BlobUploaded BlobPush = iota + 1
	// BlobExists: the repository had it already; nothing was sent.
	BlobExists
	// BlobMounted: the registry linked it from the MountFrom repository;
	// nothing was sent.
	BlobMounted
)

func (p BlobPush) String() string {
	switch p {
	case BlobUploaded:
		return "uploaded"
	case BlobExists:
		return "exists"
	case BlobMounted:
		return "mounted"
	}
	return fmt.Sprintf("BlobPush(%d)", int(p))
}

// UploadOption configures PushBlob.
type UploadOption func(*uploadOptions)

type uploadOptions struct {
	mountFrom *reference.Reference
	threshold int64
	chunk     int64
	progress  func(offset int64)
	onRetry   func(delay time.Duration)
}

// MountFrom asks the registry to mount the blob from repo, another
// repository of the same registry that has it, instead of uploading it
// (POST .../blobs/uploads/?mount=<digest>&from=<repo>; the token asked for
// carries pull on repo). A registry that cannot (no such blob there, no
// pull right on repo, mounts unsupported) starts an upload instead, which
// PushBlob then makes. A repo on another registry is ignored. Default: no
// mount.
func MountFrom(repo reference.Reference) UploadOption {
	return func(o *uploadOptions) { o.mountFrom = &repo }
}

// ChunkThreshold sets the largest blob sent in one PUT; larger ones are
// sent in PATCH chunks (ChunkSize) and closed by an empty PUT. Default: 16
// MiB.
func ChunkThreshold(n int64) UploadOption {
	return func(o *uploadOptions) { o.threshold = max(n, 0) }
}

// ChunkSize sets the bytes per PATCH of a chunked upload (at least 1); a
// registry's OCI-Chunk-Min-Length raises it. Default: 16 MiB.
func ChunkSize(n int64) UploadOption {
	return func(o *uploadOptions) { o.chunk = max(n, 1) }
}

// OnUploadProgress has f told the offset in the blob of the bytes sent so
// far, as the transport takes them. After a resume the offset goes back to
// where the registry stands. f is called from net/http's goroutine sending
// the request, never concurrently with itself; it must return quickly.
// Default none.
func OnUploadProgress(f func(offset int64)) UploadOption {
	return func(o *uploadOptions) { o.progress = f }
}

// OnUploadRetry has f told the pause before every retry of the upload, so
// a progress display can say so. Default none.
func OnUploadRetry(f func(delay time.Duration)) UploadOption {
	return func(o *uploadOptions) { o.onRetry = f }
}

// PushBlob makes blob desc present in ref's repository (ref's tag or digest
// plays no part), reading its content from src only if it must:
//   - a HEAD finds it there: BlobExists;
//   - with MountFrom, the registry mounts it: BlobMounted;
//   - else it is uploaded, in one PUT up to ChunkThreshold, else in PATCH
//     chunks with Content-Range, closed by a PUT carrying its digest, which
//     the registry verifies: BlobUploaded.
//
// The upload is one operation of the client's retry policy: network
// errors, 5xx and 429 (after its Retry-After) are retried, and the blob
// gives up after the client's attempts (WithRetry, default 5) failed
// requests in all, whichever step failed; requests that move the upload on
// are not charged. After a failure midway it asks the session where it
// stands (a GET of its URL: 204 with Range 0-N) and resumes from the
// registry's offset, reading src again from there; a session the registry
// lost, or whose offset disagrees with the upload's (416), starts again
// from 0; a closing PUT whose answer was lost is checked with a HEAD.
// Location headers may be relative or absolute and change with every
// response; one may name another host, which gets only its own credentials
// (registry/auth), and the redirect rules hold for it (never https to http,
// nor a public registry to an internal address).
//
// Errors are one line naming the blob and the repository, with the
// categories of a push: errdefs.ErrDenied (403, DENIED, a token without
// push), ErrQuotaExceeded, ErrDigestMismatch (the registry hashed another
// digest: src does not hold the blob), ErrSizeMismatch, ErrNotFound,
// ErrInvalidArgument, ErrUnauthorized, ErrUnavailable.
func (c *Client) PushBlob(ctx context.Context, ref reference.Reference, desc ocispec.Descriptor, src BlobSource, opts ...UploadOption) (BlobPush, error) {
	what := fmt.Sprintf("push blob %s to %s", desc.Digest, ref.Name())
	if err := checkRange(desc, 0, "for "+ref.Name()); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if src == nil {
		return 0, fmt.Errorf("%s: no source: %w", what, errdefs.ErrInvalidArgument)
	}
	o := uploadOptions{threshold: defaultChunkThreshold, chunk: defaultChunkSize}
	for _, opt := range opts {
		opt(&o)
	}
	u := &upload{c: c, ref: ref, desc: desc, src: src, o: o, host: ref.Host(), b: c.newBudget()}
	u.b.onRetry = o.onRetry
	pushed, err := u.run(ctx)
	if err != nil {
		return 0, writeError(what, err)
	}
	return pushed, nil
}

func (u *upload) run(ctx context.Context) (BlobPush, error) {
	if there, err := u.exists(ctx); err != nil || there {
		return BlobExists, err
	}
	if mounted, err := u.start(ctx, u.mountable()); err != nil || mounted {
		return BlobMounted, err
	}
	return BlobUploaded, u.transfer(ctx)
}

// mountable reports whether MountFrom names another repository of ref's
// registry: a mount cannot cross registries.
func (u *upload) mountable() bool {
	from := u.o.mountFrom
	return from != nil && hostKey(from.Host()) == hostKey(u.host) && from.Path() != u.ref.Path()
}
