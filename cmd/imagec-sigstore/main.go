// Command imagec-sigstore is imagec's offline signature checker, an
// internal helper: imagec runs it, once per verification (imagec verify,
// pull --verify), to check cosign signatures with sigstore's Go library,
// which imagec itself does not link. It is not meant to be run by hand;
// install it next to imagec (or on PATH) and imagec finds it.
//
// It reads one JSON request (verify/sigcheck.Request: an image's digest,
// its candidate signatures, the trust material of each requirement; at
// most 64 MiB) on standard input, writes one JSON response
// (sigcheck.Response: each candidate's result under each requirement) on
// standard output and exits 0, whatever the signatures hold. It exits 2,
// saying why on standard error, only for a request it cannot read. It
// reads no file, and opens no connection: the transparency log's proofs
// are checked against the keys in the request.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/imagec/imagec/verify/sigcheck"
	"github.com/imagec/imagec/verify/sigstore"
)

func main() {
	interactive := false
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		interactive = true
	}
	os.Exit(run(os.Args[1:], interactive, os.Stdin, os.Stdout, os.Stderr))
}

const usage = "imagec-sigstore is imagec's internal signature checker: imagec runs it with a request on standard input (see imagec verify --help)"

// run is the command: exit 0 with a response, 2 for a request it cannot
// read, 1 when the response cannot be written.
func run(args []string, interactive bool, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 || interactive {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	req, err := readRequest(stdin)
	if err == nil {
		var resp *sigcheck.Response
		if resp, err = sigstore.Check(req); err == nil {
			if err := json.NewEncoder(stdout).Encode(resp); err != nil {
				fmt.Fprintln(stderr, "imagec-sigstore: writing the response:", err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintln(stderr, "imagec-sigstore:", err)
	return 2
}

// readRequest reads the one JSON request, of at most
// sigcheck.MaxRequestSize bytes and no unknown field.
func readRequest(r io.Reader) (*sigcheck.Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, sigcheck.MaxRequestSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the request: %v", err)
	}
	if len(data) > sigcheck.MaxRequestSize {
		return nil, fmt.Errorf("a request over %d bytes", sigcheck.MaxRequestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req sigcheck.Request
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("an unreadable request: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("an unreadable request: more after its JSON value")
	}
	return &req, nil
}
