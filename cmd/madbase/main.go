// Command madbase is the one MadBase binary: each tier is a subcommand.
package main

import (
	"os"

	"github.com/madbase/madbase/cmd/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
