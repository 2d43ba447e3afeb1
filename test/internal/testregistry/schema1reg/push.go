package schema1reg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/docker/distribution/manifest"
	"github.com/docker/distribution/manifest/schema1"
	"github.com/docker/libtrust"
	"github.com/imagec/imagec/errdefs"
	"github.com/opencontainers/go-digest"
)

// emptyGzipTar is the layer docker records for history entries that change
// no files: an empty tar archive (1024 zero bytes) gzipped. Its digest,
// EmptyLayerDigest, is the same on every registry.
var emptyGzipTar = []byte{
	0x1f, 0x8b, 0x08, 0x00, 0x00, 0x09, 0x6e, 0x88, 0x00, 0xff, 0x62, 0x18, 0x05, 0xa3, 0x60, 0x14,
	0x8c, 0x58, 0x00, 0x08, 0x00, 0x00, 0xff, 0xff, 0x2e, 0xaf, 0xb5, 0xef, 0x00, 0x04, 0x00, 0x00,
}

// EmptyLayerDigest is the blob digest of the empty layer schema 1 manifests
// list for throwaway history entries.
const EmptyLayerDigest = digest.Digest("sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4")

var created = time.Date(2016, 5, 6, 7, 8, 9, 0, time.UTC)

// step is one build step, bottom first.
type step struct {
	cmd       string
	throwaway bool
	layer     []byte // uncompressed tar; nil for throwaway steps
}

// PushSchema1 pushes a signed schema 1 image under repo:tag: two real gzip
// layers (seeded pseudo-random files) with a throwaway ENV step between
// them, whose history entry points at the empty layer, as docker 1.10+
// produced. It returns the canonical manifest digest (of the payload
// without signatures, what docker shows and the registry's
// Docker-Content-Digest), and the blob digests and DiffIDs of the real
// layers, bottom first; throwaway entries are not layers of the image.
func (r *Registry) PushSchema1(ctx context.Context, repo, tag string, seed int64) (digest.Digest, []digest.Digest, []digest.Digest, error) {
	steps := []step{
		{cmd: "/bin/sh -c #(nop) ADD file:base in / ", layer: seededTar(seed, 0)},
		{cmd: "/bin/sh -c #(nop)  ENV SCHEMA1=yes", throwaway: true},
		{cmd: "/bin/sh -c echo layer 1 > /etc/motd", layer: seededTar(seed, 1)},
	}
	m := schema1.Manifest{
		Versioned:    manifest.Versioned{SchemaVersion: 1},
		Name:         repo,
		Tag:          tag,
		Architecture: "amd64",
	}
	var blobs, diffIDs []digest.Digest
	parent := ""
	for i, s := range steps {
		blob := emptyGzipTar
		if !s.throwaway {
			var err error
			if blob, err = gzipBytes(s.layer); err != nil {
				return "", nil, nil, err
			}
			blobs = append(blobs, digest.FromBytes(blob))
			diffIDs = append(diffIDs, digest.FromBytes(s.layer))
		}
		if err := r.pushBlob(ctx, repo, blob); err != nil {
			return "", nil, nil, err
		}
		id := v1ID(seed, i)
		v1, err := v1Compat(id, parent, s, i == len(steps)-1)
		if err != nil {
			return "", nil, nil, err
		}
		parent = id
		// Schema 1 lists layers and history top first.
		m.FSLayers = append([]schema1.FSLayer{{BlobSum: digest.FromBytes(blob)}}, m.FSLayers...)
		m.History = append([]schema1.History{{V1Compatibility: v1}}, m.History...)
	}

	key, err := libtrust.GenerateECP256PrivateKey()
	if err != nil {
		return "", nil, nil, fmt.Errorf("schema1 signing key: %w", err)
	}
	signed, err := schema1.Sign(&m, key)
	if err != nil {
		return "", nil, nil, fmt.Errorf("signing schema1 manifest %s:%s: %w", repo, tag, err)
	}
	body, err := signed.MarshalJSON()
	if err != nil {
		return "", nil, nil, err
	}
	want := digest.FromBytes(signed.Canonical)
	resp, err := do(ctx, http.MethodPut, r.URL+"/v2/"+repo+"/manifests/"+tag, schema1.MediaTypeSignedManifest, body)
	if err != nil {
		return "", nil, nil, fmt.Errorf("pushing schema1 manifest %s:%s: %w", repo, tag, err)
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		return "", nil, nil, fmt.Errorf("pushing schema1 manifest %s:%s: %w", repo, tag, err)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != want.String() {
		return "", nil, nil, fmt.Errorf("pushing schema1 manifest %s:%s: registry says %s, canonical is %s: %w", repo, tag, got, want, errdefs.ErrDigestMismatch)
	}
	return want, blobs, diffIDs, nil
}

// v1Compat is a history entry as docker wrote them; the top one also
// carries the image config.
func v1Compat(id, parent string, s step, top bool) (string, error) {
	h := map[string]any{
		"id":               id,
		"created":          created.Format(time.RFC3339Nano),
		"container_config": map[string]any{"Cmd": []string{s.cmd}},
	}
	if parent != "" {
		h["parent"] = parent
	}
	if s.throwaway {
		h["throwaway"] = true
	}
	if top {
		h["architecture"] = "amd64"
		h["os"] = "linux"
		h["config"] = map[string]any{
			"Env": []string{"PATH=/usr/bin:/bin", "SCHEMA1=yes"},
			"Cmd": []string{"/bin/sh"},
		}
	}
	b, err := json.Marshal(h)
	return string(b), err
}

// v1ID derives the legacy 64-hex image ID of step i.
func v1ID(seed int64, i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "schema1reg %d %d", seed, i))
	return hex.EncodeToString(sum[:])
}

// seededTar is a small layer: a directory and two files of pseudo-random
// bytes derived from seed and i.
func seededTar(seed int64, i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := fmt.Sprintf("schema1-layer%d/", i)
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: created})
	for f := range 2 {
		body := make([]byte, 1500+rng.IntN(1500))
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%sfile%d", dir, f), Mode: 0o644, Size: int64(len(body)), ModTime: created})
		_, _ = tw.Write(body)
	}
	_ = tw.Close() // writes to a bytes.Buffer cannot fail
	return buf.Bytes()
}

func gzipBytes(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pushBlob uploads data monolithically unless the repository has it.
func (r *Registry) pushBlob(ctx context.Context, repo string, data []byte) error {
	dgst := digest.FromBytes(data)
	base := r.URL + "/v2/" + repo + "/blobs/"
	resp, err := do(ctx, http.MethodHead, base+dgst.String(), "", nil)
	if err != nil {
		return fmt.Errorf("checking blob %s in %s: %w", dgst, repo, err)
	}
	if resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		return nil
	}
	resp.Body.Close()
	if resp, err = do(ctx, http.MethodPost, base+"uploads/", "", nil); err != nil {
		return fmt.Errorf("starting upload of %s to %s: %w", dgst, repo, err)
	}
	if err := expect(resp, http.StatusAccepted); err != nil {
		return fmt.Errorf("starting upload of %s to %s: %w", dgst, repo, err)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("upload location for %s: %w", dgst, errors.Join(errdefs.ErrInvalidArgument, err))
	}
	q := loc.Query()
	q.Set("digest", dgst.String())
	loc.RawQuery = q.Encode()
	if resp, err = do(ctx, http.MethodPut, loc.String(), "application/octet-stream", data); err != nil {
		return fmt.Errorf("uploading %s to %s: %w", dgst, repo, err)
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		return fmt.Errorf("uploading %s to %s: %w", dgst, repo, err)
	}
	return nil
}

func do(ctx context.Context, method, u, contentType string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, errors.Join(errdefs.ErrInvalidArgument, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, errors.Join(errdefs.ErrUnavailable, err)
	}
	return resp, nil
}

// expect drains and closes resp's body, failing unless it has status want.
func expect(resp *http.Response, want int) error {
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode == want {
		return nil
	}
	cat := errdefs.ErrUnavailable
	switch resp.StatusCode {
	case http.StatusNotFound:
		cat = errdefs.ErrNotFound
	case http.StatusBadRequest:
		cat = errdefs.ErrInvalidArgument
	}
	return fmt.Errorf("status %d: %s: %w", resp.StatusCode, bytes.TrimSpace(msg), cat)
}
