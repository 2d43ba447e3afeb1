package unpack

import (
	"context"
	_ "crypto/sha256" // digest algorithms diffIDs use
	_ "crypto/sha512"
	"errors"
	"fmt"
	"io"

	"github.com/imagec/imagec/compress"
	"github.com/imagec/imagec/errdefs"
	"github.com/opencontainers/go-digest"
)

// Layer extracts a layer blob onto root. mediaType selects the
// decompression (see compress.ForMediaType). The uncompressed stream is
// hashed while it is extracted, in one pass and without temporary files, and
// read to its end; if it does not hash to diffID the error wraps
// errdefs.ErrDigestMismatch. On any error the root may hold part of the
// layer: extract into a temporary directory and remove it on error.
func Layer(ctx context.Context, root string, blob io.Reader, mediaType string, diffID digest.Digest, opts Options) (Stats, error) {
	st, err := layer(ctx, root, blob, mediaType, diffID, opts)
	if err != nil {
		return st, fmt.Errorf("unpack layer %s into %s: %w", diffID, root, err)
	}
	return st, nil
}

func layer(ctx context.Context, root string, blob io.Reader, mediaType string, diffID digest.Digest, opts Options) (Stats, error) {
	if err := diffID.Validate(); err != nil {
		return Stats{}, fmt.Errorf("diffID: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	r, err := compress.NewMediaTypeReader(blob, mediaType)
	if err != nil {
		return Stats{}, err
	}
	defer r.Close()
	h := diffID.Algorithm().Hash()
	verify := func() error {
		if got := digest.NewDigest(diffID.Algorithm(), h); got != diffID {
			return fmt.Errorf("uncompressed content is %s: %w", got, errdefs.ErrDigestMismatch)
		}
		return nil
	}
	// Inflating is the longest step: its goroutine does nothing else. The
	// diffID is hashed on the extracting side, which waits on system calls
	// and has time to spare.
	ra := newReadahead(r, 4, 1<<20)
	defer ra.Close()
	return extract(ctx, root, io.TeeReader(ra, h), opts, verify)
}

// readErr categorizes an error from reading the tar stream: bounds,
// cancellation and what compress already categorized keep their meaning,
// anything else means the layer is malformed.
func readErr(err error) error {
	switch {
	case errors.Is(err, errdefs.ErrTooLarge), errors.Is(err, errdefs.ErrInvalidArgument),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
}
