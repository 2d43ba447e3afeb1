package auth

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/imagec/imagec/errdefs"
)

func TestCheckRealm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		registry  string
		plainHTTP bool
		realm     string
		deny      string // substring of the reason; "" means allowed
	}{
		{"registry.example.com", false, "https://auth.example.com/token", ""},
		{"registry-1.docker.io", false, "https://auth.docker.io/token?x=1", ""},
		{"registry.example.com", false, "http://auth.example.com/token", "plain http"},
		{"registry.example.com", true, "http://auth.example.com/token", ""},
		{"localhost:5000", false, "http://localhost:5001/token", ""},
		{"127.0.0.1:5000", false, "http://127.0.0.1:5001/token", ""},
		{"registry.example.com", false, "ftp://auth.example.com/token", "scheme"},
		{"registry.example.com", false, "https:///token", "no host"},
		{"registry.example.com", false, "https://user:pw@auth.example.com/token", "user info"},
		{"registry.example.com", false, "https://10.0.0.5/token", "private"},
		{"registry.example.com", false, "https://192.168.1.1/token", "private"},
		{"registry.example.com", false, "https://172.16.3.4/token", "private"},
		{"registry.example.com", false, "https://100.64.1.1/token", "private"},
		{"registry.example.com", false, "https://169.254.169.254/latest/meta-data", "link-local"},
		{"registry.example.com", false, "https://127.0.0.1/token", "loopback"},
		{"registry.example.com", false, "https://[::1]:8443/token", "loopback"},
		{"registry.example.com", false, "https://[::ffff:127.0.0.1]/token", "loopback"},
		{"registry.example.com", false, "https://[fd00::1]/token", "private"},
		{"registry.example.com", false, "https://[fe80::1%25eth0]/token", "link-local"},
		{"registry.example.com", false, "https://0.0.0.0/token", "loopback"},
		{"registry.example.com", false, "https://localhost/token", "loopback"},
		{"registry.example.com", false, "https://LOCALHOST./token", "loopback"},
		{"registry.example.com", false, "https://a.localhost/token", "loopback"},
		{"registry.example.com", false, "https://2130706433/token", "loopback"},
		{"registry.example.com", false, "https://0x7f.1/token", "loopback"},
		{"registry.example.com", true, "http://10.0.0.5/token", "private"},
		{"10.1.2.3:5000", false, "https://10.1.2.4/token", ""},
		{"[fd00::2]:5000", false, "https://[fd00::1]/token", ""},
		{"localhost:5000", false, "https://192.168.0.2/token", ""},
		{"registry.example.com", false, "https://8.8.8.8/token", ""},
		{"registry.example.com", false, "https://deadbeef.example/token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.registry+" "+tt.realm, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.realm)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckRealm(tt.registry, tt.plainHTTP, u)
			if tt.deny == "" {
				if err != nil {
					t.Fatalf("CheckRealm = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrDenied) {
				t.Fatalf("CheckRealm = %v, want ErrDenied", err)
			}
			if !strings.Contains(err.Error(), tt.deny) {
				t.Errorf("CheckRealm = %q, want reason containing %q", err, tt.deny)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("error %q leaks user info", err)
			}
		})
	}
}

func TestDefaultRealmCheckIsHTTPSOnly(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("http://auth.example.com/token")
	if err := DefaultRealmCheck("registry.example.com", u); !errors.Is(err, errdefs.ErrDenied) {
		t.Fatalf("DefaultRealmCheck(http realm) = %v, want ErrDenied", err)
	}
	if err := CheckRealm("registry.example.com", false, nil); !errors.Is(err, errdefs.ErrDenied) {
		t.Fatalf("CheckRealm(nil) = %v, want ErrDenied", err)
	}
}
