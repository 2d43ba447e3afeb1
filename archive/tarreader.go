package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/compress"
	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
)

// maxEntries bounds the number of tar entries: real archives have a few per
// layer, and each entry costs memory until the load ends.
const maxEntries = 1 << 17

// read walks the archive once. Metadata files are kept in memory; files
// named blobs/<alg>/<hex> go straight into the store, verified against
// that digest; any other file (layers and configs of older docker-archives)
// is spooled to a temp file and hashed, and goes into the store only if a
// manifest.json entry turns out to need it. Every file is also
// decompression-hashed on the way when it looks compressed, so layers can be
// checked against their diffIDs without reading them again.
func (l *loader) read(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(withContext(ctx, r))
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("reading the archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		if n >= maxEntries {
			return fmt.Errorf("the archive has more than %d entries: %w", maxEntries, errdefs.ErrTooLarge)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			if isSparse(hdr) {
				return fmt.Errorf("archive file %s is a sparse file: %w", hdr.Name, errdefs.ErrUnsupported)
			}
			err = l.readFile(ctx, hdr, tr)
		case tar.TypeSymlink, tar.TypeLink:
			err = l.addLink(hdr)
		default:
			// Directories need no record; devices, fifos and the like have no
			// place in an image archive and are never extracted, so they
			// are ignored.
			_, err = cleanName(hdr.Name)
		}
		if err != nil {
			return err
		}
	}
}

// isSparse reports whether hdr is a GNU sparse file in PAX form, which the
// tar reader expands: a few bytes of archive could make it produce any
// amount of zeros. No image archive writer makes sparse files.
func isSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// isMetadata reports whether an archive path is one of the top-level files
// that describe the archive rather than hold content.
func isMetadata(name string) bool {
	switch name {
	case dockerManifestFile, repositoriesFile, ociLayoutFile, ociIndexFile:
		return true
	}
	return false
}

// blobDigest returns the digest a blobs/<alg>/<hex> path names.
func blobDigest(name string) (digest.Digest, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "blobs" {
		return "", false
	}
	alg := digest.Algorithm(parts[1])
	if !alg.Available() {
		return "", false
	}
	d := digest.NewDigestFromEncoded(alg, parts[2])
	return d, d.Validate() == nil
}

func (l *loader) claim(hdr *tar.Header) (string, error) {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return "", err
	}
	if _, dup := l.links[name]; dup || l.files[name] != nil || l.meta[name] != nil {
		return "", fmt.Errorf("the archive has %s twice: %w", name, errdefs.ErrInvalidArgument)
	}
	return name, nil
}

// addLink records a symbolic or hard link. Older docker saves write a layer
// that two images share once and link it from the second image's
// directory; skopeo links its legacy layer directories to the real files.
func (l *loader) addLink(hdr *tar.Header) error {
	name, err := l.claim(hdr)
	if err != nil {
		return err
	}
	target := hdr.Linkname
	if hdr.Typeflag == tar.TypeSymlink {
		if strings.HasPrefix(target, "/") {
			return fmt.Errorf("archive link %s points to the absolute path %q: %w", name, target, errdefs.ErrInvalidArgument)
		}
		target = path.Join(path.Dir(name), target)
	}
	if target, err = cleanName(target); err != nil {
		return fmt.Errorf("archive link %s: %w", name, err)
	}
	l.links[name] = target
	return nil
}

func (l *loader) readFile(ctx context.Context, hdr *tar.Header, tr io.Reader) error {
	name, err := l.claim(hdr)
	if err != nil {
		return err
	}
	if isMetadata(name) {
		if hdr.Size > maxMetadata {
			return fmt.Errorf("%s: %d bytes exceed the %d byte limit: %w", name, hdr.Size, maxMetadata, errdefs.ErrTooLarge)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return archiveReadErr(ctx, name, err)
		}
		l.meta[name] = b
		return nil
	}
	// Docker-archive layer files carry no media type: the compression is
	// read from their first bytes, as docker load does.
	br, kind := compress.Peek(tr)
	f := &archiveFile{name: name, size: hdr.Size, compression: kind}
	dh := newDiffHasher(f.compression)
	tee := io.Writer(dh)
	d, isBlob := blobDigest(name)
	// The file's own sha256 is its digest when not named by one, and its
	// diffID when uncompressed; a sha256 blob path already gives it.
	var plain digest.Digester
	if !isBlob || d.Algorithm() != digest.SHA256 {
		plain = digest.SHA256.Digester()
		tee = io.MultiWriter(dh, plain.Hash())
	}
	if isBlob {
		f.digest = d
		err = copyIntoStore(ctx, l.st, ocispec.Descriptor{Digest: d, Size: hdr.Size}, br, tee)
		f.inStore = err == nil
	} else {
		err = l.spool(ctx, f, br, tee)
	}
	f.diffID, f.diffErr = dh.finish()
	if err != nil {
		return archiveReadErr(ctx, name, err)
	}
	sha := d
	if plain != nil {
		sha = plain.Digest()
	}
	if f.compression == compress.None {
		f.diffID, f.diffErr = sha, nil
	}
	if !isBlob {
		f.digest = sha
	}
	l.files[name] = f
	return nil
}

// spool copies a file whose digest its name does not give to a temp file.
func (l *loader) spool(ctx context.Context, f *archiveFile, r io.Reader, tee io.Writer) error {
	tmp, err := l.spoolFile(ctx)
	if err != nil {
		return err
	}
	f.spool = tmp.Name()
	_, err = io.Copy(io.MultiWriter(tmp, tee), withContext(ctx, r))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	return err
}

func archiveReadErr(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("archive file %s: the archive is truncated: %w", name, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("archive file %s: %w", name, err)
}

// copyIntoStore streams r into the store as blob desc, passing every byte
// to tee too. The store's Writer verifies size and digest before the blob
// becomes visible. A blob the store already has is still read and verified
// when tee is set, so a corrupt archive fails the same way whatever the
// store holds; with a nil tee (r is known good) it is not read at all.
func copyIntoStore(ctx context.Context, st content.Store, desc ocispec.Descriptor, r io.Reader, tee io.Writer) error {
	w, err := st.Writer(ctx, desc)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		if tee == nil {
			return nil
		}
		v := desc.Digest.Verifier()
		n, err := io.Copy(io.MultiWriter(v, tee), withContext(ctx, r))
		if err != nil {
			return err
		}
		if n != desc.Size {
			return fmt.Errorf("blob %s: have %d bytes, want %d: %w", desc.Digest, n, desc.Size, errdefs.ErrSizeMismatch)
		}
		if !v.Verified() {
			return fmt.Errorf("blob %s: content does not match its digest: %w", desc.Digest, errdefs.ErrDigestMismatch)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	// A partial ingest left by an interrupted pull or load may hold
	// anything; the archive has the whole blob, so start over.
	if w.Offset() != 0 {
		if err := w.Reset(); err != nil {
			return err
		}
	}
	dst := io.Writer(w)
	if tee != nil {
		dst = io.MultiWriter(w, tee)
	}
	if _, err := io.Copy(dst, withContext(ctx, r)); err != nil {
		return err
	}
	return w.Commit(ctx)
}
