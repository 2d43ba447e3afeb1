package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/verify"
)

// trustFlags choose the trust policy a pull or imagec verify checks
// against: a key or a certificate identity given on the command line, else
// a policy file, else (when asked, by --verify or the configuration's
// "verify") the configuration's "policy" or /etc/containers/policy.json.
type trustFlags struct {
	verify      bool
	policy      string
	keys        []string
	identity    string
	issuer      string
	trustedRoot string
}

func (tf *trustFlags) register(f *pflag.FlagSet, withVerify bool) {
	if withVerify {
		f.BoolVar(&tf.verify, "verify", false, "refuse the image unless the trust policy accepts it (the configuration's \"policy\", else "+verify.DefaultPolicyPath+")")
	}
	f.StringVar(&tf.policy, "policy", "", "trust policy file, containers-policy.json form (implies --verify)")
	f.StringArrayVar(&tf.keys, "verify-key", nil, "require a cosign signature by this PEM public key (repeatable: any of them; implies --verify)")
	f.StringVar(&tf.identity, "certificate-identity", "", "keyless: require a signature whose certificate names this identity (email, URI), exactly")
	f.StringVar(&tf.issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer the certificate must name, exactly")
	f.StringVar(&tf.trustedRoot, "trusted-root", "", "keyless: sigstore trusted_root.json holding the Fulcio CA and the Rekor log keys (checked offline)")
}

// load returns the policy to check against, or nil when none is asked for
// (always: imagec verify, which always checks).
func (tf *trustFlags) load(cfg *config.Config, always bool) (*verify.Policy, error) {
	keyless := tf.identity != "" || tf.issuer != "" || tf.trustedRoot != ""
	switch {
	case len(tf.keys) > 0 && keyless:
		return nil, fmt.Errorf("--verify-key and the keyless flags (--certificate-identity, --certificate-oidc-issuer, --trusted-root) exclude each other: %w", errdefs.ErrInvalidArgument)
	case (len(tf.keys) > 0 || keyless) && tf.policy != "":
		return nil, fmt.Errorf("--policy and --verify-key or the keyless flags exclude each other: %w", errdefs.ErrInvalidArgument)
	case len(tf.keys) > 0:
		var pems [][]byte
		for _, k := range tf.keys {
			b, err := os.ReadFile(k)
			if err != nil {
				return nil, fmt.Errorf("--verify-key: %w: %w", err, errdefs.ErrInvalidArgument)
			}
			pems = append(pems, b)
		}
		return verify.KeyPolicy(pems...)
	case keyless:
		if tf.trustedRoot == "" {
			return nil, fmt.Errorf("keyless verification needs --trusted-root (imagec never asks the network for it): %w", errdefs.ErrInvalidArgument)
		}
		root, err := verify.LoadTrustedRoot(tf.trustedRoot)
		if err != nil {
			return nil, err
		}
		return verify.KeylessPolicy(&verify.Trust{Root: root}, tf.issuer, tf.identity)
	case tf.policy != "":
		return verify.LoadPolicy(tf.policy)
	case always || tf.verify || cfg.Verify:
		path := cfg.Policy
		if path == "" {
			path = verify.DefaultPolicyPath
		}
		return verify.LoadPolicy(path)
	}
	return nil, nil
}

// verifier is the verifier for the flags, or nil when none is asked for.
func (tf *trustFlags) verifier(reg *registry.Client, cfg *config.Config, always bool) (*verify.Verifier, error) {
	p, err := tf.load(cfg, always)
	if err != nil || p == nil {
		return nil, err
	}
	return verify.New(reg, p), nil
}
