package reference

import "testing"

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1": true, "127.1.2.3:80": true, "[::1]:5000": true, "::1": true,
		"registry.localhost:1": false, "example.com": false, "10.0.0.1:5000": false, "127.0.0.1.example.com": false, "[::2]:5000": false,
	}
	for host, want := range cases {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestIsInternal covers the literal forms a token realm, a redirect or a
// foreign-layer URL can use to point at this machine or a private network.
func TestIsInternal(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"localhost": true, "LOCALHOST.": true, "a.localhost": true, "localhost:5000": true,
		"127.0.0.1": true, "127.0.0.1:5000": true, "[::1]:8443": true, "::1": true, "[::ffff:127.0.0.1]": true, "0.0.0.0": true,
		"10.0.0.5": true, "192.168.1.1:443": true, "172.16.3.4": true, "100.64.1.1": true, "[fd00::1]": true, "[fd00::2]:5000": true,
		"169.254.169.254": true, "fe80::1%eth0": true, "[fe80::1%25eth0]:80": true,
		"2130706433": true, "0x7f.1": true, "0177.1": true,
		"registry.example.com": false, "registry.example.com:443": false, "8.8.8.8": false, "100.128.0.1": false,
		"[2001:db8::1]:5000": false, "deadbeef.example": false, "1.example": false, "": false,
	}
	for host, want := range cases {
		if got := IsInternal(host); got != want {
			t.Errorf("IsInternal(%q) = %v, want %v", host, got, want)
		}
	}
}
