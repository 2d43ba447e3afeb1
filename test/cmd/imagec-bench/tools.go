package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// tool is one puller under test. Its commands take the image reference and
// a fresh directory to work in; nil means the tool has no such workload.
type tool struct {
	name    string
	version []string
	// pull stores the image (blobs verified) under dir.
	pull func(ref, dir string) []string
	// unpack pulls the image and writes its root filesystem to dir/rootfs.
	unpack func(ref, dir string) []string
	// env adds to the environment of every command (per run directory).
	env func(dir string) []string
	// setup runs once, untimed, before the first command of a run.
	setup func(host, dir string) []string
	// daemon, when set, is a containerd started for each run.
	daemon *daemonSpec
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// imagecTool runs the imagec binary bin under name.
func imagecTool(name, bin string) tool {
	return tool{
		name:    name,
		version: []string{bin, "version"},
		pull: func(ref, dir string) []string {
			return []string{bin, "--root", dir, "pull", "--progress", "plain", ref}
		},
		unpack: func(ref, dir string) []string {
			return []string{bin, "--root", filepath.Join(dir, "store"), "unpack", ref, filepath.Join(dir, "rootfs")}
		},
	}
}

// tools are the tools timed: imagec (and base, an earlier imagec binary,
// when given) and its peers.
func tools(imagec, base string) []tool {
	out := []tool{imagecTool("imagec", imagec)}
	if base != "" {
		out = append(out, imagecTool("imagec-base", base))
	}
	return append(out, []tool{
		{
			name:    "crane",
			version: []string{"crane", "version"},
			pull: func(ref, dir string) []string {
				return []string{"crane", "pull", "--insecure", "--format=oci", ref, dir}
			},
			unpack: func(ref, dir string) []string {
				root := filepath.Join(dir, "rootfs")
				return sh("mkdir -p " + q(root) + " && crane export --insecure " + q(ref) + " - | tar -x -C " + q(root))
			},
		},
		{
			name:    "skopeo",
			version: []string{"skopeo", "--version"},
			pull: func(ref, dir string) []string {
				return []string{"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref, "oci:" + dir + ":latest"}
			},
		},
		{
			name:    "regctl",
			version: []string{"regctl", "version", "--format", "{{.VCSTag}}"},
			env:     func(dir string) []string { return []string{"HOME=" + dir} },
			setup: func(host, dir string) []string {
				return []string{"regctl", "registry", "set", "--tls", "disabled", host}
			},
			pull: func(ref, dir string) []string {
				return []string{"regctl", "image", "copy", ref, "ocidir://" + filepath.Join(dir, "layout") + ":latest"}
			},
		},
	}...)
}

// selectTools is every tool installed, containerd 2.x where
// findContainerd2 finds one, less those -tools leaves out.
func selectTools(c config) []tool {
	all := installed(append(tools(c.imagec, c.base), containerdTool("containerd", containerd1(), c.snapshotter)))
	if dir := findContainerd2(c.containerd2); dir != "" {
		all = append(all, installed([]tool{containerdTool("containerd2", containerd2(dir), c.snapshotter)})...)
	}
	if c.only == "" {
		return all
	}
	var keep []tool
	for _, t := range all {
		if strings.Contains(","+c.only+",", ","+t.name+",") {
			keep = append(keep, t)
		}
	}
	return keep
}

// installed keeps the tools whose binaries are on PATH (or at the path
// given), ctr as well as containerd for the daemons.
func installed(all []tool) []tool {
	var out []tool
	for _, t := range all {
		bins := []string{t.version[0]}
		if t.daemon != nil {
			bins = append(bins, t.daemon.ctr)
		}
		ok := true
		for _, b := range bins {
			if _, err := exec.LookPath(b); err != nil {
				ok = false
			}
		}
		if ok {
			out = append(out, t)
		}
	}
	return out
}

func versionOf(t tool) string {
	out, err := exec.Command(t.version[0], t.version[1:]...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// containerdTool runs ctr against the daemon spec describes, started for
// each run (see daemonSpec). ctr 1.6 pulls with the client-side puller;
// ctr 2.x, without --local, asks the daemon's transfer service to pull and
// unpack (it prints "Completed pull from OCI Registry"), which is the path
// the transfer settings apply to. --plain-http reaches the loopback
// registry in both. The snapshotter is named so that a filesystem it does
// not work on fails the run instead of falling back unseen.
func containerdTool(name string, spec daemonSpec, snapshotter string) tool {
	return tool{
		name:    name,
		version: []string{spec.bin, "--version"},
		daemon:  &spec,
		unpack: func(ref, dir string) []string {
			return []string{spec.ctr, "--address", sock(dir), "-n", "bench", "images", "pull", "--plain-http", "--snapshotter", snapshotter, ref}
		},
	}
}
