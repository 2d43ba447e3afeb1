package image

import "github.com/opencontainers/go-digest"

// ChainID is the chain ID of a layer whose diffID is diffID on top of the
// layers whose chain ID is parent ("" for the bottom layer): the bottom
// layer's chain ID is its diffID, each next one sha256("<parent> <diffID>"),
// as the image spec defines it. It names a layer together with everything
// under it, which is what an unpacked layer is.
func ChainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

// ChainIDs returns the chain ID of each layer of a config's diffIDs, bottom
// first.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	var parent digest.Digest
	for i, d := range diffIDs {
		parent = ChainID(parent, d)
		out[i] = parent
	}
	return out
}
