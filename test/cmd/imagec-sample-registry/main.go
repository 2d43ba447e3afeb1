// Command imagec-sample-registry runs a real registry (CNCF Distribution,
// in-process) on loopback, seeded with imagec's sample images, for the
// README demo and scripted end-to-end tests (from the repository root):
//
//	go -C test run ./cmd/imagec-sample-registry [--addr 127.0.0.1:5000] [--tls] [--user U --password P] [--sign-dir DIR] [--referrers-api]
//
// It prints one line per sample reference with its manifest digest, then
// "ready", and serves until SIGINT or SIGTERM. With --sign-dir, samples/oci
// is signed with a new key (cosign's legacy form and a bundle referrer)
// and given an SBOM, and the public key and a policy are written to DIR
// (their paths printed as "cosign-pub" and "policy" lines).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/test/internal/testregistry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "imagec-sample-registry:", err)
		}
		os.Exit(2)
	}
}

// run starts and seeds the registry, reports it on stdout and serves until
// ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagec-sample-registry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:5000", "listen `address`")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a generated test CA (its PEM path is printed)")
	user := fs.String("user", "", "require this `user` (with --password)")
	pass := fs.String("password", "", "the user's `password`")
	auth := fs.String("auth", "basic", "authentication with --user: `basic` (htpasswd) or token (bearer tokens)")
	anonPull := fs.Bool("anonymous-pull", false, "with --auth token, let anonymous clients pull")
	storage := fs.String("storage-dir", "", "keep content in this `dir` instead of memory")
	readyFile := fs.String("ready-file", "", "after seeding, write the registry host to this `path`")
	signDir := fs.String("sign-dir", "", "sign samples/oci, attach an SBOM, and write cosign.pub and policy.json to this `dir`")
	referrersAPI := fs.Bool("referrers-api", false, "serve the OCI 1.1 referrers API (Distribution has none: clients use the sha256-<hex> tag schema)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errdefs.ErrInvalidArgument)
	}

	opts := []testregistry.Option{testregistry.WithAddr(*addr)}
	if *useTLS {
		opts = append(opts, testregistry.WithTLS())
	}
	if *storage != "" {
		opts = append(opts, testregistry.WithStorageDir(*storage))
	}
	if *referrersAPI {
		opts = append(opts, testregistry.WithReferrersAPI(100))
	}
	if (*user == "") != (*pass == "") {
		return fmt.Errorf("--user and --password go together: %w", errdefs.ErrInvalidArgument)
	}
	if *user != "" {
		switch *auth {
		case "basic":
			opts = append(opts, testregistry.WithBasicAuth(*user, *pass))
		case "token":
			opts = append(opts, testregistry.WithTokenAuth(*user, *pass))
			if *anonPull {
				opts = append(opts, testregistry.WithAnonymousPull())
			}
		default:
			return fmt.Errorf("--auth %q: want basic or token: %w", *auth, errdefs.ErrInvalidArgument)
		}
	}

	reg, err := testregistry.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer reg.Close()
	samples, err := testregistry.SeedSamples(ctx, reg)
	if err != nil {
		return err
	}

	refs := make([]string, 0, len(samples))
	for ref := range samples {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	for _, ref := range refs {
		fmt.Fprintf(stdout, "%s  %s\n", ref, samples[ref])
	}
	if reg.CAFile != "" {
		fmt.Fprintf(stdout, "ca-file %s\n", reg.CAFile)
	}
	if *signDir != "" {
		pub, policy, err := testregistry.SeedSigned(ctx, reg, *signDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cosign-pub %s\npolicy %s\n", pub, policy)
	}
	if *readyFile != "" {
		if err := writeAtomic(*readyFile, reg.Host+"\n"); err != nil {
			return err
		}
		defer os.Remove(*readyFile)
	}
	fmt.Fprintln(stdout, "ready")

	<-ctx.Done()
	return reg.Close()
}

// writeAtomic writes via a temporary file and rename, so a script polling
// for path never reads it half-written.
func writeAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return fmt.Errorf("writing ready file %s: %w", path, err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing ready file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing ready file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing ready file %s: %w", path, err)
	}
	return nil
}
