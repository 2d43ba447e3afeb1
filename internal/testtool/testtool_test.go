package testtool

import (
	"os/exec"
	"testing"
)

// fakeT records how Require ended a test without ending this one.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }

func TestRequire(t *testing.T) {
	const missing = "imagec-no-such-tool"
	for _, tc := range []struct {
		ci              string
		skipped, failed bool
	}{
		{ci: "", skipped: true},
		{ci: "false", skipped: true},
		{ci: "true", failed: true},
	} {
		t.Setenv("CI", tc.ci)
		f := &fakeT{TB: t}
		if got := Require(f, missing); got != "" || f.skipped != tc.skipped || f.failed != tc.failed {
			t.Errorf("CI=%q: Require(missing) = %q, skipped %v failed %v; want skipped %v failed %v",
				tc.ci, got, f.skipped, f.failed, tc.skipped, tc.failed)
		}
	}
	t.Setenv("CI", "true")
	want, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	f := &fakeT{TB: t}
	if got := Require(f, "sh"); got != want || f.skipped || f.failed {
		t.Errorf("Require(sh) = %q (skipped %v failed %v), want %q", got, f.skipped, f.failed, want)
	}
}
