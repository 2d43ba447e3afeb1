package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/imagec/imagec/credentials"
	"github.com/imagec/imagec/errdefs"
	"github.com/imagec/imagec/reference"
	"github.com/imagec/imagec/registry"
	"github.com/imagec/imagec/registry/auth"
)

func newLoginCommand(g *globals) *cobra.Command {
	var (
		username      string
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "login [flags] [SERVER]",
		Short: "Log in to a registry and save the credentials in Docker's config.json",
		Long: "Log in to a registry (default Docker Hub). The credentials are checked against the\n" +
			"registry, then saved where docker keeps them ($DOCKER_CONFIG/config.json, or its\n" +
			"credential helper), so docker and imagec share them. They are offered to SERVER\n" +
			"(and the token realm it names) only: if SERVER redirects to another host, that\n" +
			"host does not get them and the login fails.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			host := serverHost(args)
			in := bufio.NewReader(os.Stdin)
			if username == "" {
				if !term.IsTerminal(int(os.Stdin.Fd())) {
					return fmt.Errorf("login: --username is required when stdin is not a terminal: %w", errdefs.ErrInvalidArgument)
				}
				fmt.Fprint(os.Stderr, "Username: ")
				line, err := in.ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				username = strings.TrimSpace(line)
			}
			password, err := readPassword(in, passwordStdin)
			if err != nil {
				return err
			}
			if username == "" || password == "" {
				return fmt.Errorf("login: username and password must not be empty: %w", errdefs.ErrInvalidArgument)
			}
			cred := auth.Credential{Username: username, Password: password}
			if err := checkLogin(ctx, g, host, cred); err != nil {
				return err
			}
			creds, err := credentials.Load(credentials.DefaultPath())
			if err != nil {
				return err
			}
			if err := creds.Save(ctx, host, cred); err != nil {
				return err
			}
			fmt.Fprintln(os.Stdout, "Login Succeeded")
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "", "user name")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password (or token) from stdin")
	return cmd
}

func newLogoutCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Remove a registry's saved credentials (default Docker Hub)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := serverHost(args)
			creds, err := credentials.Load(credentials.DefaultPath())
			if err != nil {
				return err
			}
			if err := creds.Erase(cmd.Context(), host); err != nil {
				if errors.Is(err, errdefs.ErrNotFound) {
					return fmt.Errorf("not logged in to %s: %w", host, err)
				}
				return err
			}
			fmt.Fprintln(os.Stdout, "Removing login credentials for "+host)
			return nil
		},
	}
}

// serverHost turns the SERVER argument into a registry host, accepting the
// forms docker does ("https://host/v1/", "host:port"); none means Docker Hub.
func serverHost(args []string) string {
	if len(args) == 0 || args[0] == "" {
		return reference.DockerHubDomain
	}
	s := args[0]
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if s == "index.docker.io" || s == reference.DockerHubHost {
		return reference.DockerHubDomain
	}
	return s
}

func readPassword(in *bufio.Reader, fromStdin bool) (string, error) {
	if fromStdin {
		b, err := io.ReadAll(io.LimitReader(in, 1<<20))
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", fmt.Errorf("login: use --password-stdin when stdin is not a terminal: %w", errdefs.ErrInvalidArgument)
	}
	fmt.Fprint(os.Stderr, "Password: ")
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	return string(b), err
}

// checkLogin proves the credentials against the registry before saving.
func checkLogin(ctx context.Context, g *globals, host string, cred auth.Credential) error {
	apiHost := reference.RegistryHost(host)
	client, _, err := g.client(registry.WithCredentials(credentialFor(apiHost, cred)))
	if err != nil {
		return err
	}
	if err := client.Login(ctx, apiHost); err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	return nil
}

// credentialFor offers cred to host and to no other: whatever the registry
// answers (a redirect to another host, a challenge from a CDN), the password
// being checked goes only where the user is logging in.
func credentialFor(host string, cred auth.Credential) auth.CredentialFunc {
	want := comparableHost(host)
	return func(_ context.Context, asked string) (auth.Credential, error) {
		if comparableHost(asked) != want {
			return auth.Credential{}, nil
		}
		return cred, nil
	}
}

// comparableHost is host as the auth transport names it: lower case, without
// a default port ("Registry.example.com:443" is "registry.example.com").
func comparableHost(host string) string {
	h := strings.ToLower(host)
	for _, port := range []string{":443", ":80"} {
		h = strings.TrimSuffix(h, port)
	}
	return h
}
