package image

import (
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestChainIDs(t *testing.T) {
	t.Parallel()
	a, b, c := digest.FromString("a"), digest.FromString("b"), digest.FromString("c")
	ab := digest.FromString(a.String() + " " + b.String())
	abc := digest.FromString(ab.String() + " " + c.String())
	if got := ChainIDs([]digest.Digest{a, b, c}); !slices.Equal(got, []digest.Digest{a, ab, abc}) {
		t.Errorf("ChainIDs = %v, want %v", got, []digest.Digest{a, ab, abc})
	}
	if got := ChainIDs(nil); len(got) != 0 {
		t.Errorf("ChainIDs(nil) = %v", got)
	}
	if ChainID("", a) != a || ChainID(ab, c) != abc {
		t.Error("ChainID disagrees with ChainIDs")
	}
}
