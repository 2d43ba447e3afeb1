// Package sigstore does the cryptographic part of signature verification
// with sigstore's Go library (sigstore-go), offline: it checks an image's
// candidate signatures, in both forms cosign writes them, against the
// trust material of each requirement of a policy, and says of each one
// whether it verifies or why not. Its input and output are plain data
// (package verify/sigcheck); it reads no file and asks no server.
//
//   - A sigstore bundle must be a signature of the request's digest: its
//     message signature's digest or its DSSE in-toto statement's subject.
//   - A legacy signature (a simple-signing payload with cosign's
//     annotations) must be a signature over its payload; what the payload
//     vouches for (the digest, the repository) is for the asking side to
//     read, once its signature has verified.
//
// Signatures verify against a key or, keyless, a Fulcio certificate
// naming an OIDC issuer and a subject; the transparency log's proof
// (inclusion promise or proof) is checked against the log's key, never by
// asking the log.
//
// This package is the only one of imagec that links sigstore-go and what
// it imports (protobuf, the Rekor clients' go-openapi, and the grpc and
// opentelemetry packages that sigstore-go's transparency-log code links
// without calling). imagec itself does not: it runs these checks in the
// helper command imagec-sigstore, which reads a sigcheck.Request on its
// standard input and writes the Response. A program that links this
// package anyway can check in-process instead, with
// verify.WithChecker(sigstore.Checker{}).
package sigstore

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/imagec/imagec/verify/sigcheck"
)

// Checker checks in this process; it is a verify.Checker.
type Checker struct{}

// CheckSignatures is Check, unless ctx is done.
func (Checker) CheckSignatures(ctx context.Context, req *sigcheck.Request) (*sigcheck.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return Check(req)
}

// Check checks every candidate of req against every trust of req. An
// error means a broken request (another version, a digest that does not
// parse); everything a registry or a policy could have got wrong is in the
// response.
func Check(req *sigcheck.Request) (*sigcheck.Response, error) {
	if req.Version != sigcheck.Version {
		return nil, fmt.Errorf("request version %d, want %d", req.Version, sigcheck.Version)
	}
	want, err := digest.Parse(req.Digest)
	if err != nil {
		return nil, fmt.Errorf("digest %q: %v", req.Digest, err)
	}
	sum, err := hex.DecodeString(want.Encoded())
	if err != nil {
		return nil, fmt.Errorf("digest %q: %v", req.Digest, err)
	}
	// Each candidate is read once, whatever the number of requirements.
	bundles := make([]*bundle.Bundle, len(req.Bundles))
	bundleErrs := make([]*failure, len(req.Bundles))
	for i, raw := range req.Bundles {
		bundles[i], bundleErrs[i] = parseBundle(raw)
	}
	legacy := make([]*legacyEntity, len(req.Legacy))
	legacyErrs := make([]*failure, len(req.Legacy))
	for i, s := range req.Legacy {
		if e, err := newLegacyEntity(s); err != nil {
			legacyErrs[i] = &failure{reason: sigcheck.Malformed, err: err}
		} else {
			legacy[i] = e
		}
	}
	resp := &sigcheck.Response{Version: sigcheck.Version, Results: []sigcheck.TrustResult{}}
	for _, wt := range req.Trust {
		t, err := parseTrust(wt)
		if err != nil {
			resp.Results = append(resp.Results, sigcheck.TrustResult{Error: err.Error()})
			continue
		}
		tr := sigcheck.TrustResult{Bundles: []sigcheck.Result{}, Legacy: []sigcheck.Result{}}
		for i, b := range bundles {
			f := bundleErrs[i]
			if f == nil {
				f = checkBundle(b, t, want.Algorithm(), sum)
			}
			tr.Bundles = append(tr.Bundles, f.result())
		}
		for i, e := range legacy {
			f := legacyErrs[i]
			if f == nil {
				f = checkLegacy(e, t)
			}
			tr.Legacy = append(tr.Legacy, f.result())
		}
		resp.Results = append(resp.Results, tr)
	}
	return resp, nil
}

// failure is why a candidate failed.
type failure struct {
	reason sigcheck.Reason
	err    error
}

func (f *failure) result() sigcheck.Result {
	if f == nil {
		return sigcheck.Result{}
	}
	return sigcheck.Result{Reason: f.reason, Error: f.err.Error()}
}

func moreTelling(a, b *failure) *failure {
	if a == nil || b.reason.Rank() > a.reason.Rank() {
		return b
	}
	return a
}
