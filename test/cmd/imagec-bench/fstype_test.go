package main

import "testing"

func TestFSType(t *testing.T) {
	if got := fsType("/proc/self"); got != "proc" {
		t.Errorf("fsType(/proc/self) = %q, want proc", got)
	}
	if got := fsType(t.TempDir()); got == "" || got == "unknown" {
		t.Errorf("fsType(a temporary directory) = %q", got)
	}
	if got := unescapeMount(`/tmp/bench\040fs`); got != "/tmp/bench fs" {
		t.Errorf("unescapeMount = %q", got)
	}
}

func TestSelectFixtures(t *testing.T) {
	fxs, err := selectFixtures("bench/onelayer, bench/toolchain")
	if err != nil || len(fxs) != 2 || fxs[0].name != "bench/onelayer" || fxs[1].name != "bench/toolchain" {
		t.Errorf("selectFixtures = %v, %v", fxs, err)
	}
	if _, err := selectFixtures(defaultFixtures + "," + shapedFixtures); err != nil {
		t.Error(err)
	}
	if _, err := selectFixtures("bench/nope"); err == nil {
		t.Error("an unknown fixture was accepted")
	}
}
