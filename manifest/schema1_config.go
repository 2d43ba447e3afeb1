package manifest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/imagec/imagec/errdefs"
	digest "github.com/opencontainers/go-digest"
)

// schema1History is docker's image history entry. Created has no omitempty:
// docker always wrote it, as the zero time when the v1 JSON had none.
type schema1History struct {
	Created    time.Time `json:"created"`
	Author     string    `json:"author,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	Comment    string    `json:"comment,omitempty"`
	EmptyLayer bool      `json:"empty_layer,omitempty"`
}

// schema1RootFS is docker's rootfs section; an image whose entries are all
// throwaway has no diff_ids at all rather than an empty list.
type schema1RootFS struct {
	Type    string          `json:"type"`
	DiffIDs []digest.Digest `json:"diff_ids,omitempty"`
}

// v1OnlyKeys are v1 image fields that docker dropped from the config because
// they describe the v1 layer, not the image.
var v1OnlyKeys = []string{"id", "parent", "Size", "parent_id", "layer_id", "throwaway"}

// Schema1Config builds the image config that docker built when it pulled the
// schema 1 manifest s, byte for byte, so that its sha256 is the image ID
// docker shows. diffIDs are the uncompressed digests of the non-empty layers
// (see Layers), bottom first.
//
// The config is the top v1Compatibility JSON without the v1-only keys, with
// "history" (one entry per history entry, bottom first) and "rootfs" added,
// marshalled by encoding/json: keys sorted, compacted, HTML-escaped.
//
// Not reproduced: docker first re-encoded the v1 JSON through its own image
// struct when docker_version was older than 1.8.3 (or missing), which drops
// unknown fields; such images get a different ID here than in docker.
func Schema1Config(s *Schema1, diffIDs []digest.Digest) ([]byte, error) {
	entries, err := s.entries()
	if err != nil {
		return nil, err
	}
	history := make([]schema1History, 0, len(entries))
	layers := 0
	for i := len(entries) - 1; i >= 0; i-- {
		img := &entries[i].img
		history = append(history, schema1History{
			Created:    img.Created,
			Author:     img.Author,
			CreatedBy:  strings.Join(img.ContainerConfig.Cmd, " "),
			Comment:    img.Comment,
			EmptyLayer: img.ThrowAway,
		})
		if !img.ThrowAway {
			layers++
		}
	}
	if len(diffIDs) != layers {
		return nil, fmt.Errorf("schema1 config: %d diff IDs for %d layers: %w", len(diffIDs), layers, errdefs.ErrInvalidArgument)
	}
	for i, d := range diffIDs {
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("schema1 config: diff ID %d %q: %v: %w", i, d, err, errdefs.ErrInvalidArgument)
		}
	}

	var config map[string]*json.RawMessage
	if err := json.Unmarshal([]byte(entries[0].raw), &config); err != nil {
		return nil, fmt.Errorf("schema1 config: decode top v1Compatibility: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	for _, k := range v1OnlyKeys {
		delete(config, k)
	}
	if config["history"], err = rawJSON(history); err != nil {
		return nil, err
	}
	if config["rootfs"], err = rawJSON(schema1RootFS{Type: "layers", DiffIDs: diffIDs}); err != nil {
		return nil, err
	}
	out, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("schema1 config: encode: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return out, nil
}

func rawJSON(v any) (*json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("schema1 config: encode: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	raw := json.RawMessage(b)
	return &raw, nil
}
