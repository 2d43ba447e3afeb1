package cli_test

import (
	"strings"
	"testing"

	"github.com/imagec/imagec/test/internal/testregistry"
)

// tag gives a stored image another name by reference or ID prefix; the
// names share content; a digest target is refused.
func TestTag(t *testing.T) {
	t.Parallel()
	reg, root, env := seeded(t)
	hello := reg.Host + "/" + testregistry.SampleHello
	mustRun(t, env, "--root", root, "pull", hello)
	if out := mustRun(t, env, "--root", root, "tag", hello, "localhost:5000/mine:v1"); strings.TrimSpace(out) != "localhost:5000/mine:v1" {
		t.Fatalf("tag printed %q", out)
	}
	id := strings.Fields(strings.Split(mustRun(t, env, "--root", root, "images"), "\n")[1])[2]
	mustRun(t, env, "--root", root, "tag", id[:6], "mine2")
	out := mustRun(t, env, "--root", root, "images")
	for _, want := range []string{"localhost:5000/mine ", "mine2 "} {
		if !strings.Contains(out, want) {
			t.Errorf("images lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, id[:12]); n != 3 {
		t.Errorf("%d names show image %s, want 3:\n%s", n, id, out)
	}
	res := run(t, env, "--root", root, "tag", hello, "x@sha256:"+strings.Repeat("a", 64))
	if res.Code != 1 || !strings.Contains(res.Stderr, "refusing to create a tag with a digest reference") {
		t.Errorf("tag to a digest: exit %d, %q", res.Code, res.Stderr)
	}
	if res := run(t, env, "--root", root, "tag", "nosuch", "y"); res.Code != 1 || !strings.Contains(res.Stderr, "no such image: nosuch") {
		t.Errorf("tag of nothing: exit %d, %q", res.Code, res.Stderr)
	}
	// The new name is the image: rmi of the original leaves it whole.
	mustRun(t, env, "--root", root, "rmi", hello)
	mustRun(t, env, "--root", root, "gc")
	mustRun(t, env, "--root", root, "fsck")
	mustRun(t, env, "--root", root, "inspect", "mine2")
}
