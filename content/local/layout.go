package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/internal/flock"
)

// What follows lets a consistency checker (fsck) look at the layout's files
// as they are, without knowing where they live: the store alone knows its
// directories.

// BlobEntry is one entry found under blobs/.
type BlobEntry struct {
	// Rel is the entry's path relative to the store root, slash-separated.
	Rel string
	// Digest is the blob the entry's name says it is; "" when the name is
	// not a valid digest (Stray then says why).
	Digest digest.Digest
	Stray  string
	// File describes the entry itself (never a symlink's target).
	File FileInfo
}

// FileInfo is what the store found at a path: the entry itself, never what
// a symlink there points to.
type FileInfo struct {
	// Type is "file", "directory", "symlink" or "other".
	Type string
	Size int64
	// ID identifies the file, so a later removal can check it is still
	// the one that was judged.
	ID FileID
}

// FileID identifies a file on its filesystem.
type FileID struct{ Dev, Ino uint64 }

// Regular reports whether the entry is a regular file.
func (fi FileInfo) Regular() bool { return fi.Type == "file" }

func fileInfo(st unix.Stat_t) FileInfo {
	fi := FileInfo{Size: st.Size, ID: FileID{Dev: uint64(st.Dev), Ino: st.Ino}}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		fi.Type = "file"
	case unix.S_IFDIR:
		fi.Type = "directory"
	case unix.S_IFLNK:
		fi.Type = "symlink"
	default:
		fi.Type = "other"
	}
	return fi
}

// ScanBlobs calls fn for every entry under blobs/: blob files and whatever
// else is there. Directories of digest algorithms imagec cannot verify
// (another tool's) are skipped whole.
func (s *Store) ScanBlobs(ctx context.Context, fn func(BlobEntry) error) error {
	algs, err := s.readDir(blobsDir)
	if err != nil {
		return fmt.Errorf("scan %s: %w", s.fs.Join(blobsDir), err)
	}
	for _, a := range algs {
		rel := blobsDir + "/" + a.Name()
		alg := digest.Algorithm(a.Name())
		if !a.IsDir() {
			if err := s.emit(fn, BlobEntry{Rel: rel, Stray: "not a digest algorithm directory"}); err != nil {
				return err
			}
			continue
		}
		if !alg.Available() {
			continue
		}
		entries, err := s.readDir(rel)
		if err != nil {
			return fmt.Errorf("scan %s: %w", s.fs.Join(rel), err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			be := BlobEntry{Rel: rel + "/" + e.Name(), Digest: digest.NewDigestFromEncoded(alg, e.Name())}
			if be.Digest.Validate() != nil {
				be.Digest, be.Stray = "", "not named by a valid "+string(alg)+" digest"
			}
			if err := s.emit(fn, be); err != nil {
				return err
			}
		}
	}
	return nil
}

// emit fills in the entry's File and hands it on; an entry gone since it
// was listed is skipped.
func (s *Store) emit(fn func(BlobEntry) error, be BlobEntry) error {
	st, err := s.fs.Lstat(be.Rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	be.File = fileInfo(st)
	return fn(be)
}

// Stat describes the file at rel (relative to the root) itself.
func (s *Store) Stat(rel string) (FileInfo, error) {
	if err := checkRel(rel); err != nil {
		return FileInfo{}, err
	}
	st, err := s.fs.Lstat(rel)
	if err != nil {
		return FileInfo{}, err
	}
	return fileInfo(st), nil
}

// RemoveIfSame removes rel (a path this store reported, relative to its
// root) if it is still the file was identifies, recursively when it is a
// directory. It reports whether it removed anything; a file replaced in
// the meantime is left alone (removed false, nil error).
func (s *Store) RemoveIfSame(rel string, was FileID) (bool, error) {
	now, err := s.Stat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if now.ID != was {
		return false, nil
	}
	if now.Type == "directory" {
		// Removal through an os.Root cannot leave the store, whatever is
		// swapped in meanwhile; symlinks inside are removed, not followed.
		root, err := os.OpenRoot(s.root)
		if err != nil {
			return false, err
		}
		defer root.Close()
		return true, root.RemoveAll(rel)
	}
	return true, s.fs.Remove(rel)
}

// checkRel refuses a path that is not a clean relative path below the root.
func checkRel(rel string) error {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("path %q is not below the store root: %w", rel, errdefs.ErrInvalidArgument)
	}
	return nil
}

// IngestEntry is one partial download.
type IngestEntry struct {
	// Rel is the entry's directory relative to the store root.
	Rel string
	// Digest is the blob being downloaded, "" if the name is not one.
	Digest digest.Digest
	// Size is how much partial data the entry holds.
	Size int64
	// Held says a writer (a pull in progress) holds the entry.
	Held bool
}

// IngestEntries lists the partial downloads, held or not. It never
// creates or locks anything: a held entry's writer carries on.
func (s *Store) IngestEntries(ctx context.Context) ([]IngestEntry, error) {
	var out []IngestEntry
	err := s.eachIngest(ctx, func(rel, name string) error {
		held, err := s.lockHeld(rel + "/lock")
		if err != nil {
			return fmt.Errorf("ingest entry %s: %w", name, err)
		}
		ie := IngestEntry{Rel: rel, Digest: ingestDigest(name), Held: held}
		if st, err := s.fs.Lstat(rel + "/data"); err == nil {
			ie.Size = st.Size
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ingest entry %s: %w", name, err)
		}
		out = append(out, ie)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return out, err
}

// lockHeld reports whether some process holds the flock on rel. The probe
// never creates the file, so an entry it looks at is left as it was.
func (s *Store) lockHeld(rel string) (bool, error) {
	f, err := s.fs.OpenFile(rel, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	held, err := flock.HeldFile(f)
	if err != nil {
		return false, fmt.Errorf("probe lock %s: %w", s.fs.Join(rel), err)
	}
	return held, nil
}

// ingestDigest turns an entry name (<alg>-<hex>) back into the digest being
// downloaded, or "" if it is not one.
func ingestDigest(name string) digest.Digest {
	alg, enc, ok := strings.Cut(name, "-")
	if !ok {
		return ""
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
	if d.Validate() != nil {
		return ""
	}
	return d
}

// PrivateDir returns directory name of the store's private area (such as
// "layers", the unpacked-layer area), creating it. It must be a real
// directory: what is built in it and swept from it stays in the store.
func (s *Store) PrivateDir(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." || name == "ingest" {
		return "", fmt.Errorf("private directory %q: %w", name, errdefs.ErrInvalidArgument)
	}
	rel := privateDir + "/" + name
	if err := s.fs.MkdirAll(rel, 0o700); err != nil {
		return "", fmt.Errorf("store %s: %w", s.root, err)
	}
	return s.fs.Join(rel), nil
}

// HasPrivateDir reports whether directory name of the private area exists,
// without creating it.
func (s *Store) HasPrivateDir(name string) bool {
	st, err := s.fs.Lstat(privateDir + "/" + name)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}
