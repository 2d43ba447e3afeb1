package verify

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
)

// BundleArtifactType is the artifact type of a sigstore bundle attached to
// an image as a referrer (cosign sign --new-bundle-format); the bundle is
// the manifest's one layer, of a bundle media type.
const BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// checkBundle verifies a sigstore bundle as a signature of want under
// req. The bundle's signed content must name want: a message signature's
// digest, or a DSSE in-toto statement's subject. A bundle vouches for a
// digest only, so req's signedIdentity has nothing to be checked against.
func checkBundle(raw []byte, req Requirement, want digest.Digest) *failure {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		return &failure{reason: reasonMalformed, err: fmt.Errorf("not a sigstore bundle: %v", err)}
	}
	sum, err := digestBytes(want)
	if err != nil {
		return &failure{reason: reasonMalformed, err: err}
	}
	alg := string(want.Algorithm())
	f := verifyEntity(&b, req.Trust, artifactDigest(alg, sum), true)
	if f == nil || f.reason != reasonSignature {
		return f
	}
	// A message signature is over its own digest: if it holds over that
	// one, it was made for another image.
	if sc, err := b.SignatureContent(); err == nil && sc.MessageSignatureContent() != nil {
		own := sc.MessageSignatureContent().Digest()
		if !bytes.Equal(own, sum) && verifyEntity(&b, req.Trust, artifactDigest(alg, own), false) == nil {
			return &failure{reason: reasonDigest, err: fmt.Errorf("signed for %s:%x", alg, own)}
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
func verifyEntity(e sgverify.SignedEntity, t *Trust, artifact func() sgverify.ArtifactPolicyOption, digestOnly bool) *failure {
	idOpt, err := t.identity()
	if err != nil {
		return &failure{reason: reasonMalformed, err: err}
	}
	var last *failure
	for i := range t.attempts() {
		v, err := t.verifier(i)
		if err != nil {
			return &failure{reason: reasonMalformed, err: err}
		}
		_, err = v.Verify(e, sgverify.NewPolicy(artifact(), idOpt))
		if err == nil {
			return nil
		}
		f := &failure{reason: reasonSignature, err: err}
		if _, e2 := v.Verify(e, sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), idOpt)); digestOnly && e2 == nil {
			f = &failure{reason: reasonDigest, err: fmt.Errorf("a valid signature, made for another digest")}
		} else if _, e3 := v.Verify(e, sgverify.NewPolicy(artifact(), sgverify.WithoutIdentitiesUnsafe())); t.keyless() && e3 == nil {
			f = &failure{reason: reasonIdentity, err: fmt.Errorf("a valid signature by another identity than %s from %s", t.Subject, t.Issuer)}
		}
		last = moreTelling(last, f)
	}
	return last
}

func digestBytes(d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return hex.DecodeString(d.Encoded())
}
