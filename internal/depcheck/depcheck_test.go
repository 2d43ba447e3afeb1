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
// cryptographic checks are done with sigstore-go, whose transparency-log
// code links grpc (rekor-tiles' generated gRPC gateway) and opentelemetry
// (the Rekor client's go-openapi runtime) without calling them: no import
// set of sigstore-go that verifies a bundle avoids them. So the packages of
// sigstoreUsers, and only they, may reach sigstore's modules and what they
// bring (sigstoreModules) and, through them, grpcViaSigstore: the checks
// themselves (verify/sigstore), the offline helper that runs them for
// imagec (cmd/imagec-sigstore) and the test signatures. Every other
// package, cmd/imagec and the verify package it imports among them, may
// reach none of it: imagec runs the helper instead of linking sigstore, so
// that none of those packages' initialisation runs at each of its starts.
// go.mod may list grpcViaSigstore's modules as indirect only: no package
// of ours imports them itself.
var (
	sigstoreUsers = map[string]bool{
		"github.com/imagec/imagec/verify/sigstore":     true,
		"github.com/imagec/imagec/cmd/imagec-sigstore": true, // imagec's offline helper
		"github.com/imagec/imagec/internal/signtest":   true, // test signatures, with keys only
	}
	sigstoreModules = []string{
		"github.com/sigstore/",
		"google.golang.org/protobuf",
		"google.golang.org/genproto/",
		"github.com/grpc-ecosystem/",
		"github.com/go-openapi/",
		"github.com/theupdateframework/",
		"github.com/in-toto/",
		"github.com/secure-systems-lab/",
		"github.com/transparency-dev/",
		"github.com/google/certificate-transparency-go",
		"github.com/google/go-containerregistry",
	}
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
				t.Errorf("%s reaches %s (module %q): test machinery, for the test module only (or sigstore's, for verify/sigstore and imagec-sigstore only)", fields[0], dep, mod)
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

// leanModules are the only modules imagec's command may link: what every
// start of it initialises. A module added here is a cost each command
// pays (imagec version starts in about 5 ms); signature verification's
// modules are the helper's (imagec-sigstore), never imagec's.
var leanModules = []string{
	"github.com/imagec/imagec",
	"github.com/distribution/reference",
	"github.com/klauspost/compress",
	"github.com/opencontainers/go-digest",
	"github.com/opencontainers/image-spec",
	"github.com/pelletier/go-toml/v2",
	"github.com/spf13/cobra",
	"github.com/spf13/pflag",
	"golang.org/x/sync",
	"golang.org/x/sys",
	"golang.org/x/term",
}

// TestImagecStaysLean fails for each module outside leanModules that
// cmd/imagec reaches, through any package.
func TestImagecStaysLean(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	pkgs := goCmd(t, root, "list", "-deps", "-f", "{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}", "./cmd/imagec")
	reported := map[string]bool{}
	for _, line := range pkgs {
		pkg, mod, _ := strings.Cut(line, " ")
		if mod != "" && !slices.Contains(leanModules, mod) && !reported[mod] {
			reported[mod] = true
			t.Errorf("cmd/imagec reaches module %s (%s, among others maybe): not one of the modules imagec links (leanModules)", mod, pkg)
		}
	}
	if len(pkgs) < 100 {
		t.Fatalf("go list found %d packages for cmd/imagec; want its whole build", len(pkgs))
	}
}

// The helper and the checks it runs are offline by construction: none of
// their own code imports a network package or runs a program, and the
// request and response types reach the standard library only (crypto/x509
// and the address types it needs, no client of anything), so the verify
// package imports them for free.
func TestSigstoreChecksOffline(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	network := func(pkg string) bool {
		return pkg == "net" || strings.HasPrefix(pkg, "net/") || pkg == "crypto/tls" || pkg == "os/exec"
	}
	for _, line := range goCmd(t, root, "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./cmd/imagec-sigstore", "./verify/sigstore", "./verify/sigcheck") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if network(imp) {
				t.Errorf("%s imports %s: the signature checks are offline", fields[0], imp)
			}
		}
	}
	for _, line := range goCmd(t, root, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "./verify/sigcheck") {
		pkg, std, _ := strings.Cut(line, " ")
		client := strings.HasPrefix(pkg, "net/http") || pkg == "crypto/tls" || pkg == "os/exec"
		if pkg != "github.com/imagec/imagec/verify/sigcheck" && (std != "true" || client) {
			t.Errorf("verify/sigcheck reaches %s: it must stay plain data", pkg)
		}
	}
}
