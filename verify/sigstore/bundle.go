package sigstore

import (
	"bytes"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/imagec/imagec/verify/sigcheck"
)

func parseBundle(raw []byte) (*bundle.Bundle, *failure) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return nil, &failure{reason: sigcheck.Malformed, err: fmt.Errorf("not a sigstore bundle: %v", err)}
	}
	return &b, nil
}

// checkBundle verifies a sigstore bundle as a signature of the digest
// alg:sum under t. The bundle's signed content must name it: a message
// signature's digest, or a DSSE in-toto statement's subject. A bundle
// vouches for a digest only, so a requirement's signedIdentity has
// nothing to be checked against.
func checkBundle(b *bundle.Bundle, t *trust, alg digest.Algorithm, sum []byte) *failure {
	f := verifyEntity(b, t, artifactDigest(string(alg), sum), true)
	if f == nil || f.reason != sigcheck.Signature {
		return f
	}
	// A message signature is over its own digest: if it holds over that
	// one, it was made for another image.
	if sc, err := b.SignatureContent(); err == nil && sc.MessageSignatureContent() != nil {
		own := sc.MessageSignatureContent().Digest()
		if !bytes.Equal(own, sum) && verifyEntity(b, t, artifactDigest(string(alg), own), false) == nil {
			return &failure{reason: sigcheck.Digest, err: fmt.Errorf("signed for %s:%x", alg, own)}
		}
	}
	return f
}

func artifactDigest(alg string, sum []byte) func() sgverify.ArtifactPolicyOption {
	return func() sgverify.ArtifactPolicyOption { return sgverify.WithArtifactDigest(alg, sum) }
}

// verifyEntity verifies e against t with the artifact policy artifact
// (made anew for each try: a reader is read once). On failure it finds out
// why, so the user hears the reason that matters: a signature that holds
// but was made for another digest (digestOnly: the artifact policy is the
// digest) or another identity, rather than "does not verify".
func verifyEntity(e sgverify.SignedEntity, t *trust, artifact func() sgverify.ArtifactPolicyOption, digestOnly bool) *failure {
	idOpt, err := t.identity()
	if err != nil {
		return &failure{reason: sigcheck.Malformed, err: err}
	}
	var last *failure
	for i := range t.attempts() {
		v, err := t.verifier(i)
		if err != nil {
			return &failure{reason: sigcheck.Malformed, err: err}
		}
		_, err = v.Verify(e, sgverify.NewPolicy(artifact(), idOpt))
		if err == nil {
			return nil
		}
		f := &failure{reason: sigcheck.Signature, err: err}
		if _, e2 := v.Verify(e, sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), idOpt)); digestOnly && e2 == nil {
			f = &failure{reason: sigcheck.Digest, err: fmt.Errorf("a valid signature, made for another digest")}
		} else if _, e3 := v.Verify(e, sgverify.NewPolicy(artifact(), sgverify.WithoutIdentitiesUnsafe())); t.keyless() && e3 == nil {
			f = &failure{reason: sigcheck.Identity, err: fmt.Errorf("a valid signature by another identity than %s from %s", t.subject, t.issuer)}
		}
		last = moreTelling(last, f)
	}
	return last
}
