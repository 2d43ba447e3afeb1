package auth

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
)

// DefaultRealmCheck is the realm policy applied when WithRealmCheck is not
// used, for a registry contacted over https. It is CheckRealm with plainHTTP
// false.
func DefaultRealmCheck(registryHost string, realm *url.URL) error {
	return CheckRealm(registryHost, false, realm)
}

// CheckRealm decides whether a bearer realm named by registryHost may be
// contacted. The realm receives the user's credentials and is chosen by the
// registry, so a hostile or compromised registry could use it to harvest
// passwords over cleartext or to make imagec probe the internal network
// (SSRF). The rules:
//
//   - the realm must be an absolute http or https URL without user info;
//   - it must be https, unless the registry itself is loopback or was
//     contacted over plain http (plainHTTP), where https buys nothing;
//   - a realm whose host is "localhost", a loopback, private, link-local or
//     unspecified IP literal, or a numeric host that is not a canonical IP
//     ("2130706433", "0x7f.1") is refused unless the registry host is itself
//     loopback or private: a registry on the internet has no business sending
//     imagec to them.
//
// Errors wrap errdefs.ErrDenied and say why. Host names that merely resolve
// to private addresses are not caught here; that needs a dialer-level check.
func CheckRealm(registryHost string, plainHTTP bool, realm *url.URL) error {
	if realm == nil {
		return fmt.Errorf("token realm for registry %s: missing: %w", registryHost, errdefs.ErrDenied)
	}
	deny := func(why string) error {
		return fmt.Errorf("token realm %s://%s for registry %s refused: %s: %w",
			realm.Scheme, realm.Host, registryHost, why, errdefs.ErrDenied)
	}
	scheme := strings.ToLower(realm.Scheme)
	if scheme != "https" && scheme != "http" {
		return deny("scheme must be https")
	}
	if realm.Host == "" || realm.Hostname() == "" {
		return deny("no host")
	}
	if realm.User != nil {
		return deny("realm URL carries user info")
	}
	registryInternal := reference.IsInternal(registryHost)
	if scheme == "http" && !plainHTTP && !reference.IsLoopback(registryHost) {
		return deny("plain http realm for a registry reached over https")
	}
	if reference.IsInternal(realm.Hostname()) && !registryInternal {
		return deny("realm points at a loopback, private or link-local address")
	}
	return nil
}
