// Package cli holds the small pieces the two commands share: the logger,
// list flags and the cluster-key environment variable.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// EnvKey is the environment variable holding the cluster key when
// --cluster-key is not given.
const EnvKey = "ALTMIN_CLUSTER_KEY"

// ErrUsage is wrapped by command-line usage errors (exit status 2).
var ErrUsage = errors.New("usage")

// NewLogger returns a console logger at the named level writing to w.
func NewLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", ErrUsage, level)
	}
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
