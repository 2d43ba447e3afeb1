// Package content names the roles a content store plays, as small
// interfaces: a Provider of verified blobs, an Ingester that commits blobs
// only once they verify, and Names that point at descriptors. The engine
// (pull, image, gc, archive, layers) is written against these roles; the
// OCI image layout on disk (content/local) is one implementation, and a
// read-only server or another backend can be another.
//
// Every implementation keeps the same promises, which callers rely on
// instead of checking again:
//   - a blob is readable only once its size and digest were verified, and
//     it is what its descriptor says: a blob present with another size is
//     absent (Has is false) and a writer replaces it;
//   - nothing outside the store is read or written through it (no
//     symlinks are followed);
//   - a name points only at a blob that is present with the descriptor's
//     size, and a name that pins a digest (repo@sha256:...) points at
//     content with that digest (the content graph's rules decide what
//     that digest is, see content/graph).
package content

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Reader reads one committed blob.
type Reader interface {
	io.ReadSeekCloser
	io.ReaderAt
	// Size is the blob's size in bytes.
	Size() int64
}

// Provider gives access to committed blobs.
type Provider interface {
	// Info returns the size of blob d, or an error wrapping
	// errdefs.ErrNotFound.
	Info(ctx context.Context, d digest.Digest) (int64, error)
	// Has reports whether the blob desc describes is present with
	// desc.Size bytes.
	Has(ctx context.Context, desc ocispec.Descriptor) bool
	// Open opens blob d, or fails wrapping errdefs.ErrNotFound. The bytes
	// were verified when committed; a reader that must not trust the disk
	// since then hashes while reading (or uses ReadBlob).
	Open(ctx context.Context, d digest.Digest) (Reader, error)
	// ReadBlob reads all of blob d, at most max bytes
	// (errdefs.ErrTooLarge), and verifies it against d
	// (errdefs.ErrDigestMismatch).
	ReadBlob(ctx context.Context, d digest.Digest, max int64) ([]byte, error)
}

// Writer ingests one blob. Bytes are hashed as they are written; Commit
// verifies size and digest and only then makes the blob visible. A Writer
// is not safe for concurrent use. A Writer may also be an io.ReaderAt
// reading back what it holds (content/local's is), for a server streaming
// a blob on while it is ingested; see local.Writer.ReadAt for the rules.
type Writer interface {
	io.Writer
	// Offset is how many bytes the writer holds, including partial data
	// resumed from an earlier writer of the same blob.
	Offset() int64
	// Reset discards what was written, to start again from zero.
	Reset() error
	// Commit verifies the data against the descriptor and stores it; a
	// nil error means the blob is stored at the descriptor's digest.
	// A size or digest mismatch (errdefs.ErrSizeMismatch,
	// errdefs.ErrDigestMismatch) discards the data.
	Commit(ctx context.Context) error
	// Close releases the writer, keeping partial data for a later resume.
	Close() error
}

// WriterOption configures Ingester.Writer.
type WriterOption func(*WriterOptions)

// WriterOptions are the settings of one Writer.
type WriterOptions struct {
	// OnWait is called once if the writer has to wait for another writer
	// of the same blob to finish.
	OnWait func()
}

// WithWaiting sets a function called once if the writer has to wait for
// another writer of the same blob (in this process or another) to finish,
// so a UI can report "Waiting". Default: nothing is called.
func WithWaiting(f func()) WriterOption {
	return func(o *WriterOptions) { o.OnWait = f }
}

// Ingester commits blobs.
type Ingester interface {
	// Writer opens an ingest of desc, waiting while another writer of the
	// same blob holds it. An error wrapping errdefs.ErrAlreadyExists means
	// the blob is present: success for a caller that wanted it stored.
	Writer(ctx context.Context, desc ocispec.Descriptor, opts ...WriterOption) (Writer, error)
	// WriteBlob stores data as desc after checking size and digest; a blob
	// already present is success.
	WriteBlob(ctx context.Context, desc ocispec.Descriptor, data []byte) error
}

// NameReader looks image names (full references) up.
type NameReader interface {
	// Images returns every named descriptor, in the store's order; each
	// carries its name in the org.opencontainers.image.ref.name annotation.
	Images(ctx context.Context) ([]ocispec.Descriptor, error)
	// Image returns the descriptor named name (errdefs.ErrNotFound).
	Image(ctx context.Context, name string) (ocispec.Descriptor, error)
}

// Names maps image names (full references) to descriptors.
type Names interface {
	NameReader
	// SetImage names desc, replacing what name pointed at.
	SetImage(ctx context.Context, name string, desc ocispec.Descriptor) error
	// RemoveImage removes the name (errdefs.ErrNotFound if absent).
	RemoveImage(ctx context.Context, name string) error
}

// Attacher records manifests attached to another by their subject field
// (OCI 1.1 referrers: signatures, SBOMs, attestations). An attached
// manifest has no name: it is an entry of Images without one, and it lives
// as long as its subject does (garbage collection keeps it exactly that
// long, see content/graph.Attached).
type Attacher interface {
	// Attach records desc, a stored manifest whose subject field names
	// another (errdefs.ErrInvalidArgument otherwise; ErrNotFound when it
	// is not stored). Attaching it again changes nothing.
	Attach(ctx context.Context, desc ocispec.Descriptor) error
	// Detach removes the record of the attached manifest d
	// (errdefs.ErrNotFound if there is none); its blobs stay until
	// garbage collection.
	Detach(ctx context.Context, d digest.Digest) error
}

// Manager enumerates and removes blobs.
type Manager interface {
	// Walk calls fn for every committed blob.
	Walk(ctx context.Context, fn func(d digest.Digest, size int64) error) error
	// Delete removes blob d (errdefs.ErrNotFound if absent).
	Delete(ctx context.Context, d digest.Digest) error
}

// Leaser keeps garbage collection away from content being written.
type Leaser interface {
	// Lease protects what the caller writes from collection until
	// release; any number coexist.
	Lease(ctx context.Context) (release func(), err error)
	// Exclusive waits for every lease to end and keeps new ones out until
	// release; collection runs under it.
	Exclusive(ctx context.Context) (release func(), err error)
}

// Ingest is the partial-download area of a store.
type Ingest interface {
	// PruneIngest removes the partial downloads no writer holds and says
	// how many; CountIngest counts them and removes nothing.
	PruneIngest(ctx context.Context) (int, error)
	CountIngest(ctx context.Context) (int, error)
}

// Scratch gives temporary space beside the blobs, for data that is not a
// blob yet (files of an archive whose digests are not known until its end).
type Scratch interface {
	// TempDir creates a private directory whose name starts with prefix.
	// release removes it; directories whose owner died are removed by a
	// later TempDir.
	TempDir(ctx context.Context, prefix string) (dir string, release func(), err error)
}

// View reads a store: its blobs and its names.
type View interface {
	Provider
	NameReader
}

// Source is what reading images out of a store takes: its blobs and
// names, and a lease that keeps garbage collection away while they are
// read (save, push, serve).
type Source interface {
	View
	Leaser
}

// Store is every role at once, as the local OCI layout provides them.
type Store interface {
	Provider
	Ingester
	Names
	Attacher
	Manager
	Leaser
	Ingest
	Scratch
}
