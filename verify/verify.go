// Package verify decides whether an image may be trusted: it reads a trust
// policy in the containers-policy.json(5) form (or one made from a key or a
// certificate identity) and checks the image's cosign signatures, in both
// forms cosign writes them, with sigstore's Go library (sigstore-go):
//
//   - a sigstore bundle attached as an OCI 1.1 referrer (artifact type
//     application/vnd.dev.sigstore.bundle.v0.3+json), whose message
//     signature or in-toto statement names the manifest's digest;
//   - the legacy sha256-<hex>.sig tag, whose simple-signing payloads name
//     the digest and the repository (cosign's
//     dev.cosignproject.cosign/signature annotation holds the signature).
//
// Signatures are checked against a key (PEM) or, keyless, a Fulcio
// certificate naming an OIDC issuer and a subject; the transparency log's
// proof (inclusion promise or proof) is checked offline against the log's
// key, never by asking the log. The signed digest must be that of the
// document the registry served: for a Docker-typed image that is the
// registry's manifest, not the OCI index imagec wraps it in. A tag is never
// trusted: it only leads to signatures that must verify.
//
// This package brings sigstore-go and what it imports (protobuf, the Rekor
// clients' go-openapi, grpc and opentelemetry packages that sigstore-go's
// transparency-log code links without calling) into a program's build: it
// is a package of its own so that programs which do not verify build and
// download none of that.
package verify

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// Verifier checks images against a policy, reading their signatures
// through a registry client. It is safe for concurrent use.
type Verifier struct {
	client *registry.Client
	policy *Policy
}

// New returns a Verifier of policy p reading signatures with client.
func New(client *registry.Client, p *Policy) *Verifier {
	return &Verifier{client: client, policy: p}
}

// Result says why an image was accepted.
type Result struct {
	// Scope is the policy scope whose requirements applied ("default" for
	// the policy's default).
	Scope string
	// Digest is the digest checked.
	Digest digest.Digest
	// Signed is how many requirements a signature met (0 when the scope
	// accepts anything).
	Signed int
}

// Verify refuses (errdefs.ErrUntrusted, one line saying why) the image
// whose top document desc the registry served for ref, read at src (ref
// at the endpoint it came from: a mirror, or ref itself). It is the check
// a pull runs before it names the image (pull.WithVerifier).
func (v *Verifier) Verify(ctx context.Context, ref, src reference.Reference, desc ocispec.Descriptor) error {
	_, err := v.Check(ctx, ref, src, desc.Digest)
	return err
}

// Check is Verify for digest d, returning what was found. Signatures are
// read at src; when it has none (a mirror that does not copy them), at ref.
// Errors other than ErrUntrusted are failures to read the signatures.
func (v *Verifier) Check(ctx context.Context, ref, src reference.Reference, d digest.Digest) (*Result, error) {
	scope, reqs := v.policy.For(ref)
	res := &Result{Scope: scope, Digest: d}
	var sigs *signatures
	for _, req := range reqs {
		switch req.Kind {
		case AcceptAnything:
			continue
		case Reject:
			return nil, untrusted(scope, "the policy rejects every image here")
		}
		if sigs == nil {
			var err error
			if sigs, err = v.signatures(ctx, ref, src, d); err != nil {
				return nil, fmt.Errorf("verify %s: %w", ref, err)
			}
		}
		if sigs.empty() {
			return nil, untrusted(scope, "no signature for "+d.String())
		}
		if f := meet(sigs, req, ref, d); f != nil {
			return nil, untrusted(scope, f.text(req, d))
		}
		res.Signed++
	}
	return res, nil
}

func (v *Verifier) signatures(ctx context.Context, ref, src reference.Reference, d digest.Digest) (*signatures, error) {
	sigs, err := fetchSignatures(ctx, v.client, src, d)
	if err != nil || !sigs.empty() || (src.Host() == ref.Host() && src.Path() == ref.Path()) {
		return sigs, err
	}
	return fetchSignatures(ctx, v.client, ref, d)
}

// meet returns nil when a signature meets req, else the most telling of
// the failures.
func meet(sigs *signatures, req Requirement, ref reference.Reference, d digest.Digest) *failure {
	var best *failure
	for _, b := range sigs.bundles {
		f := checkBundle(b, req, d)
		if f == nil {
			return nil
		}
		best = moreTelling(best, f)
	}
	for _, s := range sigs.legacy {
		f := checkLegacy(s, req, d, ref)
		if f == nil {
			return nil
		}
		best = moreTelling(best, f)
	}
	return best
}

// untrusted is the one-line refusal; the caller names the reference (a
// pull's error starts "pull REF:").
func untrusted(scope, why string) error {
	return fmt.Errorf("%s (policy scope %q): %w", why, scope, errdefs.ErrUntrusted)
}

// reason ranks why a signature failed, least telling first: the user hears
// of the failure that got furthest.
type reason int

const (
	reasonMalformed reason = iota
	reasonSignature
	reasonIdentity
	reasonDigest
)

type failure struct {
	reason reason
	err    error
}

func moreTelling(a, b *failure) *failure {
	if a == nil || b.reason > a.reason {
		return b
	}
	return a
}

// text is the failure in the user's terms.
func (f *failure) text(req Requirement, d digest.Digest) string {
	switch f.reason {
	case reasonDigest:
		return fmt.Sprintf("signature payload for another digest, not %s: %v", d, f.err)
	case reasonIdentity:
		return "wrong identity: " + f.err.Error()
	case reasonSignature:
		if req.Trust.keyless() {
			return "no signature verifies with the trusted certificate authority and log: " + f.err.Error()
		}
		return "wrong key: no signature verifies with the policy's key: " + f.err.Error()
	}
	return "unreadable signature: " + f.err.Error()
}

// describe names the identity rule in messages.
func (id Identity) describe() string {
	if id.Reference != "" {
		return string(id.Kind) + " " + id.Reference
	}
	return string(id.Kind)
}
