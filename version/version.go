// Package version holds imagec's version, stamped at build time with
// -ldflags "-X github.com/imagec/imagec/version.Version=...".
package version

// Version is imagec's release version.
var Version = "0.1.0-dev"

// UserAgent is sent with every registry request.
func UserAgent() string { return "imagec/" + Version }
