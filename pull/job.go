package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/content"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/image"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/progress"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// job is one Pull call: the reference, its options and what it fetched.
type job struct {
	p    *Puller
	ref  reference.Reference
	opts pullOptions
	// remotes are ref at each endpoint (mirrors, then the registry); src
	// is the one the manifest came from. client speaks to them (ns=, API
	// roots, headers).
	remotes []*remote
	src     int
	client  *registry.Client

	fetched counter
	// partBufs holds the pull's parts in memory (partPool).
	partOnce sync.Once
	partBufs *partPool
	// wrapWriter, if set, wraps each ingest writer (WithIngestWriter).
	wrapWriter func(content.Writer) content.Writer
}

// document is a manifest or index as received, already verified.
type document struct {
	desc   ocispec.Descriptor
	body   []byte
	parsed *manifest.Parsed
}

func (j *job) emit(e progress.Event) { j.opts.sink.Emit(e) }

func (j *job) run(ctx context.Context) (*Result, error) {
	j.emit(progress.Event{Action: progress.PullingFrom, ID: j.ref.Identifier(), Message: familiarPath(j.ref)})
	previous, hadPrevious := j.recorded(ctx)

	if hadPrevious && j.ref.Digest() != "" && previous.RepoDigest() == j.ref.Digest() {
		// Content named by digest cannot change: no need to ask anyone,
		// once the stored content is known to be the content named.
		if res, ok := j.complete(ctx, previous, j.ref.Digest()); ok {
			return j.upToDate(ctx, res)
		}
	}
	top, res, err := j.resolve(ctx, previous, hadPrevious)
	if err != nil {
		return nil, err
	}
	if res != nil {
		return j.upToDate(ctx, res)
	}
	if err := j.verify(ctx, top.desc); err != nil {
		return nil, err
	}
	switch {
	case top.parsed.Schema1 != nil:
		res, err = j.pullSchema1(ctx, top)
	case top.parsed.Index != nil:
		res, err = j.pullIndex(ctx, top)
	default:
		res, err = j.pullImage(ctx, top, top, nil)
	}
	if err != nil {
		return nil, err
	}
	if err := j.pullReferrers(ctx, res); err != nil {
		return nil, err
	}
	upToDate := hadPrevious && previous.RepoDigest() == res.Digest && j.fetched.load() == 0
	return j.finish(res, upToDate), nil
}

// upToDate ends a pull that found the image stored already: still checked
// by the verifier (the policy or the signatures may have changed since),
// and its referrers brought up to date.
func (j *job) upToDate(ctx context.Context, res *Result) (*Result, error) {
	if err := j.verify(ctx, ocispec.Descriptor{Digest: res.Digest}); err != nil {
		return nil, err
	}
	if err := j.pullReferrers(ctx, res); err != nil {
		return nil, err
	}
	return j.finish(res, j.fetched.load() == 0), nil
}

// resolve finds the image at the first endpoint that has it: an unchanged
// tag ends the pull there (res set), else the top manifest is fetched. A
// tag is asked only of endpoints that may resolve, a digest of those that
// may pull.
func (j *job) resolve(ctx context.Context, previous *image.Image, hadPrevious bool) (*document, *Result, error) {
	candidates := j.resolvers()
	for k, i := range candidates {
		j.src = i
		cur := j.source()
		var next *remote
		pingCtx := ctx
		if k < len(candidates)-1 {
			next = j.remotes[candidates[k+1]]
			pingCtx = registry.NoRetry(ctx) // a dead mirror hands over at once
		}
		err := j.client.Ping(pingCtx, cur.Host())
		if err == nil && hadPrevious && j.ref.Digest() == "" {
			if res, ok := j.unchanged(ctx, previous); ok {
				return nil, res, nil
			}
		}
		var top *document
		if err == nil {
			top, err = j.fetchManifest(ctx, cur, j.ref.Digest())
		}
		if err == nil {
			return top, nil, nil
		}
		if !j.fallBack(ctx, i, next, err) {
			return nil, nil, err
		}
	}
	what := "resolve its tags"
	if j.ref.Digest() != "" {
		what = "pull from"
	}
	return nil, nil, fmt.Errorf("no endpoint for %s that may %s: %w", j.ref, what, errdefs.ErrNotFound)
}

// resolvers are the indexes of the remotes that may answer for j.ref.
func (j *job) resolvers() []int {
	var out []int
	for i, r := range j.remotes {
		if (j.ref.Digest() == "" && r.resolve) || (j.ref.Digest() != "" && r.pull) {
			out = append(out, i)
		}
	}
	return out
}

// recorded loads the image the store already has under this name, if any.
func (j *job) recorded(ctx context.Context) (*image.Image, bool) {
	entry, err := j.p.store.Image(ctx, j.ref.String())
	if err != nil {
		return nil, false
	}
	// Strictly the platform wanted: another platform of the same index
	// being present does not make this pull up to date.
	want := j.platform()
	img, err := image.Load(ctx, j.p.store, entry, &want)
	if err != nil {
		return nil, false
	}
	return img, true
}

// unchanged asks the registry, with a HEAD, whether the tag still points where
// the store's record does; if so and every blob is present, nothing is fetched.
func (j *job) unchanged(ctx context.Context, previous *image.Image) (*Result, bool) {
	head, err := j.client.HeadManifest(ctx, j.source(), manifest.Accept)
	if err != nil || head.Digest == "" || head.Digest != previous.RepoDigest() {
		return nil, false
	}
	return j.complete(ctx, previous, head.Digest)
}

func (j *job) complete(ctx context.Context, img *image.Image, repoDigest digest.Digest) (*Result, bool) {
	if len(image.Missing(ctx, j.p.store, img)) != 0 {
		return nil, false
	}
	for _, l := range img.Manifest.Layers {
		if !manifest.IsForeign(l.MediaType) {
			j.emit(progress.Event{ID: progress.ShortID(l.Digest.String()), Action: progress.AlreadyExists})
		}
	}
	if img.Single() {
		j.warnPlatform(&img.Config)
	}
	return &Result{Reference: j.ref, Digest: repoDigest, Manifest: img.ManifestDesc, ImageID: img.ID()}, true
}

func (j *job) finish(res *Result, upToDate bool) *Result {
	res.UpToDate = upToDate
	res.Fetched = int(j.fetched.load())
	j.emit(progress.Event{Action: progress.Status, Message: "Digest: " + res.Digest.String()})
	if upToDate {
		j.emit(progress.Event{Action: progress.Status, Message: "Status: Image is up to date for " + j.ref.Familiar()})
	} else {
		j.emit(progress.Event{Action: progress.Status, Message: "Status: Downloaded newer image for " + j.ref.Familiar()})
	}
	return res
}

// fetchManifest GETs a manifest and verifies it. When want is set (a pull by
// digest, or an index child) the received bytes must hash to it; the
// registry's Docker-Content-Digest header is never trusted in its place.
func (j *job) fetchManifest(ctx context.Context, ref reference.Reference, want digest.Digest) (*document, error) {
	if want != "" {
		ref = ref.WithDigest(want)
	}
	m, err := j.client.GetManifest(ctx, ref, manifest.Accept)
	if err != nil {
		return nil, explain(ref, err)
	}
	parsed, err := manifest.Parse(m.MediaType, m.Body)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", ref.Identifier(), err)
	}
	if parsed.Schema1 != nil {
		if _, err := manifest.VerifySchema1(m.Body); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", ref.Identifier(), err)
		}
	}
	// A digest is checked with its own algorithm: the sha256 of a manifest
	// asked for by its sha512 would never match.
	alg := digest.Canonical
	if want != "" {
		alg = want.Algorithm()
	}
	got, err := manifest.DigestAs(alg, parsed.MediaType, m.Body)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", ref.Identifier(), err)
	}
	if want != "" && got != want {
		return nil, fmt.Errorf("manifest %s: registry sent content with digest %s: %w", want, got, errdefs.ErrDigestMismatch)
	}
	if err := checkHeaderDigest(parsed.MediaType, m, got); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", ref.Identifier(), err)
	}
	desc := ocispec.Descriptor{MediaType: parsed.MediaType, Digest: got, Size: int64(len(m.Body))}
	return &document{desc: desc, body: m.Body, parsed: parsed}, nil
}

// checkHeaderDigest refuses a manifest whose Docker-Content-Digest header,
// when present, disagrees with the body hashed by the header's algorithm
// (registries send sha256 whatever digest the manifest was asked for). A
// header in an algorithm imagec cannot compute is ignored: it is never
// trusted anyway, only checked.
func checkHeaderDigest(mediaType string, m *registry.Manifest, got digest.Digest) error {
	if m.Digest == "" {
		return nil
	}
	if m.Digest.Algorithm() != got.Algorithm() {
		if !m.Digest.Algorithm().Available() {
			return nil
		}
		var err error
		if got, err = manifest.DigestAs(m.Digest.Algorithm(), mediaType, m.Body); err != nil {
			return err
		}
	}
	if m.Digest != got {
		return fmt.Errorf("registry says digest %s but content hashes to %s: %w", m.Digest, got, errdefs.ErrDigestMismatch)
	}
	return nil
}

// platform is the platform this pull wants: the one asked for, else the host's.
func (j *job) platform() ocispec.Platform {
	if j.opts.platform != nil {
		return *j.opts.platform
	}
	return manifest.HostPlatform()
}

func (j *job) pullIndex(ctx context.Context, top *document) (*Result, error) {
	want := j.platform()
	child, err := manifest.SelectManifest(top.parsed.Index, want)
	if err != nil {
		return nil, err
	}
	doc, err := j.fetchByDigest(ctx, child.Digest)
	if err != nil {
		return nil, err
	}
	if doc.parsed.Image == nil {
		return nil, fmt.Errorf("index %s: entry %s is %s: %w", top.desc.Digest, child.Digest, doc.parsed.MediaType, errNotImage)
	}
	if child.Platform == nil {
		// The index did not say; the config must.
		return j.pullImage(ctx, top, doc, &want)
	}
	return j.pullImage(ctx, top, doc, nil)
}

// pullImage fetches the config and layers of img and records top (img
// itself, or the index it was chosen from) under the reference.
// When check is set, the config's platform must match it.
func (j *job) pullImage(ctx context.Context, top, img *document, check *ocispec.Platform) (*Result, error) {
	if img.parsed.Image == nil {
		return nil, fmt.Errorf("manifest %s is %s: %w", img.desc.Digest, img.parsed.MediaType, errNotImage)
	}
	m := img.parsed.Image
	raw, err := j.fetchSmall(ctx, m.Config)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("config %s: %v: %w", m.Config.Digest, err, errdefs.ErrInvalidArgument)
	}
	if check != nil && !runsOn(&cfg, *check) {
		return nil, fmt.Errorf("index %s: image %s is for %s, not %s: %w", top.desc.Digest, img.desc.Digest,
			manifest.FormatPlatform(*image.PlatformOf(&cfg)), manifest.FormatPlatform(*check), errdefs.ErrNotFound)
	}
	if top == img {
		j.warnPlatform(&cfg)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s lists %d layers but its config %d diffIDs: %w",
			img.desc.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	if err := j.fetchLayers(ctx, m.Layers, cfg.RootFS.DiffIDs); err != nil {
		return nil, err
	}
	docs := []*document{img}
	if top != img {
		docs = append(docs, top)
	}
	entry := top.desc
	if !isOCI(top.desc.MediaType) {
		children := []ocispec.Descriptor{img.desc}
		children[0].Platform = image.PlatformOf(&cfg)
		if top.parsed.Index != nil {
			children = top.parsed.Index.Manifests
		}
		wrapper, wentry, err := wrapIndex(top.desc.Digest, children)
		if err != nil {
			return nil, err
		}
		docs, entry = append(docs, wrapper), wentry
	}
	if err := j.record(ctx, entry, docs...); err != nil {
		return nil, err
	}
	return &Result{Reference: j.ref, Digest: top.desc.Digest, Manifest: img.desc, ImageID: m.Config.Digest}, nil
}

// record writes the manifest documents last, once everything they point at
// is stored, then names the image as entry: a reader never sees a name whose
// content is incomplete. An empty entry stores the documents only.
func (j *job) record(ctx context.Context, entry ocispec.Descriptor, docs ...*document) error {
	for _, d := range docs {
		if err := j.p.store.WriteBlob(ctx, d.desc, d.body); err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
			return fmt.Errorf("storing manifest %s: %w", d.desc.Digest, err)
		}
	}
	if entry.Digest == "" {
		return nil
	}
	if err := j.p.store.SetImage(ctx, j.ref.String(), entry); err != nil {
		return fmt.Errorf("recording %s: %w", j.ref, err)
	}
	return nil
}

// runsOn reports whether an image whose config is cfg runs on want. A
// config that declares no platform (built from scratch by some tools)
// cannot be judged and is taken.
func runsOn(cfg *ocispec.Image, want ocispec.Platform) bool {
	p := image.PlatformOf(cfg)
	if p == nil {
		return true
	}
	self := ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Platform: p}}}
	_, err := manifest.SelectManifest(&self, want)
	return err == nil
}

// warnPlatform says, as docker does, when a single-manifest image (which
// has no platform to choose) is not for the platform wanted: it is pulled
// anyway, and running it needs emulation.
func (j *job) warnPlatform(cfg *ocispec.Image) {
	want := j.platform()
	if runsOn(cfg, want) {
		return
	}
	have := manifest.FormatPlatform(*image.PlatformOf(cfg))
	msg := fmt.Sprintf("WARNING: The requested image's platform (%s) does not match the detected host platform (%s) and no specific platform was requested", have, manifest.FormatPlatform(want))
	if j.opts.platform != nil {
		msg = fmt.Sprintf("WARNING: The image's platform (%s) does not match the requested platform (%s); it is a single-platform image and was pulled as it is", have, manifest.FormatPlatform(want))
	}
	j.emit(progress.Event{Action: progress.Status, Message: msg})
}

// explain puts what went wrong first, in the user's terms, ahead of the
// wire details.
func explain(ref reference.Reference, err error) error {
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return fmt.Errorf("manifest for %s not found: %w", ref.Familiar(), err)
	case errors.Is(err, errdefs.ErrUnauthorized):
		return fmt.Errorf("unauthorized to pull %s (try imagec login %s): %w", ref.Familiar(), ref.Domain(), err)
	case errors.Is(err, errdefs.ErrDenied):
		return fmt.Errorf("access to %s denied: %w", ref.Familiar(), err)
	}
	return err
}

// familiarPath is what docker prints after "Pulling from": the repository
// path, e.g. "library/alpine".
func familiarPath(ref reference.Reference) string { return ref.Path() }
