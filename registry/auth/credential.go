// Package auth answers a registry's authentication challenge: it parses
// WWW-Authenticate headers, fetches bearer tokens from the realm the registry
// names (Docker registry token specification) or falls back to HTTP basic
// authentication, caches what it obtained per registry host and scope, and
// attaches it only to requests bound for the host that asked for it.
//
// The package is an http.RoundTripper wrapper; TLS, proxies and retries of
// transient failures belong to the transport it wraps and to its caller.
package auth

import "context"

// Credential is what a user holds for one registry. At most one of the three
// forms is normally set; when several are, IdentityToken wins over
// Username/Password for bearer token requests, and RegistryToken wins over
// both because it needs no token exchange at all.
type Credential struct {
	// Username and Password are sent with HTTP basic authentication, to the
	// registry for a basic challenge or to the token realm for a bearer one.
	Username, Password string
	// IdentityToken is an OAuth2 refresh token (docker config
	// "identitytoken"), exchanged at the realm with grant_type=refresh_token.
	IdentityToken string
	// RegistryToken is a bearer token sent to the registry as is.
	RegistryToken string
}

// Empty reports whether c holds nothing usable, which means anonymous access.
func (c Credential) Empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == "" && c.RegistryToken == ""
}

// hasBasic reports whether c can answer a basic challenge or authenticate a
// password-style token request.
func (c Credential) hasBasic() bool {
	return c.Username != "" || c.Password != ""
}

// CredentialFunc returns the credential for a registry host such as
// "registry-1.docker.io" or "localhost:5000". It returns an empty Credential
// and a nil error when there is none.
type CredentialFunc func(ctx context.Context, host string) (Credential, error)

// anonymous is the CredentialFunc used when none is configured.
func anonymous(context.Context, string) (Credential, error) { return Credential{}, nil }
