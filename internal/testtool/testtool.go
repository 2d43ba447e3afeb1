// Package testtool finds the external programs (skopeo, umoci, crane, ...)
// that interoperability tests run against imagec's output. Those tests are
// the only independent readers of the store and archives, so in CI a
// missing tool fails the run instead of silently skipping the check; on a
// developer's machine it is a visible skip.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI, which sets CI=true (as GitHub
// Actions, GitLab and most others do, and as .ci/run does).
func InCI() bool {
	return os.Getenv("CI") == "true"
}

// Require returns the path of the program name. When it is not installed
// the test is skipped, or, in CI, fails.
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if InCI() {
		t.Fatalf("%s is not installed: CI=true requires every interoperability tool (.ci/run installs them): %v", name, err)
		return ""
	}
	t.Skipf("%s is not installed: skipping (in CI, with CI=true, this fails)", name)
	return ""
}

// Optional returns the path of the program name, or skips the test when
// it is not installed, in CI too: for tools CI does not install (cosign,
// whose build takes minutes), whose tests add a check an independent
// reader makes but are not the only check of what they cover.
func Optional(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed: skipping (it is optional, in CI too)", name)
	}
	return path
}
