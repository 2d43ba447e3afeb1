// Package keyless signs the way cosign does without a key: a short-lived
// certificate from a Fulcio CA naming an identity and an OIDC issuer, and
// a hashedrekord entry in a Rekor transparency log, with the log's signed
// entry timestamp (inclusion promise) and an inclusion proof under a signed
// checkpoint. Both the CA and the log live in memory; verification is given
// their keys, as a policy file's fulcio.caPath and rekorPublicKeyPath or as
// a trusted root.
//
// It is written here rather than on sigstore-go's pkg/testing/ca, whose
// imports (rekor's PGP support) need golang.org/x/crypto/openpgp, which
// the x/crypto this module requires no longer has.
package keyless

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"time"

	"github.com/opencontainers/go-digest"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	prototrust "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/imagec/imagec/internal/signtest"
)

// Fulcio's certificate extensions: the OIDC issuer, in its first form (raw
// bytes) and its second (a DER UTF8String).
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// Sigstore is a CA and a log.
type Sigstore struct {
	caKey, logKey *ecdsa.PrivateKey
	ca            *x509.Certificate
	logID         []byte
	index         int64
}

// New creates one.
func New() (*Sigstore, error) {
	s := &Sigstore{}
	var err error
	if s.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if s.logKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "virtual fulcio"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &s.caKey.PublicKey, s.caKey)
	if err != nil {
		return nil, err
	}
	if s.ca, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&s.logKey.PublicKey)
	if err != nil {
		return nil, err
	}
	id := sha256.Sum256(pub)
	s.logID = id[:]
	return s, nil
}

// FulcioPEM is the CA for a policy's fulcio.caPath.
func (s *Sigstore) FulcioPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.Raw})
}

// RekorPEM is the log's public key for a policy's rekorPublicKeyPath.
func (s *Sigstore) RekorPEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.logKey.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TrustedRoot is trusted_root.json naming the CA and the log.
func (s *Sigstore) TrustedRoot() ([]byte, error) {
	der, _ := x509.MarshalPKIXPublicKey(&s.logKey.PublicKey)
	start := timestamppb.New(time.Now().Add(-time.Hour))
	tr := &prototrust.TrustedRoot{
		MediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		Tlogs: []*prototrust.TransparencyLogInstance{{
			BaseUrl: "https://rekor.virtual", HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
			PublicKey: &protocommon.PublicKey{RawBytes: der, KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, ValidFor: &protocommon.TimeRange{Start: start}},
			LogId:     &protocommon.LogId{KeyId: s.logID},
		}},
		CertificateAuthorities: []*prototrust.CertificateAuthority{{
			Subject:   &protocommon.DistinguishedName{CommonName: "virtual fulcio"},
			Uri:       "https://fulcio.virtual",
			CertChain: &protocommon.X509CertificateChain{Certificates: []*protocommon.X509Certificate{{RawBytes: s.ca.Raw}}},
			ValidFor:  &protocommon.TimeRange{Start: start},
		}},
	}
	return protojson.Marshal(tr)
}

// signed is a keyless signature: its certificate, the signature and the
// log entry recording them.
type signed struct {
	cert  *x509.Certificate
	sig   []byte
	entry *protorekor.TransparencyLogEntry
}

// sign signs the artifact whose SHA-256 is sum as identity of issuer and
// logs it.
func (s *Sigstore) sign(identity, issuer string, sum []byte) (*signed, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	v2, _ := asn1.MarshalWithParams(issuer, "utf8")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute),
		EmailAddresses: []string{identity}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{{Id: oidIssuerV1, Value: []byte(issuer)}, {Id: oidIssuerV2, Value: v2}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, &key.PublicKey, s.caKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum)
	if err != nil {
		return nil, err
	}
	entry, err := s.log(cert, sig, sum)
	if err != nil {
		return nil, err
	}
	return &signed{cert: cert, sig: sig, entry: entry}, nil
}

// log records a hashedrekord entry, as the only one of a fresh log: its
// promise signs the entry, its proof a tree of that one leaf.
func (s *Sigstore) log(cert *x509.Certificate, sig, sum []byte) (*protorekor.TransparencyLogEntry, error) {
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	body, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]string{"algorithm": "sha256", "value": hex.EncodeToString(sum)}},
			"signature": map[string]any{"content": base64.StdEncoding.EncodeToString(sig), "publicKey": map[string]string{"content": base64.StdEncoding.EncodeToString(certPEM)}},
		},
	})
	if err != nil {
		return nil, err
	}
	integrated := time.Now().Unix()
	index := s.index
	s.index++
	// The promise signs the canonical JSON of body, time, index and log
	// ID; json.Marshal of a map sorts keys and adds no space, and none of
	// these values has a character JSON canonicalization writes otherwise.
	promise, err := json.Marshal(map[string]any{"body": base64.StdEncoding.EncodeToString(body), "integratedTime": integrated, "logIndex": index, "logID": hex.EncodeToString(s.logID)})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(promise)
	set, err := ecdsa.SignASN1(rand.Reader, s.logKey, h[:])
	if err != nil {
		return nil, err
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	signer, err := signature.LoadECDSASignerVerifier(s.logKey, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	checkpoint, err := util.CreateAndSignCheckpoint(context.Background(), "rekor.virtual", 1, uint64(index+1), leaf[:], signer)
	if err != nil {
		return nil, err
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex: index, LogId: &protocommon.LogId{KeyId: s.logID},
		KindVersion: &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"}, IntegratedTime: integrated,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		InclusionProof:    &protorekor.InclusionProof{LogIndex: 0, RootHash: leaf[:], TreeSize: 1, Checkpoint: &protorekor.Checkpoint{Envelope: string(checkpoint)}},
		CanonicalizedBody: body,
	}, nil
}

// SignPayload signs a simple-signing payload as identity of issuer, and
// returns the annotations of cosign's legacy form: the signature, the
// certificate and the Rekor bundle (the log's signed entry timestamp).
func (s *Sigstore) SignPayload(identity, issuer string, payload []byte) (map[string]string, error) {
	sum := sha256.Sum256(payload)
	sg, err := s.sign(identity, issuer, sum[:])
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(map[string]any{
		"SignedEntryTimestamp": sg.entry.InclusionPromise.SignedEntryTimestamp,
		"Payload": map[string]any{
			"body": base64.StdEncoding.EncodeToString(sg.entry.CanonicalizedBody), "integratedTime": sg.entry.IntegratedTime,
			"logIndex": sg.entry.LogIndex, "logID": hex.EncodeToString(s.logID),
		},
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{
		signtest.AnnotationSignature:      base64.StdEncoding.EncodeToString(sg.sig),
		"dev.sigstore.cosign/certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sg.cert.Raw})),
		"dev.sigstore.cosign/bundle":      string(b),
	}, nil
}

// Bundle is a sigstore bundle (v0.3) whose message signature is over the
// manifest d (its digest is the signed artifact's), by identity of issuer.
func (s *Sigstore) Bundle(identity, issuer string, d digest.Digest) ([]byte, error) {
	sum, err := hex.DecodeString(d.Encoded())
	if err != nil {
		return nil, err
	}
	sg, err := s.sign(identity, issuer, sum)
	if err != nil {
		return nil, err
	}
	b := &protobundle.Bundle{
		MediaType: signtest.BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: sg.cert.Raw}},
			TlogEntries: []*protorekor.TransparencyLogEntry{sg.entry},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum},
			Signature:     sg.sig,
		}},
	}
	return protojson.Marshal(b)
}
