package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagec/imagec/internal/fixtures"
)

// hostile is what a registry, an archive or another tool may put in text
// imagec prints: an OSC window title ended by BEL, a clear screen, the
// one-rune C1 CSI, a DEL and a right-to-left override.
const hostile = "\x1b]0;pwned\x07\x1b[2J\u009b31m\x7f\u202e"

// hostileShown is how hostile reads once escaped.
const hostileShown = `\x1b]0;pwned\x07\x1b[2J\u009b31m\x7f\u202e`

var progressModes = []string{"plain", "tty", "json"}

// ttyMoves are the cursor sequences the TTY renderer writes itself.
var ttyMoves = regexp.MustCompile(`\x1b\[[0-9]+[AB]|\x1b\[2K`)

// assertInert fails if out holds anything a terminal would act on besides
// line ends (and, for the TTY renderer, its own cursor movement). It
// reports the first such rune only.
func assertInert(t *testing.T, what, out string, tty bool) {
	t.Helper()
	if tty {
		out = ttyMoves.ReplaceAllString(out, "")
	}
	for i := 0; i < len(out); {
		r, n := utf8.DecodeRuneInString(out[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			t.Errorf("%s: raw byte %#x at %d: %q", what, out[i], i, around(out, i))
			return
		case r == '\n' || r == '\r':
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x202e:
			t.Errorf("%s: raw %U at %d: %q", what, r, i, around(out, i))
			return
		}
		i += n
	}
}

func around(s string, i int) string { return s[max(i-40, 0):min(i+40, len(s))] }

// assertInertJSONStream checks, beyond the bytes, the text a consumer of
// the Docker JSON stream decodes and prints.
func assertInertJSONStream(t *testing.T, what, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m struct{ Status, ID, Error string }
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %q is not JSON: %v", what, sc.Text(), err)
		}
		assertInert(t, what+" (decoded)", m.Status+m.ID+m.Error, false)
	}
}

func pullOutputs(t *testing.T, env []string, ref string, wantExit int) string {
	t.Helper()
	var errs string
	for _, mode := range progressModes {
		res := run(t, env, "--root", t.TempDir(), "pull", "--progress", mode, ref)
		if res.Code != wantExit {
			t.Fatalf("pull --progress %s %s: exit %d, want %d\nstdout: %q\nstderr: %q", mode, ref, res.Code, wantExit, res.Stdout, res.Stderr)
		}
		assertInert(t, "pull --progress "+mode+" stdout", res.Stdout, mode == "tty")
		assertInert(t, "pull --progress "+mode+" stderr", res.Stderr, false)
		if mode == "json" {
			assertInertJSONStream(t, "pull --progress json", res.Stdout)
		}
		errs += res.Stderr
	}
	return errs
}

// hostileServer is a registry on 127.0.0.1 whose answers carry hostile
// text: evil/blob serves an image whose layer is refused with a hostile
// error body, evil/index an index whose platforms are hostile.
func hostileServer(t *testing.T) string {
	t.Helper()
	img, err := fixtures.NewImage(71, 1, 256, fixtures.OCI, fixtures.Gzip, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	index, _ := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageManifest, Digest: img.ManifestDesc.Digest, Size: img.ManifestDesc.Size,
			Platform: &ocispec.Platform{OS: "linux" + hostile, Architecture: hostile + "arm64", Variant: "v8\n\x1b[1A"},
		}},
	})
	refusal, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": "DENIED" + hostile, "message": "go away\n" + hostile}}})
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
			w.Write([]byte("{}"))
		case "/v2/evil/blob/manifests/latest":
			serveDoc(w, ocispec.MediaTypeImageManifest, img.Manifest)
		case "/v2/evil/blob/blobs/" + img.ConfigDesc.Digest.String():
			serveDoc(w, "application/octet-stream", img.Config)
		case "/v2/evil/index/manifests/latest":
			serveDoc(w, ocispec.MediaTypeImageIndex, index)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write(refusal)
		}
	})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func serveDoc(w http.ResponseWriter, mediaType string, body []byte) {
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

func TestRegistryErrorBodyIsEscaped(t *testing.T) {
	t.Parallel()
	host := hostileServer(t)
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	errs := pullOutputs(t, env, host+"/evil/blob:latest", 1)
	if !strings.Contains(errs, hostileShown) || !strings.Contains(errs, `go away\n`) {
		t.Fatalf("the registry's message is not shown escaped:\n%s", errs)
	}
	errs = pullOutputs(t, env, host+"/evil/missing:latest", 1)
	if !strings.Contains(errs, "DENIED"+hostileShown) {
		t.Fatalf("the registry's code is not shown escaped:\n%s", errs)
	}
}

func TestIndexPlatformsAreEscaped(t *testing.T) {
	t.Parallel()
	host := hostileServer(t)
	env := []string{"DOCKER_CONFIG=" + t.TempDir(), "IMAGEC_ROOT="}
	errs := pullOutputs(t, env, host+"/evil/index:latest", 1)
	if !strings.Contains(errs, "available: linux"+hostileShown+"/"+hostileShown+`arm64/v8\n\x1b[1A`) {
		t.Fatalf("the index's platforms are not listed escaped:\n%s", errs)
	}
}
