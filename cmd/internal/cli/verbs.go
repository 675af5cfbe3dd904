package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// verb is one command of a noun such as `madbase projects`: its name,
// the aliases it also answers to, and what runs it.
type verb struct {
	name    string
	aliases []string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// dispatchVerb runs the verb args[0] names among verbs. With no verb, or
// one it does not know, it prints usage and returns a usage error naming
// the verbs; -h, --help and help print usage alone.
func dispatchVerb(ctx context.Context, noun, usage string, verbs []verb, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: name a command: %s", errUsage, verbList(verbs))
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stderr, usage)
		return nil
	}
	for _, v := range verbs {
		if v.name == args[0] || contains(v.aliases, args[0]) {
			return v.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown %s command %q", errUsage, noun, args[0])
}

// verbList reads "a, b or c".
func verbList(verbs []verb) string {
	names := make([]string, len(verbs))
	for i, v := range verbs {
		names[i] = v.name
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
