package pull

import (
	"context"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/reference"
)

// Verifier decides whether a pulled image may be named. verify.Verifier
// is one (the trust policy and cosign signatures); this package does not
// import it, so a program that does not verify builds none of it.
type Verifier interface {
	// Verify is given the reference being pulled, where its manifest
	// came from (ref at a mirror, or ref itself) and the descriptor of
	// the document the registry served, whose digest signatures name. An
	// error refuses the image.
	Verify(ctx context.Context, ref, src reference.Reference, top ocispec.Descriptor) error
}

// WithVerifier has the pull ask v about the image once its manifest is
// fetched and verified by digest, before any layer is downloaded and
// before the name is recorded: a refused image is never named (blobs a
// pull fetched before stay for garbage collection). An image already
// stored and up to date is asked about too. Default none: no check.
func WithVerifier(v Verifier) PullOption {
	return func(o *pullOptions) { o.verifier = v }
}

// verify asks the verifier, if any, about the top document top.
func (j *job) verify(ctx context.Context, top ocispec.Descriptor) error {
	if j.opts.verifier == nil {
		return nil
	}
	return j.opts.verifier.Verify(ctx, j.ref, j.source(), top)
}
