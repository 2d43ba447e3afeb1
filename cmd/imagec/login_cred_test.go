package main

import (
	"context"
	"testing"

	"github.com/imagec/imagec/registry/auth"
)

// The credential being checked by login is offered to the host logged into
// only, whatever host the registry client asks about.
func TestCredentialForOnlyThatHost(t *testing.T) {
	t.Parallel()
	cred := auth.Credential{Username: "alice", Password: "wonder"}
	f := credentialFor("Registry.example.com:443", cred)
	for asked, want := range map[string]bool{
		"registry.example.com":      true,
		"registry.example.com:443":  true,
		"REGISTRY.example.com":      true,
		"registry.example.com:5000": false,
		"cdn.example.com":           false,
		"127.0.0.1:5000":            false,
		"":                          false,
	} {
		got, err := f(context.Background(), asked)
		if err != nil {
			t.Fatal(err)
		}
		if (got == cred) != want {
			t.Errorf("credential for %q = %+v, want given: %v", asked, got, want)
		}
	}
}
