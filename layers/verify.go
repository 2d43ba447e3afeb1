package layers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/imagec/imagec/unpack"
)

// Chains lists the chain IDs of the layer directories in the layer area,
// leaving out the temporary directories of unpacks in progress.
func (s *Store) Chains() ([]digest.Digest, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	var out []digest.Digest
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "tmp-") {
			continue
		}
		if d := digest.NewDigestFromEncoded(digest.SHA256, e.Name()); d.Validate() == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Verify compares the unpacked layer chainID with the record made when it
// was unpacked, reading every file. A difference, or a record that is
// missing, damaged or another layer's, fails with an error wrapping
// errdefs.ErrDigestMismatch or, for a missing record, errdefs.ErrNotFound.
// What a passing check is worth is said in record.go: the record guards
// against edits and damage, not against someone rewriting both.
func (s *Store) Verify(ctx context.Context, chainID digest.Digest) error {
	dir := s.Path(chainID)
	rec, err := openRecord(filepath.Join(dir, recordName), chainID, "")
	if err != nil {
		return fmt.Errorf("unpacked layer %s: %w", chainID, err)
	}
	defer rec.close()
	if err := verifyTree(ctx, filepath.Join(dir, "diff"), rec); err != nil {
		return fmt.Errorf("unpacked layer %s: %w", chainID, err)
	}
	return nil
}

// Remove deletes the unpacked layer chainID, so that a later
// `pull --unpack` unpacks it again from its blob. A layer that is not
// there is not an error.
func (s *Store) Remove(chainID digest.Digest) error {
	if err := chainID.Validate(); err != nil {
		return fmt.Errorf("layer %q: %w", chainID, err)
	}
	err := s.remove(s.Path(chainID))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("layer %s: %w", chainID, err)
	}
	return nil
}

// applyCached applies the unpacked layer r onto root, streaming its
// directory as a tar through the extractor and checking each entry against
// the layer's record on the way. Any difference fails the extraction
// before its end; root then holds part of the layer and must be discarded.
func (s *Store) applyCached(ctx context.Context, root string, r layerRef, opts unpack.Options) error {
	dir := s.Path(r.chainID)
	rec, err := openRecord(filepath.Join(dir, recordName), r.chainID, r.diffID)
	if err != nil {
		return fmt.Errorf("unpacked layer %s: %w", r.chainID, err)
	}
	defer rec.close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeTar(ctx, pw, filepath.Join(dir, "diff"), rec)
		pw.CloseWithError(err)
		done <- err
	}()
	_, aerr := unpack.Apply(ctx, root, pr, opts)
	pr.CloseWithError(aerr)
	werr := <-done // the walk is over before rec is closed
	switch {
	case aerr == nil:
		// The extractor saw the end of the tar, which the walk writes
		// only once every entry matched the record.
		return nil
	case werr != nil && errors.Is(aerr, werr):
		// The walk failed first (a difference, an unreadable file): its
		// error says why, the extractor's only that the stream broke.
		return fmt.Errorf("unpacked layer %s: %w", r.chainID, werr)
	}
	return aerr
}
