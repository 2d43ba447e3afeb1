// Package verify decides whether an image may be trusted: it reads a trust
// policy in the containers-policy.json(5) form (or one made from a key or a
// certificate identity) and checks the image's cosign signatures, in both
// forms cosign writes them:
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
// This package reads the policy, finds the signatures in the registry and
// decides; the cryptographic checks are a Checker's, done with sigstore's
// Go library (sigstore-go), which this package does not link: sigstore-go
// brings some 400 packages (protobuf, the Rekor clients' go-openapi, grpc
// and opentelemetry) whose initialisation every start of a program would
// pay. The default Checker (Helper) runs the offline helper imagec-sigstore
// once per check, a separate process that also keeps the parsing of
// hostile signature data out of this one; a program may check in-process
// instead with WithChecker(sigstore.Checker{}) (package
// github.com/imagec/imagec/verify/sigstore), and links sigstore-go then.
package verify

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/verify/sigcheck"
)

// Verifier checks images against a policy, reading their signatures
// through a registry client. It is safe for concurrent use.
type Verifier struct {
	client  *registry.Client
	policy  *Policy
	checker Checker
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithChecker has the Verifier check signatures with c. Default
// Helper(""): the offline helper imagec-sigstore, next to the running
// program or on PATH.
func WithChecker(c Checker) Option {
	return func(v *Verifier) { v.checker = c }
}

// New returns a Verifier of policy p reading signatures with client.
func New(client *registry.Client, p *Policy, opts ...Option) *Verifier {
	v := &Verifier{client: client, policy: p, checker: Helper("")}
	for _, o := range opts {
		o(v)
	}
	return v
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
// Errors other than ErrUntrusted are failures to read the signatures or
// to check them (a Checker's: no imagec-sigstore, say).
//
// The requirements are met in order, the first that fails refusing the
// image; every signature of the image is checked against every
// requirement that may decide (those before the first reject) at once,
// with one call of the Checker.
func (v *Verifier) Check(ctx context.Context, ref, src reference.Reference, d digest.Digest) (*Result, error) {
	scope, reqs := v.policy.For(ref)
	res := &Result{Scope: scope, Digest: d}
	var signed []int // the requirements needing a signature, before any reject
	for i, req := range reqs {
		if req.Kind == Reject {
			break
		}
		if req.Kind != AcceptAnything {
			signed = append(signed, i)
		}
	}
	var (
		sigs     *signatures
		failures = make([]*failure, len(reqs))
	)
	if len(signed) > 0 {
		for _, i := range signed {
			if reqs[i].Trust == nil {
				return nil, fmt.Errorf("policy scope %q: requirement %d (%s) has no trust material: %w", scope, i+1, reqs[i].Kind, errdefs.ErrInvalidArgument)
			}
		}
		if err := ready(v.checker); err != nil {
			return nil, err
		}
		var err error
		if sigs, err = v.signatures(ctx, ref, src, d); err != nil {
			return nil, fmt.Errorf("verify %s: %w", ref, err)
		}
		if !sigs.empty() {
			if err := v.checkAll(ctx, sigs, scope, reqs, signed, ref, d, failures); err != nil {
				return nil, err
			}
		}
	}
	for i, req := range reqs {
		switch req.Kind {
		case AcceptAnything:
			continue
		case Reject:
			return nil, untrusted(scope, "the policy rejects every image here")
		}
		if sigs.empty() {
			return nil, untrusted(scope, "no signature for "+d.String())
		}
		if f := failures[i]; f != nil {
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

// checkAll has the checker check every signature against the trust of
// each requirement of signed, in one request, and sets failures[i] to
// why requirement i is not met (nil: met).
func (v *Verifier) checkAll(ctx context.Context, sigs *signatures, scope string, reqs []Requirement, signed []int, ref reference.Reference, d digest.Digest, failures []*failure) error {
	req := &sigcheck.Request{Version: sigcheck.Version, Digest: d.String(), Bundles: sigs.bundles}
	for _, i := range signed {
		w, err := reqs[i].Trust.wire()
		if err != nil {
			return fmt.Errorf("policy scope %q: requirement %d: %w", scope, i+1, err)
		}
		req.Trust = append(req.Trust, w)
	}
	for _, s := range sigs.legacy {
		req.Legacy = append(req.Legacy, s.wire())
	}
	resp, err := v.checker.CheckSignatures(ctx, req)
	if err == nil {
		err = resp.Validate(req)
	}
	if err != nil {
		return fmt.Errorf("checking signatures: %w", err)
	}
	for k, i := range signed {
		tr := resp.Results[k]
		if tr.Error != "" {
			return fmt.Errorf("policy scope %q: requirement %d: %s: %w", scope, i+1, tr.Error, errdefs.ErrInvalidArgument)
		}
		failures[i] = meet(tr, sigs, reqs[i], ref, d)
	}
	return nil
}

// meet returns nil when a signature meets req, as the checker found them
// (tr), else the most telling of the failures. A legacy signature that
// verifies is met once its payload, now known to be signed, names d and
// an identity req accepts.
func meet(tr sigcheck.TrustResult, sigs *signatures, req Requirement, ref reference.Reference, d digest.Digest) *failure {
	var best *failure
	for _, r := range tr.Bundles {
		if r.OK() {
			return nil
		}
		best = moreTelling(best, &failure{reason: r.Reason, msg: r.Error})
	}
	for j, r := range tr.Legacy {
		f := &failure{reason: r.Reason, msg: r.Error}
		if r.OK() {
			if f = checkPayload(sigs.legacy[j].payload, req, d, ref); f == nil {
				return nil
			}
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

// failure is why a signature failed: the reason (sigcheck's ranking, least
// telling first: the user hears of the failure that got furthest) and its
// text.
type failure struct {
	reason sigcheck.Reason
	msg    string
}

func moreTelling(a, b *failure) *failure {
	if a == nil || b.reason.Rank() > a.reason.Rank() {
		return b
	}
	return a
}

// text is the failure in the user's terms.
func (f *failure) text(req Requirement, d digest.Digest) string {
	switch f.reason {
	case sigcheck.Digest:
		return fmt.Sprintf("signature payload for another digest, not %s: %s", d, f.msg)
	case sigcheck.Identity:
		return "wrong identity: " + f.msg
	case sigcheck.Signature:
		if req.Trust.keyless() {
			return "no signature verifies with the trusted certificate authority and log: " + f.msg
		}
		return "wrong key: no signature verifies with the policy's key: " + f.msg
	}
	return "unreadable signature: " + f.msg
}

// describe names the identity rule in messages.
func (id Identity) describe() string {
	if id.Reference != "" {
		return string(id.Kind) + " " + id.Reference
	}
	return string(id.Kind)
}
