package unpack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/internal/testtool"
)

// The escape suite and the fuzzer feed the extractor hostile layers. Run as
// root, a regression that let one escape would write to the machine's real
// root (one such run once deleted /etc). So, as root, the whole test binary
// re-runs itself chrooted into a scratch directory, in a mount namespace of
// its own: an escape then lands in the scratch directory, where the tests'
// checks see it, and the machine is untouched. If that cannot be arranged,
// the hostile tests are skipped rather than run unconfined.
const (
	jailedEnv   = "IMAGEC_UNPACK_JAILED"
	unjailedEnv = "IMAGEC_UNPACK_NO_JAIL"
)

// hostRootEnv carries the device and inode of the machine's root into the
// jail, which checks that its own root is a different directory.
const hostRootEnv = "IMAGEC_UNPACK_HOST_ROOT"

// pathFlags are the test flags whose values name files or directories.
var pathFlags = map[string]bool{
	"test.testlogfile": true, "test.fuzzcachedir": true, "test.gocoverdir": true, "test.outputdir": true,
	"test.coverprofile": true, "test.cpuprofile": true, "test.memprofile": true, "test.blockprofile": true,
	"test.mutexprofile": true, "test.trace": true,
}

// isSystemDir reports a directory that must never be bind-mounted into the
// jail: the root, or one holding or inside the machine's own files.
func isSystemDir(dir string) bool {
	dir = filepath.Clean(dir)
	within := func(d, top string) bool { return d == top || strings.HasPrefix(d, top+"/") }
	for _, sys := range []string{"/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/dev", "/proc", "/sys"} {
		if within(dir, sys) {
			return true
		}
	}
	// Directories that hold others' files: not themselves, nor above them.
	for _, top := range []string{"/", "/tmp", os.TempDir(), "/var", "/root", "/home", "/opt", "/srv", "/run", "/work"} {
		if dir == top {
			return true
		}
	}
	return false
}

func TestMain(m *testing.M) {
	if os.Getenv(jailedEnv) != "" {
		// Inside: make sure this root is not the machine's.
		var root unix.Stat_t
		if err := unix.Stat("/", &root); err != nil || fmt.Sprintf("%d:%d", root.Dev, root.Ino) == os.Getenv(hostRootEnv) {
			fmt.Fprintln(os.Stderr, "unpack tests: the jail's root is the machine's root; refusing to run")
			os.Exit(3)
		}
	}
	if os.Geteuid() == 0 && os.Getenv(jailedEnv) == "" && os.Getenv(unjailedEnv) == "" {
		code, err := runJailed()
		if err == nil {
			os.Exit(code)
		}
		fmt.Fprintf(os.Stderr, "unpack tests: cannot run chrooted (%v); hostile-layer tests are skipped\n", err)
		os.Setenv(unjailedEnv, err.Error())
	}
	os.Exit(m.Run())
}

// requireJail skips a test that applies hostile layers when running as root
// outside the jail. In CI (CI=true) it fails instead: the escape suite is
// what guards the extractor, and a CI run that cannot jail it must not pass
// without it.
func requireJail(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 && os.Getenv(jailedEnv) == "" {
		if testtool.InCI() {
			t.Fatalf("as root, hostile layers are only applied chrooted, and CI=true forbids skipping them: %s", os.Getenv(unjailedEnv))
		}
		t.Skipf("as root, hostile layers are only applied chrooted: %s", os.Getenv(unjailedEnv))
	}
}

func runJailed() (int, error) {
	for _, tool := range []string{"unshare", "chroot", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return 0, err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	jail, err := os.MkdirTemp("", "imagec-unpack-jail-")
	if err != nil {
		return 0, err
	}
	defer func() {
		// Never recurse into a bind mount of the working directory: remove
		// the scratch directory only if nothing is mounted under it.
		if mounts, err := os.ReadFile("/proc/self/mounts"); err == nil && !strings.Contains(string(mounts), jail) {
			os.RemoveAll(jail)
		}
	}()
	for _, d := range []string{"tmp", "usr", "proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(jail, d), 0o755); err != nil {
			return 0, err
		}
	}
	os.Chmod(filepath.Join(jail, "tmp"), 0o1777)
	for _, l := range []string{"lib", "lib64", "bin", "sbin"} {
		os.Symlink("usr/"+l, filepath.Join(jail, l))
	}
	if err := os.WriteFile(filepath.Join(jail, "dev", "null"), nil, 0o666); err != nil {
		return 0, err
	}
	bin := filepath.Join(jail, "unpack.test")
	data, err := os.ReadFile(self)
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		return 0, err
	}
	// The test's working directory and the directories of the flags that
	// name files (log file, fuzz cache, coverage, profiles) appear at the
	// same paths inside; nothing else of the machine does.
	binds := []string{cwd}
	for _, a := range os.Args[1:] {
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok || !pathFlags[name] || !filepath.IsAbs(value) {
			continue
		}
		dir := value
		if name != "test.fuzzcachedir" && name != "test.gocoverdir" && name != "test.outputdir" {
			dir = filepath.Dir(value)
		}
		binds = append(binds, dir)
	}
	for _, b := range binds {
		if isSystemDir(b) {
			return 0, fmt.Errorf("refusing to expose %s inside the jail", b)
		}
		// The fuzz cache is created by the test binary on first use, which
		// inside the jail is too late to bind it: on a fresh machine the
		// bind failed and every hostile fuzz input was skipped.
		if err := os.MkdirAll(b, 0o755); err != nil {
			return 0, err
		}
	}
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return 0, err
	}
	script := []string{
		"set -e",
		"mount --make-rprivate /",
		"mount --bind /usr " + q(jail+"/usr"), "mount -o remount,bind,ro " + q(jail+"/usr"),
		"mount --bind /dev/null " + q(jail+"/dev/null"),
		"mount -t proc proc " + q(jail+"/proc"),
	}
	for _, b := range binds {
		script = append(script, "mkdir -p "+q(jail+b), "mount --bind "+q(b)+" "+q(jail+b))
	}
	script = append(script, `cd "$0"; exec chroot `+q(jail)+` sh -c 'cd "$0" && exec /unpack.test "$@"' "$0" "$@"`)
	cmd := exec.Command("unshare", append([]string{"--mount", "--", "sh", "-c", strings.Join(script, "\n"), cwd}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), jailedEnv+"=1", "TMPDIR=/tmp", hostRootEnv+"="+fmt.Sprintf("%d:%d", root.Dev, root.Ino))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok && exit.ExitCode() >= 0 {
			if exit.ExitCode() == 1 || exit.ExitCode() == 2 {
				return exit.ExitCode(), nil // test failures
			}
		}
		return 0, err
	}
	return 0, nil
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestIsSystemDir(t *testing.T) {
	t.Parallel()
	for dir, want := range map[string]bool{
		"/": true, "/etc": true, "/etc/x": true, "/usr/lib": true, "/tmp": true, "/root": true, "/var": true,
		"/root/.cache/go-build/fuzz": false, "/tmp/go-build123/b001": false, "/work/main/unpack": false,
	} {
		if got := isSystemDir(dir); got != want {
			t.Errorf("isSystemDir(%q) = %v, want %v", dir, got, want)
		}
	}
}
