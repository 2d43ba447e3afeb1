package main

import (
	"github.com/spf13/cobra"

	"github.com/imagec/imagec/credentials"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/store"
)

// globals are the flags every command shares.
type globals struct {
	root               string
	caFile             string
	insecureSkipVerify bool
	insecureAllowHTTP  bool
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	cmd := &cobra.Command{
		Use:           "imagec",
		Short:         "Pull container images into a local OCI image layout",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&g.root, "root", "", "store directory (default $IMAGEC_ROOT, else /var/lib/imagec for root, $XDG_DATA_HOME/imagec or ~/.local/share/imagec for others)")
	f.StringVar(&g.caFile, "ca-file", "", "PEM file of extra certificate authorities to trust for registries")
	f.BoolVar(&g.insecureSkipVerify, "insecure-skip-verify", false, "do not verify registry TLS certificates")
	f.BoolVar(&g.insecureAllowHTTP, "insecure-allow-http", false, "allow plain HTTP registries (loopback registries are always allowed)")
	cmd.AddCommand(
		newPullCommand(g),
		newImagesCommand(g),
		newInspectCommand(g),
		newLayersCommand(g),
		newRmiCommand(g),
		newLoginCommand(g),
		newLogoutCommand(g),
		newFsckCommand(g),
		newVersionCommand(),
	)
	return cmd
}

func (g *globals) openStore() (*store.Store, error) {
	root := g.root
	if root == "" {
		root = store.DefaultRoot()
	}
	return store.Open(root)
}

// client builds a registry client with the user's TLS flags and the
// credentials of Docker's config.json.
func (g *globals) client(extra ...registry.Option) (*registry.Client, error) {
	creds, err := credentials.Load(credentials.DefaultPath())
	if err != nil {
		return nil, err
	}
	opts := []registry.Option{
		registry.WithCredentials(creds.CredentialFunc()),
		registry.WithInsecureSkipVerify(g.insecureSkipVerify),
		registry.WithInsecureAllowHTTP(g.insecureAllowHTTP),
	}
	if g.caFile != "" {
		opts = append(opts, registry.WithCAFile(g.caFile))
	}
	return registry.New(append(opts, extra...)...)
}
