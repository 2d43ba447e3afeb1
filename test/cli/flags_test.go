package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad flag values fail at once, with a message naming the flag, before the
// store is opened or the network used.
func TestPullFlagsRefuseBadValues(t *testing.T) {
	t.Parallel()
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	root := filepath.Join(t.TempDir(), "store")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pull", "--max-concurrent-downloads", "0", "127.0.0.1:1/x"}, "--max-concurrent-downloads 0: must be at least 1"},
		{[]string{"pull", "--max-concurrent-downloads", "-1", "127.0.0.1:1/x"}, "--max-concurrent-downloads -1: must be at least 1"},
		{[]string{"unpack", "--max-concurrent-downloads", "0", "127.0.0.1:1/x", t.TempDir() + "/out"}, "must be at least 1"},
		{[]string{"pull", "--platform", "../..", "127.0.0.1:1/x"}, `platform "../.."`},
		{[]string{"pull", "--platform", "linux/amd64/..", "127.0.0.1:1/x"}, `invalid component ".."`},
		{[]string{"pull", "--progress", "bogus", "127.0.0.1:1/x"}, `--progress: progress: mode "bogus"`},
		{[]string{"unpack", "--progress", "bogus", "127.0.0.1:1/x", t.TempDir() + "/out"}, `--progress: progress: mode "bogus"`},
		{[]string{"push", "--progress", "bogus", "127.0.0.1:1/x"}, `--progress: progress: mode "bogus"`},
		{[]string{"pull", "--parts", "65", "127.0.0.1:1/x"}, "--parts 65: must be from 1 to 64"},
	} {
		res := run(t, env, append([]string{"--root", root}, tc.args...)...)
		if res.Code != 1 || !strings.Contains(res.Stderr, tc.want) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line with %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
	if _, err := os.Stat(root); err == nil {
		t.Error("the store was created before the flags were checked")
	}
}
