package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The daemons' configurations are checked by the daemons themselves: a key
// they do not know would be dropped without a word, and the run would time
// containerd's defaults.
func dump(t *testing.T, dir string, spec daemonSpec) string {
	t.Helper()
	cfg := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(cfg, []byte(spec.config(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(spec.bin, "--config", cfg, "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("%s config dump: %v\n%s", spec.bin, err, out)
	}
	return string(out)
}

// section is the part of a dumped configuration under the [plugins.'name']
// header, up to the next header at that depth or above.
func section(cfg, name string) string {
	_, rest, ok := strings.Cut(cfg, "[plugins.'"+name+"']")
	if !ok {
		_, rest, ok = strings.Cut(cfg, `[plugins."`+name+`"]`)
	}
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n  ["); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.Index(rest, "\n["); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func TestContainerd2Config(t *testing.T) {
	dir := findContainerd2("")
	if dir == "" {
		t.Skip("no containerd 2.x here")
	}
	spec := containerd2(dir)
	got := section(dump(t, t.TempDir(), spec), "io.containerd.transfer.v1.local")
	for _, want := range []string{"concurrent_layer_fetch_buffer = 8388608", "max_concurrent_unpacks = 2", "max_concurrent_downloads = 3"} {
		if !strings.Contains(got, want) {
			t.Errorf("transfer service configuration lacks %q:\n%s", want, got)
		}
	}
}

func TestContainerd1Config(t *testing.T) {
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("no containerd here")
	}
	dir := t.TempDir()
	got := section(dump(t, dir, containerd1()), "io.containerd.internal.v1.opt")
	if opt := filepath.Join(dir, "opt"); !strings.Contains(got, opt) {
		t.Errorf("the opt plugin's path is not %s:\n%s", opt, got)
	}
}
