// Package schema1reg runs a registry that really serves signed Docker
// image manifest v2 schema 1 documents: docker/distribution v2.8.3 (the
// last release that supports schema 1) with schema 1 compatibility on,
// in-memory storage, on a loopback httptest server.
//
// It is separate from testregistry so that only tests needing schema 1 link
// the old docker/distribution module next to Distribution v3.
package schema1reg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/docker/distribution/configuration"
	"github.com/docker/distribution/registry/handlers"
	"github.com/sirupsen/logrus"

	_ "github.com/docker/distribution/registry/storage/driver/inmemory" // registers "inmemory"
)

// Registry is a running schema 1 capable registry.
type Registry struct {
	// Host is "127.0.0.1:PORT"; URL is "http://" + Host.
	Host, URL string
}

// Start runs the registry until the test ends. Pushed schema 2 images are
// converted to signed schema 1 when a client's Accept header lists no
// schema 2 type (fetch by tag), and signed schema 1 manifests can be pushed
// as is (see PushSchema1).
func Start(t testing.TB) *Registry {
	t.Helper()
	quietLogs()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatalf("schema1reg: generating secret: %v", err)
	}
	c := &configuration.Configuration{}
	c.HTTP.Secret = hex.EncodeToString(secret)
	c.Storage = configuration.Storage{
		"inmemory":    configuration.Parameters{},
		"maintenance": configuration.Parameters{"uploadpurging": map[interface{}]interface{}{"enabled": false}},
	}
	c.Compatibility.Schema1.Enabled = true // an empty TrustKey makes the app generate one

	ctx, cancel := context.WithCancel(context.Background())
	app := handlers.NewApp(ctx, c)
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		srv.Close()
		cancel()
	})
	return &Registry{Host: srv.Listener.Addr().String(), URL: srv.URL}
}

var quietOnce sync.Once

// quietLogs silences logrus's standard logger, which the registry logs
// through (every 404 is an error line). IMAGEC_TESTREGISTRY_LOG sets another
// level, as in package testregistry.
func quietLogs() {
	quietOnce.Do(func() {
		level := logrus.PanicLevel
		if l, err := logrus.ParseLevel(os.Getenv("IMAGEC_TESTREGISTRY_LOG")); err == nil {
			level = l
		}
		logrus.SetLevel(level)
	})
}
