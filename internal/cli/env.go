package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// EnvPrefix begins the name of every environment variable that sets a
// flag.
const EnvPrefix = "ALTMIN_"

// Lookup returns the value of the named environment variable and whether
// it is set, as os.LookupEnv does. Tests pass their own.
type Lookup func(name string) (value string, ok bool)

// EnvName returns the environment variable that sets the flag of the given
// name: EnvPrefix and the name in upper case, dashes as underscores
// (local-shards: ALTMIN_LOCAL_SHARDS).
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, refuses positional arguments, and then sets
// every flag not given in args from its environment variable (SetFromEnv)
// read through lookup: a flag on the command line wins over the
// environment, which wins over the flag's default. It sets fs.Usage to
// list the flags and say so. Usage errors wrap ErrUsage; -h and --help
// return flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string, lookup Lookup) error {
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return SetFromEnv(fs, lookup)
}

// SetFromEnv sets every flag of the parsed fs that was not given on the
// command line from its environment variable (EnvName), when lookup finds
// that variable with a non-empty value; an empty value counts as unset.
// Boolean flags take the values of strconv.ParseBool (true, false, 1, 0).
// The variables are read only for the flags of fs, so variables of other
// commands' flags, and any other variable, are ignored. A value the flag
// refuses is a usage error naming the variable, its value and the flag;
// every such variable is reported.
func SetFromEnv(fs *flag.FlagSet, lookup Lookup) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s=%q for flag --%s: %v", name, v, f.Name, err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrUsage, errors.Join(errs...))
	}
	return nil
}

// usage writes the help of fs to its output: the flags, as the flag
// package does, and how the environment sets them.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage of %s:\n", fs.Name())
	fs.PrintDefaults()
	example := ""
	fs.VisitAll(func(f *flag.Flag) {
		if example == "" || (!strings.Contains(example, "-") && strings.Contains(f.Name, "-")) {
			example = f.Name
		}
	})
	if example == "" {
		return // no flags
	}
	fmt.Fprintf(w, "\nEvery flag may also be set by the environment variable %s<FLAG>, the flag's name\n"+
		"in upper case with dashes as underscores (--%s: %s); a flag given on the\n"+
		"command line wins over the environment.\n", EnvPrefix, example, EnvName(example))
}
