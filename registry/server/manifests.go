package server

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content/graph"
	"github.com/imagec/imagec/manifest"
)

// serveManifest answers a manifest by tag or by digest with the stored
// bytes, exactly.
func (h *Handler) serveManifest(w http.ResponseWriter, r *http.Request, rp *repo, id string) {
	ctx := r.Context()
	var (
		desc ocispec.Descriptor
		err  error
	)
	if d, perr := digest.Parse(id); perr == nil {
		desc, err = h.manifestByDigest(ctx, rp, d)
	} else {
		desc, err = h.manifestByTag(ctx, rp, id)
	}
	if err != nil {
		writeError(w, r, err, "MANIFEST_UNKNOWN")
		return
	}
	body, err := h.src.ReadBlob(ctx, desc.Digest, manifest.MaxSize)
	if err != nil {
		writeError(w, r, err, "MANIFEST_UNKNOWN")
		return
	}
	writeDocument(w, r, desc.MediaType, desc.Digest, body)
}

// manifestByTag is the document the store names repository:tag with, as
// its registry served it (never imagec's wrapper index). A pull-through
// asks its upstream first; on failure the stored answer, if any, stands.
func (h *Handler) manifestByTag(ctx context.Context, rp *repo, tag string) (ocispec.Descriptor, error) {
	var upErr error
	if h.up != nil {
		ref, err := rp.tagRef(tag)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if upErr = h.up.Manifest(ctx, ref, false); upErr == nil {
			// The upstream may have recorded a new name: look again.
			if rp, err = h.reload(ctx, rp); err != nil {
				return ocispec.Descriptor{}, err
			}
		}
	}
	entry, ok := rp.tagged(tag)
	if !ok {
		if upErr != nil {
			return ocispec.Descriptor{}, upErr
		}
		return ocispec.Descriptor{}, errNotFound("MANIFEST_UNKNOWN", "tag not in this store")
	}
	return graph.Original(ctx, h.src, entry)
}

// manifestByDigest is a stored document the repository's names reach.
func (h *Handler) manifestByDigest(ctx context.Context, rp *repo, d digest.Digest) (ocispec.Descriptor, error) {
	isDoc := func(n reached) bool { return n.document }
	n, ok, err := h.reach.lookup(ctx, h.src, rp, d, isDoc)
	if err != nil || ok {
		return n.desc, err
	}
	if h.up == nil {
		return ocispec.Descriptor{}, errNotFound("MANIFEST_UNKNOWN", "manifest not in this store")
	}
	ref, err := rp.digestRef(d)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := h.up.Manifest(ctx, ref, n.desc.Digest == d); err != nil {
		return ocispec.Descriptor{}, err
	}
	if rp, err = h.reload(ctx, rp); err != nil {
		return ocispec.Descriptor{}, err
	}
	if n, ok, err = h.reach.lookup(ctx, h.src, rp, d, isDoc); err != nil || ok {
		return n.desc, err
	}
	return ocispec.Descriptor{}, errNotFound("MANIFEST_UNKNOWN", "manifest not in this store")
}

// writeDocument answers a manifest, index or list.
func writeDocument(w http.ResponseWriter, r *http.Request, mediaType string, d digest.Digest, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", mediaType)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("ETag", `"`+d.String()+`"`)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// serveTags answers the stored tags of the repository, sorted, with the
// n and last parameters of the API's pagination.
func (h *Handler) serveTags(w http.ResponseWriter, r *http.Request, rp *repo, path string) {
	tags := rp.tags()
	slices.Sort(tags)
	tags = slices.Compact(tags)
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		i, _ := slices.BinarySearch(tags, last)
		for i < len(tags) && tags[i] <= last {
			i++
		}
		tags = tags[i:]
	}
	if n, err := strconv.Atoi(q.Get("n")); err == nil && n >= 0 && n < len(tags) {
		tags = tags[:n]
	}
	writeJSON(w, r, "application/json", map[string]any{"name": path, "tags": tags})
}

// serveReferrers answers the stored manifests whose subject is d, as an
// OCI image index: those the repository's names reach, and the attached
// ones of a subject it reaches (see walkRepo), in the order they were
// reached.
func (h *Handler) serveReferrers(w http.ResponseWriter, r *http.Request, rp *repo, d digest.Digest) {
	artifactType := r.URL.Query().Get("artifactType")
	set, err := h.reach.get(r.Context(), h.src, rp)
	if err != nil {
		writeError(w, r, err, "MANIFEST_UNKNOWN")
		return
	}
	list := []ocispec.Descriptor{}
	for _, ref := range set.referrers[d] {
		if artifactType == "" || ref.ArtifactType == artifactType {
			list = append(list, ref)
		}
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	writeJSON(w, r, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: list,
	})
}

func writeJSON(w http.ResponseWriter, r *http.Request, mediaType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, err, "UNKNOWN")
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
