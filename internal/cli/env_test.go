package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// env is an injected environment.
type env map[string]string

func (e env) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

// settings are the flags of a test command, one of each kind.
type settings struct {
	localShards int
	out         string
	insecure    bool
	timeout     time.Duration
	alpha       float64
}

func newFlags(s *settings, out *bytes.Buffer) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&s.localShards, "local-shards", 2, "shards")
	fs.StringVar(&s.out, "out", "out", "directory")
	fs.BoolVar(&s.insecure, "insecure", false, "plaintext")
	fs.DurationVar(&s.timeout, "join-timeout", time.Minute, "wait")
	fs.Float64Var(&s.alpha, "alpha", 0.5, "penalty")
	return fs
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"local-shards": "ALTMIN_LOCAL_SHARDS", "k": "ALTMIN_K", "cluster-key": "ALTMIN_CLUSTER_KEY", "val-data": "ALTMIN_VAL_DATA"} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		env  env
		want settings
	}{
		{"defaults", nil, env{}, settings{2, "out", false, time.Minute, 0.5}},
		{"environment when the flag is absent", nil,
			env{"ALTMIN_LOCAL_SHARDS": "0", "ALTMIN_OUT": "run1", "ALTMIN_INSECURE": "true", "ALTMIN_JOIN_TIMEOUT": "90s", "ALTMIN_ALPHA": "1e-3"},
			settings{0, "run1", true, 90 * time.Second, 1e-3}},
		{"the command line wins", []string{"--local-shards", "3", "--insecure=false", "--out", "cli"},
			env{"ALTMIN_LOCAL_SHARDS": "0", "ALTMIN_INSECURE": "true", "ALTMIN_OUT": "env", "ALTMIN_ALPHA": "2"},
			settings{3, "cli", false, time.Minute, 2}},
		{"a boolean false", nil, env{"ALTMIN_INSECURE": "false"}, settings{2, "out", false, time.Minute, 0.5}},
		{"an empty value is unset", nil, env{"ALTMIN_LOCAL_SHARDS": "", "ALTMIN_OUT": ""}, settings{2, "out", false, time.Minute, 0.5}},
		{"other variables are ignored", nil,
			env{"ALTMIN_NO_SUCH_FLAG": "x", "ALTMIN_GRPC_ADDR": "not a flag of this command", "LOCAL_SHARDS": "7", "ALTMIN_local_shards": "7"},
			settings{2, "out", false, time.Minute, 0.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var s settings
			var out bytes.Buffer
			if err := Parse(newFlags(&s, &out), c.args, c.env.lookup); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s != c.want {
				t.Errorf("settings %+v, want %+v", s, c.want)
			}
		})
	}
}

// A value its flag refuses is a usage error naming the variable, the value
// and the flag, for every such variable.
func TestParseEnvBadValue(t *testing.T) {
	t.Parallel()
	var s settings
	var out bytes.Buffer
	err := Parse(newFlags(&s, &out), nil, env{"ALTMIN_LOCAL_SHARDS": "many", "ALTMIN_INSECURE": "yes", "ALTMIN_OUT": "fine"}.lookup)
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("err = %v, want a usage error", err)
	}
	for _, want := range []string{`ALTMIN_LOCAL_SHARDS="many"`, "--local-shards", `ALTMIN_INSECURE="yes"`, "--insecure"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	// A bad variable of a flag given on the command line is never read.
	if err := Parse(newFlags(&s, &out), []string{"--local-shards", "1", "--insecure"}, env{"ALTMIN_LOCAL_SHARDS": "many", "ALTMIN_INSECURE": "yes"}.lookup); err != nil {
		t.Errorf("flags given, bad variables: %v", err)
	}
}

func TestParseUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--nope"}, {"--local-shards", "x"}, {"--out", "a", "extra"}} {
		var s settings
		var out bytes.Buffer
		if err := Parse(newFlags(&s, &out), args, env{}.lookup); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

// The help lists the flags and says how the environment sets them.
func TestParseHelp(t *testing.T) {
	t.Parallel()
	var s settings
	var out bytes.Buffer
	err := Parse(newFlags(&s, &out), []string{"-h"}, env{}.lookup)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	help := out.String()
	for _, want := range []string{"Usage of test:", "-local-shards", "ALTMIN_<FLAG>", "(--join-timeout: ALTMIN_JOIN_TIMEOUT)", "command line wins"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}

	// A command without flags says nothing about them.
	empty := flag.NewFlagSet("empty", flag.ContinueOnError)
	var eout bytes.Buffer
	empty.SetOutput(&eout)
	if err := Parse(empty, []string{"-h"}, env{}.lookup); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if strings.Contains(eout.String(), "ALTMIN_") {
		t.Errorf("help of a command without flags mentions the environment:\n%s", eout.String())
	}
}
