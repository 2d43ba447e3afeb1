// Package depcheck keeps the test machinery out of what a library user
// builds and downloads: the in-process registries and everything they pull
// in live in the test module (test/go.mod), and no package of the library
// may reach them, nor may the library's go.mod require them.
package depcheck

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// forbidden are module path prefixes of the test machinery: the registries
// (CNCF Distribution v3, Distribution 2.8 and libtrust for schema 1), what
// they bring (otel, redis, grpc, logrus), and the test module itself. A
// prefix ending in "/" covers every module under it; any other covers the
// module and its major versions (github.com/distribution/distribution/v3).
// github.com/distribution/reference, which the library uses, is not one.
var forbidden = []string{
	"github.com/distribution/distribution",
	"github.com/docker/distribution",
	"github.com/docker/libtrust",
	"go.opentelemetry.io/",
	"github.com/redis/",
	"google.golang.org/grpc",
	"github.com/sirupsen/logrus",
	"github.com/imagec/imagec/test",
}

// Signature verification is the one exception, and a narrow one. The
// verify package checks signatures with sigstore-go, whose transparency-log
// code links grpc (rekor-tiles' generated gRPC gateway) and opentelemetry
// (the Rekor client's go-openapi runtime) without calling them: no import
// set of sigstore-go that verifies a bundle avoids them. So the packages of
// sigstoreUsers, and only they, may reach sigstore's modules and, through
// them, grpcViaSigstore; every other package, pull, push, registry and the
// facade among them, may reach neither, so a program that does not verify
// builds none of it. go.mod may list those modules as indirect only: no
// package of ours imports them itself.
var (
	sigstoreUsers = map[string]bool{
		"github.com/imagec/imagec/verify":            true,
		"github.com/imagec/imagec/cmd/imagec":        true, // imagec verify, pull --verify
		"github.com/imagec/imagec/internal/signtest": true, // test signatures, with keys only
	}
	sigstoreModules = []string{"github.com/sigstore/"}
	grpcViaSigstore = []string{"go.opentelemetry.io/", "google.golang.org/grpc"}
)

func isForbidden(path string) bool { return matches(forbidden, path) }

// forbiddenFor is isForbidden with the exception above applied to pkg.
func forbiddenFor(pkg, path string) bool {
	if sigstoreUsers[pkg] {
		return isForbidden(path) && !matches(grpcViaSigstore, path)
	}
	return isForbidden(path) || matches(sigstoreModules, path)
}

func matches(prefixes []string, path string) bool {
	return slices.ContainsFunc(prefixes, func(prefix string) bool {
		if strings.HasSuffix(prefix, "/") {
			return strings.HasPrefix(path, prefix)
		}
		return path == prefix || strings.HasPrefix(path, prefix+"/")
	})
}

// TestLibraryReachesNoTestMachinery lists every non-test package of this
// module with its dependencies (go list -deps, as a build of it would load
// them) and fails for each one that imports, directly or not, a package of
// a forbidden module; and it fails for each forbidden module the module's
// go.mod requires.
func TestLibraryReachesNoTestMachinery(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)

	// The module of every package any of ours depends on.
	moduleOf := map[string]string{}
	for _, line := range goCmd(t, root, "list", "-e", "-deps", "-f", "{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}", "./...") {
		pkg, mod, _ := strings.Cut(line, " ")
		moduleOf[pkg] = mod
	}
	checked := 0
	for _, line := range goCmd(t, root, "list", "-e", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", "./...") {
		fields := strings.Fields(line)
		checked++
		for _, dep := range fields[1:] {
			if mod := moduleOf[dep]; forbiddenFor(fields[0], dep) || forbiddenFor(fields[0], mod) {
				t.Errorf("%s reaches %s (module %q): test machinery, for the test module only (or sigstore's, for the verify package only)", fields[0], dep, mod)
			}
		}
	}
	// Reached through sigstore only: none of ours imports them itself.
	for _, line := range goCmd(t, root, "list", "-e", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if matches(grpcViaSigstore, imp) {
				t.Errorf("%s imports %s itself", fields[0], imp)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("go list found %d packages in %s; want the whole library", checked, root)
	}

	var mod struct {
		Module  struct{ Path string }
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	if err := json.Unmarshal([]byte(strings.Join(goCmd(t, root, "mod", "edit", "-json"), "\n")), &mod); err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	if mod.Module.Path != "github.com/imagec/imagec" {
		t.Fatalf("checked module %q, want github.com/imagec/imagec", mod.Module.Path)
	}
	for _, r := range mod.Require {
		if isForbidden(r.Path) && !(r.Indirect && matches(grpcViaSigstore, r.Path)) {
			t.Errorf("go.mod requires %s: test machinery belongs in test/go.mod", r.Path)
		}
	}
}

// moduleRoot is the directory of this module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	gomod := goCmd(t, ".", "env", "GOMOD")
	if len(gomod) != 1 || filepath.Base(gomod[0]) != "go.mod" {
		t.Fatalf("go env GOMOD = %q", gomod)
	}
	return filepath.Dir(gomod[0])
}

// goCmd runs the go command in dir, outside any workspace, and returns
// the lines it printed.
func goCmd(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
