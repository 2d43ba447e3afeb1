package main

import (
	"github.com/spf13/cobra"

	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/credentials"
	"github.com/imagec/imagec/pull"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
)

// globals are the flags every command shares.
type globals struct {
	root               string
	caFile             string
	insecureSkipVerify bool
	insecureAllowHTTP  bool
	configPath         string
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	cmd := &cobra.Command{
		Use:   "imagec",
		Short: "Pull container images into a local OCI image layout",
		Long: "imagec pulls container images into a local OCI image layout, unpacks them and moves them\n" +
			"in and out as archives. It trusts only what it verified by digest: names, annotations and\n" +
			"files other programs put in the store or in an archive are checked, never believed, and no\n" +
			"symbolic link inside the store is followed.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&g.root, "root", "", "store directory (default $IMAGEC_ROOT, else /var/lib/imagec for root, $XDG_DATA_HOME/imagec or ~/.local/share/imagec for others)")
	f.StringVar(&g.caFile, "ca-file", "", "PEM file of extra certificate authorities to trust for registries")
	f.BoolVar(&g.insecureSkipVerify, "insecure-skip-verify", false, "do not verify registry TLS certificates")
	f.StringVar(&g.configPath, "config", "", "configuration file: registry mirrors and TLS settings (default $IMAGEC_CONFIG, else $XDG_CONFIG_HOME/imagec/config.json or ~/.config/imagec/config.json)")
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
		newUnpackCommand(g),
		newGCCommand(g),
		newSaveCommand(g),
		newLoadCommand(g),
		newTagsCommand(g),
		newDigestCommand(g),
		newManifestCommand(g),
		newVersionCommand(),
	)
	return cmd
}

func (g *globals) openStore() (*local.Store, error) {
	root := g.root
	if root == "" {
		root = local.DefaultRoot()
	}
	return local.Open(root)
}

// loadConfig reads imagec's configuration file (mirrors and per-registry
// TLS settings); a missing file is an empty configuration.
func (g *globals) loadConfig() (*config.Config, error) {
	path := g.configPath
	if path == "" {
		path = config.DefaultPath()
	}
	return config.Load(path)
}

// client builds a registry client with the user's TLS flags, the per-registry
// settings of the configuration file and the credentials of Docker's
// config.json.
func (g *globals) client(cfg *config.Config, extra ...registry.Option) (*registry.Client, error) {
	creds, err := credentials.Load(credentials.DefaultPath())
	if err != nil {
		return nil, err
	}
	opts := []registry.Option{
		registry.WithCredentials(creds.CredentialFunc()),
		registry.WithInsecureSkipVerify(g.insecureSkipVerify),
		registry.WithInsecureAllowHTTP(g.insecureAllowHTTP),
		registry.WithHostOptions(hostOptions(cfg)),
	}
	if g.caFile != "" {
		opts = append(opts, registry.WithCAFile(g.caFile))
	}
	return registry.New(append(opts, extra...)...)
}

// hostOptions turns the configuration into per-host transport settings: a
// registry's own, and plain HTTP for mirrors written as http://.
func hostOptions(cfg *config.Config) map[string]registry.HostOptions {
	hosts := map[string]registry.HostOptions{}
	for domain, r := range cfg.Registries {
		hosts[reference.RegistryHost(domain)] = registry.HostOptions{
			InsecureAllowHTTP: r.InsecureAllowHTTP, CAFile: r.CAFile, InsecureSkipVerify: r.InsecureSkipVerify,
		}
	}
	for _, r := range cfg.Registries {
		for _, m := range r.Mirrors {
			if m.PlainHTTP {
				h := hosts[m.Host]
				h.InsecureAllowHTTP = true
				hosts[m.Host] = h
			}
		}
	}
	return hosts
}

// endpoints gives the puller each registry's mirrors from the configuration.
func endpoints(cfg *config.Config) pull.Option {
	return pull.WithEndpoints(func(domain string) []pull.Endpoint {
		var out []pull.Endpoint
		for _, m := range cfg.Endpoints(domain) {
			out = append(out, pull.Endpoint{Host: m.Host, Prefix: m.Prefix})
		}
		return out
	})
}
