package archive

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/compress"
	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/errdefs"
)

// Loaded is one image Load recorded.
type Loaded struct {
	// Name is the full normalized name the image is recorded under, or ""
	// for an image the archive does not name (docker prints its ID).
	Name string
	// ID is the image ID: the digest of its config.
	ID digest.Digest
	// Entry is the descriptor recorded in index.json.
	Entry ocispec.Descriptor
}

// Load reads a docker-archive or an OCI-layout tar from r (told apart by
// manifest.json against index.json), stores its blobs and records each image
// under its names. It returns the names recorded, in archive order.
//
// Nothing is trusted: each blob is verified against its digest as it
// streams into the store, and each layer of a docker-archive against the
// diffID its config declares (errdefs.ErrDigestMismatch). No name is
// recorded unless every image of the archive is complete and verified.
// Manifests, indexes and configs are bounded at 4 MiB.
func Load(ctx context.Context, st content.Store, r io.Reader) ([]string, error) {
	loaded, err := LoadImages(ctx, st, r)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range loaded {
		if l.Name != "" {
			names = append(names, l.Name)
		}
	}
	return names, nil
}

// LoadImages is Load reporting every image of the archive, named or not,
// with its image ID: one element per name, and one for each image the
// archive leaves unnamed.
func LoadImages(ctx context.Context, st content.Store, r io.Reader) ([]Loaded, error) {
	// Blobs are committed before the names that reference them.
	release, err := st.Lease(ctx)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer release()
	tarball, closeTarball, err := decompressed(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer closeTarball()
	l := &loader{st: st, files: map[string]*archiveFile{}, links: map[string]string{}, meta: map[string][]byte{}}
	defer l.cleanup()
	if err := l.read(ctx, tarball); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var images []pendingImage
	switch {
	case l.meta[dockerManifestFile] != nil:
		images, err = l.dockerImages(ctx)
	case l.meta[ociIndexFile] != nil:
		images, err = l.ociImages(ctx)
	default:
		err = fmt.Errorf("neither manifest.json (docker-archive) nor index.json (OCI layout) in the archive: %w", errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	// Names last, once everything they reference is stored, and only if
	// every one of them may be recorded.
	for _, img := range images {
		for _, name := range img.names {
			if err := graph.CheckName(ctx, st, name, img.entry); err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
		}
	}
	var out []Loaded
	for _, img := range images {
		if img.attach {
			if err := st.Attach(ctx, img.entry); err != nil {
				return out, fmt.Errorf("load: %w", err)
			}
			continue
		}
		if len(img.names) == 0 {
			out = append(out, Loaded{ID: img.id, Entry: img.entry})
		}
		for _, name := range img.names {
			if err := st.SetImage(ctx, name, img.entry); err != nil {
				return out, fmt.Errorf("load: recording %s: %w", name, err)
			}
			out = append(out, Loaded{Name: name, ID: img.id, Entry: img.entry})
		}
	}
	return out, nil
}

// decompressed returns the tar stream of r, which may be compressed as a
// whole with gzip or zstd ("docker save img | gzip"), as docker load
// accepts.
func decompressed(r io.Reader) (io.Reader, func(), error) {
	br, k := compress.Peek(r)
	if k == compress.None {
		return br, func() {}, nil
	}
	zr, err := compress.NewReader(br, k)
	if err != nil {
		if k == compress.Other {
			return nil, nil, fmt.Errorf("archive %w (decompress it first)", err)
		}
		return nil, nil, fmt.Errorf("archive: %w", err)
	}
	return zr, func() { zr.Close() }, nil
}

// pendingImage is an image whose blobs are stored, waiting to be named.
type pendingImage struct {
	names []string
	// attach: a referrer, to attach rather than name.
	attach bool
	id     digest.Digest
	entry  ocispec.Descriptor
}

// loader holds what reading an archive found.
type loader struct {
	st content.Store
	// files are the regular files of the archive by clean path; links map
	// symbolic and hard links to the path they point at.
	files map[string]*archiveFile
	links map[string]string
	// meta holds the top-level metadata files.
	meta map[string][]byte
	// scratch holds files that are not named by their digest until they are
	// known to be needed: a directory the store provides, created on first
	// use and removed by release.
	scratch string
	release func()
}

// archiveFile is what is known of one regular file of the archive.
type archiveFile struct {
	name   string
	size   int64
	digest digest.Digest // of the content: sha256, or the algorithm of its blobs/<alg>/ path
	// compression is detected from the first bytes; diffID is the sha256 of
	// the decompressed content (of the content itself when uncompressed),
	// or diffErr says why it is unknown.
	compression compress.Kind
	diffID      digest.Digest
	diffErr     error
	// spool is the temp file holding the content, until it is committed to
	// the store; inStore says it is there.
	spool   string
	inStore bool
}

// maxLinkHops bounds link chains, which could otherwise loop.
const maxLinkHops = 16

// resolve finds the regular file an archive path names, following links.
func (l *loader) resolve(p string) (*archiveFile, error) {
	name, err := cleanName(p)
	if err != nil {
		return nil, err
	}
	for range maxLinkHops {
		if f := l.files[name]; f != nil {
			return f, nil
		}
		target, ok := l.links[name]
		if !ok {
			return nil, fmt.Errorf("the archive has no file %s: %w", p, errdefs.ErrNotFound)
		}
		name = target
	}
	return nil, fmt.Errorf("archive path %s: more than %d links: %w", p, maxLinkHops, errdefs.ErrInvalidArgument)
}

// readSmall returns the content of a config or manifest file, at most
// maxMetadata bytes, verified against the digest it was read under.
func (l *loader) readSmall(ctx context.Context, f *archiveFile) ([]byte, error) {
	if f.size > maxMetadata {
		return nil, fmt.Errorf("%s: %d bytes exceed the %d byte limit: %w", f.name, f.size, maxMetadata, errdefs.ErrTooLarge)
	}
	if f.inStore {
		return l.st.ReadBlob(ctx, f.digest, maxMetadata)
	}
	b, err := os.ReadFile(f.spool)
	if err != nil {
		return nil, fmt.Errorf("reading %s back: %w", f.name, err)
	}
	if got := f.digest.Algorithm().FromBytes(b); got != f.digest || int64(len(b)) != f.size {
		return nil, fmt.Errorf("%s changed on disk while loading (hashes to %s, was %s): %w", f.name, got, f.digest, errdefs.ErrDigestMismatch)
	}
	return b, nil
}

// spoolFile creates a temp file in the load's scratch directory.
func (l *loader) spoolFile(ctx context.Context) (*os.File, error) {
	if l.scratch == "" {
		dir, release, err := l.st.TempDir(ctx, "load-")
		if err != nil {
			return nil, err
		}
		l.scratch, l.release = dir, release
	}
	return os.CreateTemp(l.scratch, "file-")
}

func (l *loader) cleanup() {
	if l.release != nil {
		l.release()
	}
}

// commit moves a spooled file into the store, verified again on the way.
func (l *loader) commit(ctx context.Context, f *archiveFile) error {
	if f.inStore {
		return nil
	}
	src, err := os.Open(f.spool)
	if err != nil {
		return fmt.Errorf("reading %s back: %w", f.name, err)
	}
	defer src.Close()
	if err := copyIntoStore(ctx, l.st, ocispec.Descriptor{Digest: f.digest, Size: f.size}, src, nil); err != nil {
		return fmt.Errorf("storing %s: %w", f.name, err)
	}
	f.inStore = true
	os.Remove(f.spool)
	return nil
}
