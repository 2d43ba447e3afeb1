package testregistry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	manifestPut  = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)
	referrersGet = regexp.MustCompile(`^/v2/(.+)/referrers/([^/]+)$`)
)

// referrersAPI serves the referrers API in front of a registry that lacks
// it, from the manifests with a subject pushed through it.
type referrersAPI struct {
	next     http.Handler
	pageSize int
	mu       sync.Mutex
	// byRepo[repo][subject] lists the referrers in push order.
	byRepo map[string]map[digest.Digest][]ocispec.Descriptor
}

func newReferrersAPI(next http.Handler, pageSize int) *referrersAPI {
	return &referrersAPI{next: next, pageSize: pageSize, byRepo: map[string]map[digest.Digest][]ocispec.Descriptor{}}
}

func (a *referrersAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m := referrersGet.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		a.list(w, r, m[1], digest.Digest(m[2]))
		return
	}
	m := manifestPut.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPut {
		a.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var doc struct {
		MediaType    string              `json:"mediaType"`
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if json.Unmarshal(body, &doc) != nil || doc.Subject == nil {
		a.next.ServeHTTP(w, r)
		return
	}
	sw := &subjectWriter{ResponseWriter: w, subject: doc.Subject.Digest.String()}
	a.next.ServeHTTP(sw, r)
	if sw.status != http.StatusCreated {
		return
	}
	desc := ocispec.Descriptor{MediaType: r.Header.Get("Content-Type"), Digest: digest.FromBytes(body), Size: int64(len(body)),
		ArtifactType: doc.ArtifactType, Annotations: doc.Annotations}
	if desc.ArtifactType == "" && doc.Config != nil {
		desc.ArtifactType = doc.Config.MediaType
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	repo := a.byRepo[m[1]]
	if repo == nil {
		repo = map[digest.Digest][]ocispec.Descriptor{}
		a.byRepo[m[1]] = repo
	}
	for _, d := range repo[doc.Subject.Digest] {
		if d.Digest == desc.Digest {
			return
		}
	}
	repo[doc.Subject.Digest] = append(repo[doc.Subject.Digest], desc)
}

// list answers one page of the referrers of subject in repo.
func (a *referrersAPI) list(w http.ResponseWriter, r *http.Request, repo string, subject digest.Digest) {
	a.mu.Lock()
	all := append([]ocispec.Descriptor(nil), a.byRepo[repo][subject]...)
	a.mu.Unlock()
	if t := r.URL.Query().Get("artifactType"); t != "" {
		kept := all[:0]
		for _, d := range all {
			if d.ArtifactType == t {
				kept = append(kept, d)
			}
		}
		all = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("page"))
	start = min(max(start, 0), len(all))
	end := min(start+a.pageSize, len(all))
	if end < len(all) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(end))
		w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
	}
	page := append([]ocispec.Descriptor{}, all[start:end]...)
	body, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: page})
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.Write(body)
}

// subjectWriter answers OCI-Subject on a manifest PUT that succeeds.
type subjectWriter struct {
	http.ResponseWriter
	subject string
	status  int
}

func (w *subjectWriter) WriteHeader(code int) {
	w.status = code
	if code == http.StatusCreated {
		w.Header().Set("OCI-Subject", w.subject)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *subjectWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}
