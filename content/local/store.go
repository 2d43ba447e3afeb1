// Package store is imagec's local content-addressed store. The directory it
// manages is an OCI image layout (oci-layout, index.json, blobs/<alg>/<hex>),
// so other tools (skopeo "oci:ROOT:NAME", umoci, crane) read it directly.
// imagec's private state (partial downloads and lock files) lives under
// .imagec/, which the layout spec allows and other tools ignore.
//
// Every mutation is safe against concurrent goroutines and processes: blob
// ingest and index.json updates are serialised with flock(2), and files
// become visible only through an atomic rename after fsync.
package local

import (
	// sha256 is linked by go-digest; sha384/sha512 are registered here so
	// that descriptors using them validate and can be ingested.
	_ "crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/safefs"
)

const (
	blobsDir     = ocispec.ImageBlobsDir
	privateDir   = ".imagec"
	ingestDir    = ".imagec/ingest"
	indexLock    = ".imagec/index.lock"
	indexFile    = ocispec.ImageIndexFile // "index.json"
	layoutFile   = ocispec.ImageLayoutFile
	dirPerm      = 0o755
	filePerm     = 0o644
	blobFilePerm = 0o444 // committed blobs are immutable
)

// Store is an OCI image layout on the local filesystem. Its methods are safe
// for concurrent use by goroutines and by other processes sharing the root.
//
// No file below the root is ever reached through a symbolic link: every
// path is resolved with safefs, so a link planted in the store (at a blob,
// an ingest file or a directory on the way) makes the operation fail or the
// blob count as absent, and never redirects a read or a write elsewhere.
type Store struct {
	root  string
	fs    safefs.Root
	index indexCache
}

// DefaultRoot returns the store root imagec uses when none is given:
// $IMAGEC_ROOT if set; /var/lib/imagec for uid 0; otherwise
// $XDG_DATA_HOME/imagec, falling back to ~/.local/share/imagec.
func DefaultRoot() string {
	home, _ := os.UserHomeDir()
	return defaultRoot(os.Getenv, os.Geteuid(), home)
}

// defaultRoot is DefaultRoot with its inputs injected so tests can cover the
// root-user branch without being root.
func defaultRoot(getenv func(string) string, uid int, home string) string {
	if r := getenv("IMAGEC_ROOT"); r != "" {
		return r
	}
	if uid == 0 {
		return "/var/lib/imagec"
	}
	// The XDG base directory spec says relative values must be ignored.
	if x := getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "imagec")
	}
	if home == "" {
		// No home directory at all (e.g. a bare service account): a
		// per-user directory under the temp dir still keeps users apart.
		return filepath.Join(os.TempDir(), "imagec-"+strconv.Itoa(uid))
	}
	return filepath.Join(home, ".local", "share", "imagec")
}

// Open opens the store at root, creating the OCI layout if it is missing.
// Creation is idempotent and safe when several processes do it at once: each
// file is created by linking a complete temp file into place, so nobody ever
// sees a half-written oci-layout or index.json. An existing layout is
// validated: its oci-layout must declare version 1.0.0 and its index.json
// must parse. The root may be a symbolic link; the layout's own directories
// (blobs/, .imagec/) may not.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, fmt.Errorf("open store: empty root: %w", errdefs.ErrInvalidArgument)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	s := &Store{root: abs, fs: safefs.New(abs)}
	for _, d := range []string{blobsDir + "/" + string(digest.SHA256), ingestDir} {
		if err := s.fs.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("open store %s: %w", abs, err)
		}
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return nil, err
	}
	if err := s.createOnce(layoutFile, layout); err != nil {
		return nil, err
	}
	empty, err := encodeIndex(ocispec.Index{})
	if err != nil {
		return nil, err
	}
	if err := s.createOnce(indexFile, empty); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root returns the absolute directory of the store.
func (s *Store) Root() string { return s.root }

// Path returns the file of blob d (blobs/<alg>/<hex>), whether or not it
// exists, for messages and other programs; the store itself never opens a
// blob by this path. It returns "" for a digest that does not validate, so
// a hostile digest can never name a path outside the store.
func (s *Store) Path(d digest.Digest) string {
	if d.Validate() != nil {
		return ""
	}
	return s.fs.Join(blobRel(d))
}

// blobRel is the path of blob d relative to the root; d must be valid.
func blobRel(d digest.Digest) string {
	return blobsDir + "/" + string(d.Algorithm()) + "/" + d.Encoded()
}

// blobRelChecked is blobRel with the validation failure reported as an error.
func blobRelChecked(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return blobRel(d), nil
}

// createOnce creates rel with content unless it already exists. Linking a
// fully written temp file fails with EEXIST instead of replacing, so a
// concurrent creator or an existing layout is left untouched.
func (s *Store) createOnce(rel string, content []byte) error {
	if _, err := s.fs.Lstat(rel); err == nil {
		return nil
	}
	tmp, err := s.writeTemp(rel, content)
	if err != nil {
		return fmt.Errorf("create %s: %w", s.fs.Join(rel), err)
	}
	defer s.fs.Remove(tmp)
	if err := s.fs.Link(tmp, rel); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", s.fs.Join(rel), err)
	}
	return s.fs.SyncDir(".")
}

// validate checks that the layout is one this package understands.
func (s *Store) validate() error {
	p := s.fs.Join(layoutFile)
	b, err := s.readSmall(layoutFile, 64<<10)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	var l ocispec.ImageLayout
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("open store: parse %s: %v: %w", p, err, errdefs.ErrInvalidArgument)
	}
	if l.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("open store: %s declares imageLayoutVersion %q, want %q: %w",
			p, l.Version, ocispec.ImageLayoutVersion, errdefs.ErrUnsupported)
	}
	if err := s.index.check(s); err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	return nil
}

// writeTemp writes content to a new fsynced temp file in the private
// directory and returns its path relative to the root. The caller renames
// or links it into place and removes it on failure.
func (s *Store) writeTemp(pattern string, content []byte) (string, error) {
	f, rel, err := s.fs.CreateTemp(privateDir, ".tmp-"+pattern+"-", filePerm)
	if err != nil {
		return "", err
	}
	err = f.Chmod(filePerm) // the umask may have narrowed it; layout files are world-readable
	if err == nil {
		_, err = f.Write(content)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.fs.Remove(rel)
		return "", err
	}
	return rel, nil
}

// readSmall reads file rel of the store, which must be a regular file of at
// most limit bytes.
func (s *Store) readSmall(rel string, limit int64) ([]byte, error) {
	f, fi, err := s.fs.OpenRegular(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the %d byte limit: %w", s.fs.Join(rel), fi.Size(), limit, errdefs.ErrTooLarge)
	}
	// Sized from the stat: one allocation and one read for a file that did
	// not grow since (index.json is megabytes in a store of many names).
	b := make([]byte, fi.Size()+1)
	n, err := io.ReadFull(f, b)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		b = b[:n]
	case err != nil:
		return nil, err
	default: // it grew since the stat: the rest, up to the limit
		rest, err := io.ReadAll(io.LimitReader(f, limit+1-int64(n)))
		if err != nil {
			return nil, err
		}
		b = append(b, rest...)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s grew over the %d byte limit: %w", s.fs.Join(rel), limit, errdefs.ErrTooLarge)
	}
	return b, nil
}
