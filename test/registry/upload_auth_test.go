package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/auth"
	"github.com/imagec/imagec/test/internal/testregistry"
)

func userCreds(user, pass string) registry.Option {
	return registry.WithCredentials(func(context.Context, string) (auth.Credential, error) {
		return auth.Credential{Username: user, Password: pass}, nil
	})
}

func TestPushBlobBasicAuth(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t, testregistry.WithBasicAuth("alice", "wonder"))
	data, desc := randomBlob(4, 300<<10)
	ref := regRef(t, reg, "basic/blob")
	c := newTestClient(t, userCreds("alice", "wonder"))
	if got, err := c.PushBlob(context.Background(), ref, desc, registry.ReaderAtSource(bytes.NewReader(data)), registry.ChunkThreshold(0), registry.ChunkSize(100<<10)); err != nil || got != registry.BlobUploaded {
		t.Fatalf("PushBlob: %v, %v", got, err)
	}
	readBack(t, c, ref, desc, data)
	for _, r := range reg.Requests() {
		if strings.Contains(r.Path, "/uploads/") && !r.Authorization {
			t.Errorf("%s %s went without credentials", r.Method, r.Path)
		}
	}

	bad := newTestClient(t, userCreds("alice", "wrong"))
	_, err := bad.PushBlob(context.Background(), ref, blobDesc([]byte("x")), registry.ReaderAtSource(strings.NewReader("x")))
	if !errors.Is(err, errdefs.ErrUnauthorized) || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("wrong password: %v", err)
	}
}

// tokenRegistry has alice, who may pull a/src and c/ro and push b/dst;
// admin may do anything and seeds the blobs alice mounts.
func tokenRegistry(t *testing.T) *testregistry.Registry {
	t.Helper()
	return testregistry.Start(t, testregistry.WithTokenAuth("admin", "root"),
		testregistry.WithTokenUser("alice", "pw", map[string][]string{
			"a/src": {"pull"}, "b/dst": {"pull", "push"}, "c/ro": {"pull"},
		}))
}

func TestPushBlobTokenScopesAndMount(t *testing.T) {
	t.Parallel()
	reg := tokenRegistry(t)
	ctx := context.Background()
	admin := newTestClient(t, userCreds("admin", "root"))
	data, desc := randomBlob(5, 64<<10)
	for _, repo := range []string{"a/src", "d/secret"} {
		if _, err := admin.PushBlob(ctx, regRef(t, reg, repo), desc, registry.ReaderAtSource(bytes.NewReader(data))); err != nil {
			t.Fatal(err)
		}
	}

	alice := newTestClient(t, userCreds("alice", "pw"))
	reg.ResetRequests()
	got, err := alice.PushBlob(ctx, regRef(t, reg, "b/dst"), desc, nil, registry.MountFrom(regRef(t, reg, "a/src")))
	if err == nil {
		t.Fatal("a nil source was accepted")
	}
	got, err = alice.PushBlob(ctx, regRef(t, reg, "b/dst"), desc, registry.ReaderAtSource(bytes.NewReader(data)), registry.MountFrom(regRef(t, reg, "a/src")))
	if err != nil || got != registry.BlobMounted {
		t.Fatalf("mount from a/src: %v, %v", got, err)
	}
	var mounted, scoped bool
	for _, r := range reg.Requests() {
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.Query, "from=a%2Fsrc") && r.Status == http.StatusCreated:
			mounted = true
		case strings.Contains(r.Path, "/uploads/") && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
			t.Errorf("the blob was uploaded although the registry has it: %+v", r)
		case r.Path == "/token" && strings.Contains(r.Query, "scope=repository%3Ab%2Fdst%3Apull%2Cpush") &&
			strings.Contains(r.Query, "scope=repository%3Aa%2Fsrc%3Apull"):
			scoped = true
		}
	}
	if !mounted || !scoped {
		t.Fatalf("mounted %v, token with push on b/dst and pull on a/src %v: %+v", mounted, scoped, reg.Requests())
	}
	readBack(t, alice, regRef(t, reg, "b/dst"), desc, data)

	// alice may not pull d/secret: the mount is refused and the blob
	// uploaded instead.
	other, otherDesc := randomBlob(6, 32<<10)
	if _, err := admin.PushBlob(ctx, regRef(t, reg, "d/secret"), otherDesc, registry.ReaderAtSource(bytes.NewReader(other))); err != nil {
		t.Fatal(err)
	}
	reg.ResetRequests()
	got, err = alice.PushBlob(ctx, regRef(t, reg, "b/dst"), otherDesc, registry.ReaderAtSource(bytes.NewReader(other)), registry.MountFrom(regRef(t, reg, "d/secret")))
	if err != nil || got != registry.BlobUploaded {
		t.Fatalf("mount from d/secret: %v, %v", got, err)
	}
	if _, received := uploads(reg); received != int64(len(other)) {
		t.Errorf("uploaded %d bytes, want %d", received, len(other))
	}

	// c/ro is pull-only for alice: one line, denied.
	_, err = alice.PushBlob(ctx, regRef(t, reg, "c/ro"), otherDesc, registry.ReaderAtSource(bytes.NewReader(other)))
	if !errors.Is(err, errdefs.ErrDenied) || !strings.Contains(err.Error(), "push blob "+otherDesc.Digest.String()+" to "+reg.Host+"/c/ro: access denied") {
		t.Fatalf("push to a pull-only repository: %v", err)
	}
}

// recorder is a plain server that answers upload requests and records
// which carried credentials.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string // "METHOD path?query auth=true|false"
	// body is what the last PUT or PATCH carried.
	body []byte
}

func newRecorder(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.got = append(rec.got, r.Method+" "+r.URL.RequestURI()+" auth="+boolText(r.Header.Get("Authorization") != ""))
		if len(body) > 0 {
			rec.body = append(rec.body, body...)
		}
		rec.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// basicRegistry challenges every API request without credentials and hands
// each upload request to next.
func basicRegistry(t *testing.T, next func(w http.ResponseWriter, r *http.Request)) *recorder {
	return newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		if _, _, ok := r.BasicAuth(); !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="r"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		next(w, r)
	})
}

// An upload session on another host (the registry's Location says so)
// gets none of the registry's credentials, and a Location relative to it
// and changing with every response is followed.
func TestPushBlobLocationOnAnotherHost(t *testing.T) {
	t.Parallel()
	storage := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPatch:
			w.Header().Set("Location", "/session/1?step=2")
			w.WriteHeader(http.StatusAccepted)
		case http.MethodPut:
			w.WriteHeader(http.StatusCreated)
		}
	})
	reg := basicRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", storage.srv.URL+"/session/1?step=1")
		w.WriteHeader(http.StatusAccepted)
	})
	data, desc := randomBlob(7, 2000)
	c := newTestClient(t, userCreds("alice", "wonder"))
	ref := refOn(t, reg.srv, "far/blob")
	if got, err := c.PushBlob(context.Background(), ref, desc, registry.ReaderAtSource(bytes.NewReader(data)), registry.ChunkThreshold(0), registry.ChunkSize(4096)); err != nil || got != registry.BlobUploaded {
		t.Fatalf("PushBlob: %v, %v", got, err)
	}
	want := []string{"PATCH /session/1?step=1 auth=false", "PUT /session/1?step=2&digest=" + strings.Replace(desc.Digest.String(), ":", "%3A", 1) + " auth=false"}
	if strings.Join(storage.got, "\n") != strings.Join(want, "\n") || !bytes.Equal(storage.body, data) {
		t.Fatalf("storage host saw\n%s\nwant\n%s", strings.Join(storage.got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(strings.Join(reg.got, "\n"), "POST /v2/far/blob/blobs/uploads/ auth=true") {
		t.Fatalf("the registry never got its credentials: %v", reg.got)
	}
}

// A closing PUT redirected (307) to another host is replayed there whole,
// without the registry's credentials.
func TestPushBlobRedirectedPUTCarriesNoCredentials(t *testing.T) {
	t.Parallel()
	storage := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	reg := basicRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			w.Header().Set("Location", "/v2/far/blob/blobs/uploads/u1")
			w.WriteHeader(http.StatusAccepted)
		case http.MethodPut:
			http.Redirect(w, r, storage.srv.URL+"/bucket/u1", http.StatusTemporaryRedirect)
		}
	})
	data, desc := randomBlob(8, 5000)
	c := newTestClient(t, userCreds("alice", "wonder"))
	if _, err := c.PushBlob(context.Background(), refOn(t, reg.srv, "far/blob"), desc, registry.ReaderAtSource(bytes.NewReader(data))); err != nil {
		t.Fatalf("PushBlob: %v", err)
	}
	if len(storage.got) != 1 || !strings.HasSuffix(storage.got[0], "auth=false") || !bytes.Equal(storage.body, data) {
		t.Fatalf("storage host saw %v with %d bytes", storage.got, len(storage.body))
	}
}

// An https registry cannot send an upload to plain http.
func TestPushBlobLocationDowngradeRefused(t *testing.T) {
	t.Parallel()
	plain := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	tlsReg := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodHead:
			w.WriteHeader(http.StatusNotFound)
		case http.MethodPost:
			w.Header().Set("Location", plain.srv.URL+"/u1")
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(tlsReg.Close)
	c := newTestClient(t, registry.WithInsecureSkipVerify(true))
	_, err := c.PushBlob(context.Background(), refOn(t, tlsReg, "x/y"), blobDesc([]byte("z")), registry.ReaderAtSource(strings.NewReader("z")))
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "upload location from https to http") || len(plain.got) != 0 {
		t.Fatalf("err = %v, plain host saw %v", err, plain.got)
	}
}
