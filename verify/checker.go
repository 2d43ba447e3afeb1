package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/verify/sigcheck"
)

// Checker does the cryptographic part of verification: it checks an
// image's candidate signatures against the trust material of each
// requirement, and says of each whether it verifies or why not. An error
// is a failure to check (the Verifier then refuses with that error), not a
// verdict on a signature.
//
// Helper is the default. The in-process one is sigstore.Checker (package
// github.com/imagec/imagec/verify/sigstore), which links sigstore-go into
// the program that uses it.
type Checker interface {
	CheckSignatures(ctx context.Context, req *sigcheck.Request) (*sigcheck.Response, error)
}

// HelperName is the command the default Checker runs.
const HelperName = "imagec-sigstore"

// ErrNoHelper is what the error of a check without imagec-sigstore is
// (errors.Is).
var ErrNoHelper = errors.New(HelperName + " not found")

// helperWait bounds how long a helper killed for its context, or one
// whose output is cut short, may keep its pipes open.
const helperWait = time.Second

// maxHelperStderr is how much of the helper's standard error is kept for
// a failure's message.
const maxHelperStderr = 4 << 10

// Helper returns the Checker that runs the offline helper imagec-sigstore
// (cmd/imagec-sigstore) once per check: the request as JSON on its
// standard input, the response as JSON on its standard output (at most
// sigcheck.MaxResponseSize), in an empty environment, killed when the
// context ends. The helper is the program at path or, for "", the
// imagec-sigstore in the directory of the running program
// (os.Executable), else the one on PATH, looked up at each check.
func Helper(path string) Checker {
	if path != "" {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	return &helper{path: path}
}

type helper struct{ path string }

// ready reports whether c can check at all, before any signature is read:
// a missing helper is the one failure a check may know of in advance.
func ready(c Checker) error {
	if h, ok := c.(*helper); ok {
		_, err := h.find()
		return err
	}
	return nil
}

// missingHelper is the one-line error of a check that found no helper.
type missingHelper struct{ msg string }

func (e *missingHelper) Error() string        { return e.msg }
func (e *missingHelper) Is(target error) bool { return target == ErrNoHelper }

// find returns the helper's path.
func (h *helper) find() (string, error) {
	if h.path != "" {
		if err := executable(h.path); err != nil {
			return "", &missingHelper{fmt.Sprintf("signature verification needs %s: %v", HelperName, err)}
		}
		return h.path, nil
	}
	next := "the running program"
	var beside string
	if exe, err := os.Executable(); err == nil {
		beside = filepath.Join(filepath.Dir(exe), HelperName)
		if executable(beside) == nil {
			return beside, nil
		}
		next = filepath.Base(exe)
	}
	if p, err := exec.LookPath(HelperName); err == nil {
		return p, nil
	}
	why := "none on PATH"
	if beside != "" {
		why = "no " + beside + ", and none on PATH"
	}
	return "", &missingHelper{fmt.Sprintf("signature verification needs %s next to %s or on PATH: %s", HelperName, next, why)}
}

// executable refuses what is not a regular file with an execute bit.
func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

func (h *helper) CheckSignatures(ctx context.Context, req *sigcheck.Request) (*sigcheck.Response, error) {
	path, err := h.find()
	if err != nil {
		return nil, err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(in) > sigcheck.MaxRequestSize {
		return nil, fmt.Errorf("%s: a request of %d bytes, over its limit of %d: %w", HelperName, len(in), sigcheck.MaxRequestSize, errdefs.ErrTooLarge)
	}
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = []string{} // offline: nothing in it could name a proxy or a server
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewReader(in)
	stdout := &capped{max: sigcheck.MaxResponseSize}
	stderr := &capped{max: maxHelperStderr, keep: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = helperWait
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: %w", HelperName, context.Cause(ctx))
	case stdout.over:
		return nil, fmt.Errorf("%s: a response over %d bytes: %w", HelperName, sigcheck.MaxResponseSize, errdefs.ErrTooLarge)
	case err != nil:
		msg := fmt.Sprintf("%s: %v", HelperName, err)
		if line := firstLine(stderr.b.String()); line != "" {
			msg += ": " + line
		}
		return nil, errors.New(msg)
	}
	var resp sigcheck.Response
	dec := json.NewDecoder(&stdout.b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("%s: an unreadable response: %v", HelperName, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: an unreadable response: more after its JSON value", HelperName)
	}
	if err := resp.Validate(req); err != nil {
		return nil, fmt.Errorf("%s: a response that does not answer the request: %v", HelperName, err)
	}
	return &resp, nil
}

// capped is a writer that holds at most max bytes: past that it fails
// (over set), which ends the helper's output; with keep, it drops the
// rest silently instead (for standard error, kept for a message only).
type capped struct {
	b    bytes.Buffer
	max  int
	keep bool
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); len(p) > room {
		c.b.Write(p[:max(room, 0)])
		if c.keep {
			return len(p), nil
		}
		c.over = true
		return 0, errors.New("output over its limit")
	}
	return c.b.Write(p)
}

// firstLine is the first non-empty line of s, trimmed and cut short.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 200 {
				line = line[:200] + "…"
			}
			return line
		}
	}
	return ""
}
