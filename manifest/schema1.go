package manifest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/imagec/imagec/errdefs"
	digest "github.com/opencontainers/go-digest"
)

// Schema1FSLayer is one fsLayers entry of a schema 1 manifest. It is an alias
// so that Schema1 literals may spell the element type either way.
type Schema1FSLayer = struct {
	BlobSum digest.Digest `json:"blobSum"`
}

// Schema1History is one history entry of a schema 1 manifest: the legacy v1
// image JSON of the layer at the same index in fsLayers.
type Schema1History = struct {
	V1Compatibility string `json:"v1Compatibility"`
}

// Schema1 is a legacy Docker image manifest (schema version 1). Index 0 of
// FSLayers and History is the top of the image.
type Schema1 struct {
	SchemaVersion int              `json:"schemaVersion"`
	Name          string           `json:"name"`
	Tag           string           `json:"tag"`
	Architecture  string           `json:"architecture"`
	FSLayers      []Schema1FSLayer `json:"fsLayers"`
	History       []Schema1History `json:"history"`
}

// Schema1Layer is one layer of a schema 1 image, bottom first.
type Schema1Layer struct {
	BlobSum digest.Digest
	// Empty marks a throwaway entry: history without a layer (its blob,
	// usually the empty tar, is not applied).
	Empty bool
}

// v1Image holds the fields of a v1Compatibility document that docker reads.
// encoding/json matches names case-insensitively, as it did for docker.
type v1Image struct {
	ID              string    `json:"id"`
	Parent          string    `json:"parent"`
	Created         time.Time `json:"created"`
	Author          string    `json:"author"`
	Comment         string    `json:"comment"`
	ThrowAway       bool      `json:"throwaway"`
	ContainerConfig struct {
		Cmd strSlice `json:"Cmd"`
	} `json:"container_config"`
}

// strSlice decodes a JSON array of strings or a single string, as docker's
// command fields do.
type strSlice []string

func (s *strSlice) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*s = list
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*s = []string{one}
	return nil
}

// schema1Entry is a history entry that survived validation and de-duplication.
type schema1Entry struct {
	blobSum digest.Digest
	raw     string // the v1Compatibility JSON
	img     v1Image
}

func schema1Error(format string, args ...any) error {
	return fmt.Errorf("schema1 manifest: "+format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}

// isV1ID reports whether id is a v1 image ID: 64 lowercase hex digits.
func isV1ID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// entries validates s as docker's puller did and returns its history top
// first, with consecutive entries of the same v1 ID collapsed into the lower
// one (old pushes repeated entries; docker dropped the upper copy).
func (s *Schema1) entries() ([]schema1Entry, error) {
	if s.SchemaVersion != 1 {
		return nil, schema1Error("schemaVersion %d, want 1", s.SchemaVersion)
	}
	if len(s.FSLayers) != len(s.History) {
		return nil, schema1Error("%d fsLayers but %d history entries", len(s.FSLayers), len(s.History))
	}
	if len(s.FSLayers) == 0 {
		return nil, schema1Error("no layers")
	}
	all := make([]schema1Entry, len(s.History))
	for i, h := range s.History {
		e := schema1Entry{blobSum: s.FSLayers[i].BlobSum, raw: h.V1Compatibility}
		if err := json.Unmarshal([]byte(h.V1Compatibility), &e.img); err != nil {
			return nil, schema1Error("history[%d]: decode v1Compatibility: %v", i, err)
		}
		if !isV1ID(e.img.ID) {
			return nil, schema1Error("history[%d]: invalid v1 image id %q", i, e.img.ID)
		}
		all[i] = e
	}
	if p := all[len(all)-1].img.Parent; p != "" {
		return nil, schema1Error("base layer has parent %q", p)
	}
	// Repeats are fine only as neighbours; elsewhere they would make the
	// parent chain a cycle.
	seen := make(map[string]bool, len(all))
	for i, e := range all {
		if seen[e.img.ID] && (i == 0 || all[i-1].img.ID != e.img.ID) {
			return nil, schema1Error("v1 id %s appears more than once", e.img.ID)
		}
		seen[e.img.ID] = true
	}
	kept := []schema1Entry{all[len(all)-1]}
	for i := len(all) - 2; i >= 0; i-- {
		below := &all[i+1]
		switch {
		case all[i].img.ID == below.img.ID:
			continue
		case all[i].img.Parent != below.img.ID:
			return nil, schema1Error("history[%d]: parent %q, want %q", i, all[i].img.Parent, below.img.ID)
		}
		kept = append(kept, all[i])
	}
	// kept is bottom first; flip it to the manifest's top-first order.
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	for i, e := range kept {
		if err := e.blobSum.Validate(); err != nil {
			return nil, schema1Error("fsLayers[%d]: invalid blobSum %q: %v", i, e.blobSum, err)
		}
	}
	return kept, nil
}

// Layers validates the manifest the way docker did (as many history entries
// as fsLayers and at least one; valid v1 ids forming a parent chain;
// consecutive duplicates removed) and returns its layers bottom first,
// marking throwaway entries Empty. It does not modify s.
func (s *Schema1) Layers() ([]Schema1Layer, error) {
	entries, err := s.entries()
	if err != nil {
		return nil, err
	}
	layers := make([]Schema1Layer, 0, len(entries))
	for i := len(entries) - 1; i >= 0; i-- {
		layers = append(layers, Schema1Layer{BlobSum: entries[i].blobSum, Empty: entries[i].img.ThrowAway})
	}
	return layers, nil
}
