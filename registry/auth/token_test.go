package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imagec/imagec/errdefs"
)

func TestDecodeToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name      string
		body      string
		wantValue string
		wantErr   error
	}{
		{"token field", `{"token":"abc","expires_in":300}`, "abc", nil},
		{"access_token field", `{"access_token":"def"}`, "def", nil},
		{"token wins over access_token", `{"token":"t","access_token":"a"}`, "t", nil},
		{"no token", `{"expires_in":300}`, "", errdefs.ErrUnavailable},
		{"not JSON", `<html>secret-ish</html>`, "", errdefs.ErrUnavailable},
		{"header injection", `{"token":"a\r\nX-Evil: 1"}`, "", errdefs.ErrUnavailable},
		{"too large", `{"token":"` + strings.Repeat("x", maxTokenResponse) + `"}`, "", errdefs.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := NewTransport(nil)
			tr.now = func() time.Time { return now }
			tok, err := tr.decodeToken(strings.NewReader(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("decodeToken = %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret-ish") {
					t.Errorf("error %q quotes the body", err)
				}
				return
			}
			if err != nil || tok.value != tt.wantValue {
				t.Fatalf("decodeToken = %q, %v; want %q", tok.value, err, tt.wantValue)
			}
		})
	}
}

func TestRefreshTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	iso := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name      string
		expiresIn int64
		issuedAt  string
		want      time.Time
	}{
		{"absent expires_in means 60s", 0, "", now.Add(54 * time.Second)},
		{"short expires_in is raised to 60s", 5, "", now.Add(54 * time.Second)},
		{"300s with 30s margin", 300, "", now.Add(270 * time.Second)},
		{"plausible issued_at counts", 300, iso(-10 * time.Second), now.Add(260 * time.Second)},
		{"issued_at in the future is ignored", 300, iso(time.Hour), now.Add(270 * time.Second)},
		{"issued_at long ago is ignored", 300, iso(-time.Hour), now.Add(270 * time.Second)},
		{"garbage issued_at is ignored", 300, "yesterday", now.Add(270 * time.Second)},
		{"absurd expires_in falls back", 1 << 62, "", now.Add(54 * time.Second)},
	}
	for _, tt := range tests {
		if got := refreshTime(now, tt.expiresIn, tt.issuedAt); !got.Equal(tt.want) {
			t.Errorf("%s: refreshTime = %v, want %v", tt.name, got, tt.want)
		}
	}
}
