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

// installed keeps the tools whose binaries are on PATH.
func installed(all []tool) []tool {
	var out []tool
	for _, t := range all {
		if _, err := exec.LookPath(t.version[0]); err == nil {
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

// containerd is measured through ctr against a daemon started afresh, with
// its own root, for every run; the daemon's memory counts as the tool's.
func containerdTool() tool {
	return tool{
		name:    "containerd",
		version: []string{"ctr", "--version"},
		unpack: func(ref, dir string) []string {
			return []string{"ctr", "--address", filepath.Join(dir, "sock"), "-n", "bench", "images", "pull", "--plain-http", ref}
		},
	}
}
