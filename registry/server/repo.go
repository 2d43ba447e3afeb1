package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/reference"
)

// repo is the repository a request is for, with what the store names in
// it (entries and their names, in store order). A pull-through cache may
// serve a repository the store holds nothing of yet.
type repo struct {
	// name is the full repository name: docker.io/library/alpine.
	name    string
	entries []ocispec.Descriptor
	refs    []reference.Reference
	// attached are the store's entries without a name (referrers kept for
	// their subjects, content.Attacher): those whose subject the
	// repository reaches are the repository's too.
	attached []ocispec.Descriptor
}

// tagRef and digestRef are the repository with a tag or a digest, for
// an Upstream.
func (rp *repo) tagRef(tag string) (reference.Reference, error) {
	return reference.Parse(rp.name + ":" + tag)
}

func (rp *repo) digestRef(d digest.Digest) (reference.Reference, error) {
	return reference.Parse(rp.name + "@" + d.String())
}

// tagged returns the entry the store names repository:tag.
func (rp *repo) tagged(tag string) (ocispec.Descriptor, bool) {
	for i, ref := range rp.refs {
		if ref.Digest() == "" && ref.Tag() == tag {
			return rp.entries[i], true
		}
	}
	return ocispec.Descriptor{}, false
}

// tags lists the repository's stored tags, in store order.
func (rp *repo) tags() []string {
	out := []string{}
	for _, ref := range rp.refs {
		if ref.Digest() == "" {
			out = append(out, ref.Tag())
		}
	}
	return out
}

// repository finds the repository a request's path and ns parameter
// name (see the package comment for the rules).
func (h *Handler) repository(ctx context.Context, path, ns string) (*repo, error) {
	all, err := h.src.Images(ctx)
	if err != nil {
		return nil, err
	}
	byName, order := group(all)
	pick := func(name string) (*repo, error) {
		if rp := byName[name]; rp != nil {
			return rp, nil
		}
		if h.up != nil {
			return &repo{name: name}, nil
		}
		return nil, errNotFound("NAME_UNKNOWN", "repository not in this store")
	}
	if ns != "" {
		if !validNamespace(ns) {
			return nil, &apiError{status: http.StatusBadRequest, code: "NAME_INVALID", message: "invalid ns parameter"}
		}
		ref, err := reference.Parse(ns + "/" + path)
		if err != nil {
			return nil, &apiError{status: http.StatusBadRequest, code: "NAME_INVALID", message: "invalid repository name", cause: err}
		}
		return pick(ref.Name())
	}
	var match []*repo
	for _, rp := range order {
		if rp.refs[0].Path() == path {
			match = append(match, rp)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) > 1:
		return nil, errNotFound("NAME_UNKNOWN", fmt.Sprintf("%d registries' repositories have this path: name one with ?ns=REGISTRY", len(match)))
	}
	ref, err := reference.Parse(path)
	if err != nil {
		return nil, errNotFound("NAME_UNKNOWN", "repository not in this store")
	}
	return pick(ref.Name())
}

// group sorts a store's entries into repositories, in store order.
func group(all []ocispec.Descriptor) (map[string]*repo, []*repo) {
	byName := map[string]*repo{}
	var order []*repo
	var attached []ocispec.Descriptor
	for _, e := range all {
		name := e.Annotations[ocispec.AnnotationRefName]
		if name == "" {
			attached = append(attached, e)
			continue
		}
		ref, err := reference.Parse(name)
		if err != nil {
			continue // an entry another tool wrote without a usable name
		}
		rp := byName[ref.Name()]
		if rp == nil {
			rp = &repo{name: ref.Name()}
			byName[rp.name] = rp
			order = append(order, rp)
		}
		rp.entries = append(rp.entries, e)
		rp.refs = append(rp.refs, ref)
	}
	for _, rp := range order {
		rp.attached = attached
	}
	return byName, order
}

// reload reads rp's entries again, after an Upstream recorded names.
func (h *Handler) reload(ctx context.Context, rp *repo) (*repo, error) {
	all, err := h.src.Images(ctx)
	if err != nil {
		return nil, err
	}
	byName, _ := group(all)
	if fresh := byName[rp.name]; fresh != nil {
		return fresh, nil
	}
	return &repo{name: rp.name}, nil // nothing of it stored: nothing attached reached
}
