package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/manifest"
	"github.com/imagec/imagec/reference"
)

func newVerifyCommand(g *globals) *cobra.Command {
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "verify [flags] NAME[:TAG|@DIGEST]",
		Short: "Check an image's signatures against the trust policy, without pulling it",
		Long: "Check that the image a reference names in its registry carries cosign signatures the trust\n" +
			"policy accepts: --verify-key or the keyless flags, else --policy, else the configuration's\n" +
			"\"policy\", else /etc/containers/policy.json. Both of cosign's forms count: a sigstore bundle\n" +
			"attached as a referrer, and the legacy sha256-<hex>.sig tag. Every signature is checked\n" +
			"offline, transparency log proofs included, against the digest the registry serves for\n" +
			"the reference (a tag is resolved, never trusted). Exits non-zero, saying why, when the\n" +
			"policy refuses the image.\n\n" +
			"The checks run in imagec-sigstore, imagec's offline helper, found next to the imagec\n" +
			"binary or else on PATH (make build and go install ./cmd/... install both).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRemote(args[0], reference.Parse)
			if err != nil {
				return err
			}
			v, err := tf.verifier(r.client, r.cfg, true)
			if err != nil {
				return err
			}
			// The digest of the bytes served, as a pull would fetch them:
			// HEAD's answer is the registry's word only.
			m, err := r.manifest(cmd.Context())
			if err != nil {
				return err
			}
			parsed, err := manifest.Parse(m.MediaType, m.Body)
			if err != nil {
				return err
			}
			d, err := manifest.Digest(parsed.MediaType, m.Body)
			if err != nil {
				return err
			}
			if want := r.ref.Digest(); want != "" && want != d {
				return fmt.Errorf("%s: the registry serves %s: %w", r.ref, d, errdefs.ErrDigestMismatch)
			}
			res, err := v.Check(cmd.Context(), r.ref, r.ref, d)
			if err != nil {
				return fmt.Errorf("verify %s: %w", r.ref, err)
			}
			what := "accepted without a signature"
			if res.Signed > 0 {
				what = fmt.Sprintf("signatures meet %d requirement(s)", res.Signed)
			}
			printLine(os.Stdout, fmt.Sprintf("Verified %s@%s: %s (policy scope %q)", r.ref.Name(), d, what, res.Scope))
			return nil
		},
	}
	tf.register(cmd.Flags(), false)
	return cmd
}
