package main

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/imagec/imagec"
	"github.com/imagec/imagec/config"
	"github.com/imagec/imagec/content/local"
	"github.com/imagec/imagec/registry"
)

// globals are the flags every command shares.
type globals struct {
	root               string
	caFile             string
	insecureSkipVerify bool
	insecureAllowHTTP  bool
	configPath         string
	hostsDir           string
	hostsDirSet        bool
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
	f.StringVar(&g.hostsDir, "hosts-dir", "", "containerd hosts directory: DIR/<registry>/hosts.toml and DIR/_default/hosts.toml name mirrors, TLS and headers; \"\" reads none (default the config's hostsDir, else "+config.DefaultHostsDir+" when it exists)")
	cmd.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		g.hostsDirSet = cmd.Flags().Changed("hosts-dir")
	}
	cmd.AddCommand(
		newPullCommand(g),
		newImagesCommand(g),
		newInspectCommand(g),
		newLayersCommand(g),
		newRmiCommand(g),
		newTagCommand(g),
		newPushCommand(g),
		newCopyCommand(g),
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
		newReferrersCommand(g),
		newServeCommand(g),
		newVerifyCommand(g),
		newVersionCommand(),
	)
	return cmd
}

// options are the library options the global flags set.
func (g *globals) options(extra ...imagec.Option) []imagec.Option {
	opts := []imagec.Option{
		imagec.WithRoot(g.root),
		imagec.WithConfigFile(g.configPath),
		imagec.WithCAFile(g.caFile),
		imagec.WithInsecureSkipVerify(g.insecureSkipVerify),
		imagec.WithInsecureAllowHTTP(g.insecureAllowHTTP),
	}
	if g.hostsDirSet {
		// Given, even as "": the flag rules over the config and the default.
		opts = append(opts, imagec.WithHostsDir(g.hostsDir))
	}
	return append(opts, extra...)
}

// open opens the store and prepares a registry client, as the library's
// defaults and the flags say.
func (g *globals) open(extra ...imagec.Option) (*imagec.Client, error) {
	c, err := imagec.Open(g.options(extra...)...)
	if err == nil {
		memoryFor(c.Store())
	}
	return c, err
}

// baseMemoryLimit is the soft memory limit of a command: imagec's heap
// holds buffers, not data.
const baseMemoryLimit = 28 << 20

// memoryFor raises the soft memory limit by the work a store's names make:
// with thousands of names the decoded index alone outgrows the base, and a
// collector held to it would run without pause. The index decodes to a few
// times its size in memory.
func memoryFor(st *local.Store) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if n := st.IndexSize(); n > 256<<10 {
		debug.SetMemoryLimit(baseMemoryLimit + 8*n)
	}
}

// openStore opens the store alone.
func (g *globals) openStore() (*local.Store, error) {
	c, err := g.open()
	if err != nil {
		return nil, err
	}
	return c.Store(), nil
}

// client builds a registry client with the user's TLS flags, the per-registry
// settings of the configuration file and the credentials of Docker's
// config.json (extra options come last and win), without opening a store.
func (g *globals) client(extra ...registry.Option) (*registry.Client, *config.Config, error) {
	return imagec.Registry(g.options(imagec.WithRegistryOptions(extra...))...)
}
