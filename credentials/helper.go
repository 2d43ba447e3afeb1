package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry/auth"
)

const (
	// helperPrefix names credential helper executables on PATH.
	helperPrefix = "docker-credential-"
	// tokenUsername is the Username a helper stores for an identity token.
	tokenUsername = "<token>"
	// maxHelperOutput bounds what is read from a helper.
	maxHelperOutput = 1 << 20
	// maxHelperMessage bounds the helper output quoted in an error.
	maxHelperMessage = 200
)

// errHelperNotFound reports that a helper holds nothing for the server.
var errHelperNotFound = errors.New("credentials not found")

// helperCredential is the JSON exchanged with helpers by get and store.
type helperCredential struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

// helperGet asks helper for serverURL's credential. A helper holding none
// yields errHelperNotFound.
func helperGet(ctx context.Context, helper, serverURL string) (auth.Credential, error) {
	out, err := runHelper(ctx, helper, "get", []byte(serverURL), "")
	if err != nil {
		return auth.Credential{}, err
	}
	var hc helperCredential
	if err := json.Unmarshal(out, &hc); err != nil {
		// Some helpers print "credentials not found" and exit 0.
		if isNotFoundMessage(string(out)) {
			return auth.Credential{}, errHelperNotFound
		}
		return auth.Credential{}, fmt.Errorf("credential helper %s%s get for %s: output is not credential JSON: %w",
			helperPrefix, helper, serverURL, errdefs.ErrInvalidArgument)
	}
	if hc.Username == tokenUsername {
		return auth.Credential{IdentityToken: hc.Secret}, nil
	}
	return auth.Credential{Username: hc.Username, Password: hc.Secret}, nil
}

// helperStore hands c for serverURL to helper.
func helperStore(ctx context.Context, helper, serverURL string, c auth.Credential) error {
	hc := helperCredential{ServerURL: serverURL, Username: c.Username, Secret: c.Password}
	if c.IdentityToken != "" {
		hc.Username, hc.Secret = tokenUsername, c.IdentityToken
	}
	in, err := json.Marshal(hc)
	if err != nil {
		return fmt.Errorf("encoding credential for helper %s%s: %w", helperPrefix, helper, errdefs.ErrInvalidArgument)
	}
	_, err = runHelper(ctx, helper, "store", in, hc.Secret)
	return err
}

// helperErase asks helper to forget serverURL.
func helperErase(ctx context.Context, helper, serverURL string) error {
	_, err := runHelper(ctx, helper, "erase", []byte(serverURL), "")
	return err
}

// runHelper runs `docker-credential-<helper> <action>` with input on stdin
// and returns its stdout. Errors are one line naming the helper; the
// helper's own message is quoted only after secret is masked out of it.
func runHelper(ctx context.Context, helper, action string, input []byte, secret string) ([]byte, error) {
	if !validHelperName(helper) {
		return nil, fmt.Errorf("credential helper name %q is invalid: %w", helper, errdefs.ErrInvalidArgument)
	}
	name := helperPrefix + helper
	cmd := exec.CommandContext(ctx, name, action)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr boundedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		if stdout.overflow {
			return nil, fmt.Errorf("credential helper %s %s: output exceeds %d bytes: %w", name, action, maxHelperOutput, errdefs.ErrTooLarge)
		}
		return stdout.Bytes(), nil
	}
	if errors.Is(err, exec.ErrNotFound) {
		return nil, fmt.Errorf("credential helper %s is not installed (not found in PATH): %w", name, errdefs.ErrInvalidArgument)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("credential helper %s %s: %w", name, action, ctxErr)
	}
	// docker-credential-helpers report errors on stdout; others use stderr.
	msg := stdout.String()
	if strings.TrimSpace(msg) == "" {
		msg = stderr.String()
	}
	if isNotFoundMessage(msg) {
		return nil, errHelperNotFound
	}
	return nil, fmt.Errorf("credential helper %s %s failed: %s: %w", name, action, helperMessage(msg, secret, err), errdefs.ErrUnavailable)
}

// validHelperName keeps the executable name a plain word: config.json names
// it, and "../../bin/sh" or "-x" must not become a command.
func validHelperName(name string) bool {
	if name == "" || strings.HasPrefix(name, "-") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return !strings.Contains(name, "..")
}

func isNotFoundMessage(s string) bool {
	return strings.Contains(strings.ToLower(s), "credentials not found")
}

// helperMessage reduces a helper's output to its first non-empty line,
// masks the secret, and bounds the length; it falls back to the exit status.
// Control characters are left to the printer, which escapes them.
func helperMessage(msg, secret string, runErr error) string {
	line := ""
	for l := range strings.Lines(msg) {
		if l = strings.TrimSpace(l); l != "" {
			line = l
			break
		}
	}
	if secret != "" {
		line = strings.ReplaceAll(line, secret, "<redacted>")
	}
	if len(line) > maxHelperMessage {
		line = line[:maxHelperMessage] + "..."
	}
	if line == "" {
		return runErr.Error()
	}
	return line
}

// boundedBuffer keeps the first maxHelperOutput bytes written and notes any
// overflow, so a runaway helper cannot exhaust memory.
type boundedBuffer struct {
	bytes.Buffer
	overflow bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := maxHelperOutput - b.Len(); len(p) > room {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
