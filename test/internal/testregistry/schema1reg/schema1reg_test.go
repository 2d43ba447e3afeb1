package schema1reg

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/docker/distribution/manifest/schema1"
	"github.com/docker/libtrust"
	"github.com/opencontainers/go-digest"
)

func get(t *testing.T, u, accept string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func TestEmptyLayer(t *testing.T) {
	t.Parallel()
	if got := digest.FromBytes(emptyGzipTar); got != EmptyLayerDigest {
		t.Fatalf("empty layer digest %s, want %s", got, EmptyLayerDigest)
	}
	zr, err := gzip.NewReader(bytes.NewReader(emptyGzipTar))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(raw, make([]byte, 1024)) {
		t.Fatalf("empty layer decompresses to %d bytes (%v), want 1024 zeros", len(raw), err)
	}
}

// verifySigned checks body is a libtrust-signed schema 1 manifest whose
// canonical payload hashes to want, and returns it.
func verifySigned(t *testing.T, body []byte, want digest.Digest) *schema1.SignedManifest {
	t.Helper()
	sig, err := libtrust.ParsePrettySignature(body, "signatures")
	if err != nil {
		t.Fatalf("parsing JWS: %v", err)
	}
	keys, err := sig.Verify()
	if err != nil || len(keys) == 0 {
		t.Fatalf("verifying signature: %d keys, %v", len(keys), err)
	}
	payload, err := sig.Payload()
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(payload); got != want {
		t.Errorf("canonical payload digest %s, want %s", got, want)
	}
	var sm schema1.SignedManifest
	if err := json.Unmarshal(body, &sm); err != nil {
		t.Fatal(err)
	}
	return &sm
}

func TestPushSchema1ServesSignedManifest(t *testing.T) {
	t.Parallel()
	r := Start(t)
	dgst, blobs, diffIDs, err := r.PushSchema1(t.Context(), "legacy/app", "v1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 2 || len(diffIDs) != 2 {
		t.Fatalf("got %d blobs and %d diffIDs, want 2 each", len(blobs), len(diffIDs))
	}

	for _, ref := range []string{"v1", dgst.String()} {
		status, hdr, body := get(t, r.URL+"/v2/legacy/app/manifests/"+ref, schema1.MediaTypeSignedManifest)
		if status != http.StatusOK || hdr.Get("Content-Type") != schema1.MediaTypeSignedManifest || hdr.Get("Docker-Content-Digest") != dgst.String() {
			t.Fatalf("GET %s: status %d, type %s, digest %s", ref, status, hdr.Get("Content-Type"), hdr.Get("Docker-Content-Digest"))
		}
		sm := verifySigned(t, body, dgst)
		if sm.Name != "legacy/app" || sm.Tag != "v1" || len(sm.FSLayers) != 3 || len(sm.History) != 3 {
			t.Fatalf("manifest %s:%s with %d layers, %d history", sm.Name, sm.Tag, len(sm.FSLayers), len(sm.History))
		}
		// Top first: layer 1, the throwaway ENV, layer 0.
		var gotBlobs []digest.Digest
		for i, l := range slices.Backward(sm.FSLayers) {
			var h struct{ Throwaway bool }
			if err := json.Unmarshal([]byte(sm.History[i].V1Compatibility), &h); err != nil {
				t.Fatal(err)
			}
			if h.Throwaway != (l.BlobSum == EmptyLayerDigest) {
				t.Errorf("entry %d: throwaway %v with blob %s", i, h.Throwaway, l.BlobSum)
			}
			if !h.Throwaway {
				gotBlobs = append(gotBlobs, l.BlobSum)
			}
		}
		if !slices.Equal(gotBlobs, blobs) {
			t.Errorf("manifest layers (bottom first) %v, PushSchema1 returned %v", gotBlobs, blobs)
		}
	}

	for i, b := range blobs {
		status, _, data := get(t, r.URL+"/v2/legacy/app/blobs/"+b.String(), "")
		if status != http.StatusOK || digest.FromBytes(data) != b {
			t.Fatalf("blob %s: status %d", b, status)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(zr)
		if digest.FromBytes(raw) != diffIDs[i] {
			t.Errorf("layer %d diffID %s, want %s", i, digest.FromBytes(raw), diffIDs[i])
		}
	}
}

// A schema 2 image fetched by tag by a client that only accepts schema 1 is
// converted by the registry and signed with its own key.
func TestSchema2ConvertedForSchema1Clients(t *testing.T) {
	t.Parallel()
	r := Start(t)
	_, blobs, diffIDs, err := r.PushSchema1(t.Context(), "conv/app", "old", 9)
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},`+
		`"rootfs":{"type":"layers","diff_ids":["%s","%s"]},"history":[{"created_by":"a"},{"created_by":"b"}]}`, diffIDs[0], diffIDs[1])
	if err := r.pushBlob(t.Context(), "conv/app", config); err != nil {
		t.Fatal(err)
	}
	m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`+
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},"layers":[`+
		`{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":"%s"},`+
		`{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":"%s"}]}`,
		len(config), digest.FromBytes(config), blobSize(t, r, blobs[0]), blobs[0], blobSize(t, r, blobs[1]), blobs[1])
	resp, err := do(t.Context(), http.MethodPut, r.URL+"/v2/conv/app/manifests/new", "application/vnd.docker.distribution.manifest.v2+json", m)
	if err != nil {
		t.Fatal(err)
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		t.Fatal(err)
	}

	status, hdr, body := get(t, r.URL+"/v2/conv/app/manifests/new", schema1.MediaTypeSignedManifest)
	if status != http.StatusOK || hdr.Get("Content-Type") != schema1.MediaTypeSignedManifest {
		t.Fatalf("status %d, type %s", status, hdr.Get("Content-Type"))
	}
	sm := verifySigned(t, body, digest.Digest(hdr.Get("Docker-Content-Digest")))
	if len(sm.FSLayers) != 2 || sm.FSLayers[0].BlobSum != blobs[1] || sm.FSLayers[1].BlobSum != blobs[0] {
		t.Errorf("converted fsLayers %v, want %v reversed", sm.FSLayers, blobs)
	}
}

func blobSize(t *testing.T, r *Registry, d digest.Digest) int {
	t.Helper()
	status, _, data := get(t, r.URL+"/v2/conv/app/blobs/"+d.String(), "")
	if status != http.StatusOK {
		t.Fatalf("blob %s: status %d", d, status)
	}
	return len(data)
}
