// Package signtest makes cosign signatures for tests, in both forms cosign
// writes them: the legacy sha256-<hex>.sig manifest of simple-signing
// payloads, and a sigstore bundle attached as an OCI 1.1 referrer. Keys are
// generated per test. It signs with keys only: keyless signatures need a
// virtual Sigstore (a Fulcio CA, a Rekor log), whose test helpers live in
// the test module so their dependencies stay out of the library's go.mod.
package signtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Media types and annotations of cosign's two forms, as cosign writes them.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	AnnotationSignature    = "dev.cosignproject.cosign/signature"
	BundleMediaType        = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// Key is an ECDSA P-256 signing key, cosign's default.
type Key struct{ Priv *ecdsa.PrivateKey }

// NewKey generates a key.
func NewKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Key{Priv: priv}, nil
}

// MustNewKey generates a key for a test, failing it if that fails.
func MustNewKey(t testing.TB) *Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// PublicPEM is the public key as cosign.pub holds it.
func (k *Key) PublicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.Priv.PublicKey)
	if err != nil {
		panic(err) // a P-256 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Payload is cosign's simple-signing payload vouching that repo (as
// cosign writes it: the repository, without tag) has manifest d.
func Payload(repo string, d digest.Digest) []byte {
	b, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repo},
			"image":    map[string]string{"docker-manifest-digest": d.String()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	return b
}

// SignPayload signs payload as cosign does (ECDSA over its SHA-256) and
// returns the layer annotations that carry the signature.
func (k *Key) SignPayload(payload []byte) (map[string]string, error) {
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, k.Priv, sum[:])
	if err != nil {
		return nil, err
	}
	return map[string]string{AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// Bundle is a sigstore bundle (v0.3) with a message signature over the
// digest d, verified by a public key (no certificate, no log entry).
func (k *Key) Bundle(d digest.Digest) ([]byte, error) {
	sum, err := hex.DecodeString(d.Encoded())
	if err != nil {
		return nil, err
	}
	sig, err := ecdsa.SignASN1(rand.Reader, k.Priv, sum)
	if err != nil {
		return nil, err
	}
	b := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "test"}},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum},
			Signature:     sig,
		}},
	}
	return protojson.Marshal(b)
}

// Blob is a blob with its descriptor.
type Blob struct {
	Desc ocispec.Descriptor
	Data []byte
}

// NewBlob describes data as of mediaType.
func NewBlob(mediaType string, data []byte, annotations map[string]string) Blob {
	return Blob{Desc: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data)), Annotations: annotations}, Data: data}
}

// Artifact is a manifest to push with its blobs (config and layers).
type Artifact struct {
	Desc     ocispec.Descriptor
	Manifest []byte
	Blobs    []Blob
}

// emptyConfig is the OCI empty descriptor's blob.
var emptyConfig = NewBlob(ocispec.MediaTypeEmptyJSON, []byte("{}"), nil)

// NewArtifact builds an OCI manifest of artifactType with layers and,
// when subject is set, that subject: a referrer.
func NewArtifact(artifactType string, layers []Blob, subject *ocispec.Descriptor, annotations map[string]string) (*Artifact, error) {
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       emptyConfig.Desc,
		Layers:       []ocispec.Descriptor{},
		Annotations:  annotations,
	}
	if subject != nil {
		s := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
		m.Subject = &s
	}
	a := &Artifact{Blobs: []Blob{emptyConfig}}
	for _, l := range layers {
		m.Layers = append(m.Layers, l.Desc)
		a.Blobs = append(a.Blobs, l)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	a.Manifest = body
	a.Desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(body), Size: int64(len(body)), ArtifactType: artifactType}
	return a, nil
}

// LegacyManifest is the manifest cosign tags sha256-<hex>.sig: one
// simple-signing layer per signature, each payload with its annotations.
func LegacyManifest(payloads [][]byte, annotations []map[string]string) (*Artifact, error) {
	if len(payloads) != len(annotations) {
		return nil, fmt.Errorf("%d payloads, %d annotation sets", len(payloads), len(annotations))
	}
	var layers []Blob
	for i, p := range payloads {
		layers = append(layers, NewBlob(SimpleSigningMediaType, p, annotations[i]))
	}
	a, err := NewArtifact("", layers, nil, nil)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// BundleReferrer is the referrer cosign attaches a bundle to subject with.
func BundleReferrer(subject ocispec.Descriptor, bundle []byte) (*Artifact, error) {
	layer := NewBlob(BundleMediaType, bundle, nil)
	return NewArtifact(BundleMediaType, []Blob{layer}, &subject, map[string]string{"dev.sigstore.bundle.content": "message-signature"})
}

// LegacyTag is the tag of d's legacy signatures.
func LegacyTag(d digest.Digest) string { return string(d.Algorithm()) + "-" + d.Encoded() + ".sig" }
