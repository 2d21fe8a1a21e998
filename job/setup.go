package job

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"altmin/coordinator"
	"altmin/data"
)

// Switch is a setting that is on, off, or left to its default (Auto),
// which depends on the data (see setup). As a command-line flag it is a
// boolean: --standardize, --standardize=false.
type Switch int8

// The settings of a Switch.
const (
	Auto Switch = iota
	On
	Off
)

// String implements flag.Value.
func (s Switch) String() string {
	switch s {
	case On:
		return "true"
	case Off:
		return "false"
	}
	return "auto"
}

// Set implements flag.Value.
func (s *Switch) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", v)
	}
	*s = Off
	if b {
		*s = On
	}
	return nil
}

// IsBoolFlag makes a Switch flag take no value: --standardize is
// --standardize=true.
func (*Switch) IsBoolFlag() bool { return true }

// or returns whether s is on, def deciding for Auto.
func (s Switch) or(def bool) bool {
	if s == Auto {
		return def
	}
	return s == On
}

// Defaults of training on real data (see setup).
const (
	DefaultValidation = 0.1
	DefaultPatience   = 10
)

// setup is what the options resolve to for the data at hand. The papers'
// method (--paper) trains the papers' model exactly: no standardization,
// no linear term, output signs fixed by --signs, the plain least-squares
// step, every row for training, the last iterate written. Planted data
// with a teacher (--synthetic model=relu|sum|resnet|deep, or any data with
// the teacher given by --truth) train the
// papers' model with the damped step (which leaves the recovery of a
// planted network as fast as the plain step). Real data (--data, a
// cluster's data without --synthetic, and the planted kinds without a
// teacher, friedman1 and wide) train by default a model made for them:
// features and label standardized, a bias feature and a linear term (an
// output bias), alternating output signs, a start whose hidden units pass
// through data points, the damped step, 10% of the rows held out for
// validation, early stopping after 10 accepted iterations without a better
// validation loss, the best iterate written.
type setup struct {
	real        bool
	bias        bool
	standardize bool
	linear      bool
	revive      bool
	damping     bool
	validation  float64 // fraction of the rows held out, 0 for none (or --val-data)
	patience    int
	signs       string // default output signs, "" for the teacher's, else ones
	init        string // default start, "" for the family's
	ridge       *coordinator.Ridge
}

// planted reports whether the options' data come from a known teacher:
// planted data with a teacher, or any data with --truth (such as the files
// `coordinator gen` writes).
func (o *Options) planted() bool {
	return (o.Synthetic != "" && !data.IsNonRealizable(o.Synthetic)) || o.Truth != ""
}

// setup resolves the options' settings (see setup). Options.Validate
// refuses settings the mode does not take.
func (o *Options) setup() setup {
	real := !o.Paper && !o.planted() && !o.isDemo()
	s := setup{real: real, bias: o.Bias.or(real), standardize: o.Standardize.or(real), linear: o.Linear.or(real),
		damping: !o.Paper && o.Damping != "off", validation: max(o.Validation, 0), patience: max(o.Patience, 0)}
	if real {
		if o.Validation < 0 && o.ValData == "" {
			s.validation = DefaultValidation
		}
		if o.Patience < 0 {
			s.patience = DefaultPatience
		}
		s.signs, s.init = "alternate", "data"
	}
	if o.Method == "gd" {
		s.damping = false
	}
	s.revive = o.Revive.or(real) && s.damping
	switch {
	case o.Alpha == "" || o.Alpha == "auto":
		if real && s.damping {
			s.ridge = coordinator.DefaultRidge()
		}
	default:
		if a, _ := strconv.ParseFloat(o.Alpha, 64); a > 0 { // checked by checkMode
			s.ridge = &coordinator.Ridge{Alpha: a}
		}
	}
	return s
}

// ShardBias returns whether a shard appends the bias feature: --bias when
// given, else on for data without a teacher (file data, the planted kinds
// friedman1 and wide), the data trained by default as real data.
func (o *Options) ShardBias() bool { return o.Bias.or(!o.planted() && o.Synthetic+o.Data != "") }

// isDemo reports whether the options train the demo (no data given).
func (o *Options) isDemo() bool { return o.Data == "" && o.Synthetic == "" && len(o.Join) == 0 }

// validAlpha reports whether v is a penalty: a finite number >= 0.
func validAlpha(v string) bool {
	a, err := strconv.ParseFloat(v, 64)
	return err == nil && a >= 0 && !math.IsInf(a, 0)
}

// checkMode checks the settings against the mode: --paper takes none of
// the settings for real data, and the settings for real data take their
// values.
func (o *Options) checkMode() error {
	switch {
	case !(o.Validation < 1) || (o.Validation < 0 && o.Validation != -1):
		return fmt.Errorf("%w: --validation %v: want a fraction in (0, 1), or 0 for none", ErrOptions, o.Validation)
	case o.Patience < -1:
		return fmt.Errorf("%w: --patience %d: want >= 0 (0: no early stopping)", ErrOptions, o.Patience)
	case o.Damping != "" && o.Damping != "on" && o.Damping != "off":
		return fmt.Errorf("%w: --damping %q: want on or off", ErrOptions, o.Damping)
	case o.ValData != "" && o.Validation > 0:
		return fmt.Errorf("%w: give --validation or --val-data, not both", ErrOptions)
	case o.ValData != "" && o.Data == "":
		return fmt.Errorf("%w: --val-data holds validation rows for --data: give --data too", ErrOptions)
	case o.ValData != "" && !sameFormat(o.ValData, o.Data):
		return fmt.Errorf("%w: --val-data %s and --data %s must be the same format", ErrOptions, o.ValData, o.Data)
	case o.ValData != "" && !named(o.ValData) && o.ValLabels == "":
		return fmt.Errorf("%w: --val-data %s needs --val-labels y.npy", ErrOptions, o.ValData)
	case o.ValLabels != "" && (o.ValData == "" || named(o.ValData)):
		return fmt.Errorf("%w: --val-labels are the labels of an .npy --val-data", ErrOptions)
	case o.Alpha != "" && o.Alpha != "auto" && !validAlpha(o.Alpha):
		return fmt.Errorf("%w: --alpha %q: want auto or a penalty >= 0", ErrOptions, o.Alpha)
	case o.Alpha != "" && o.Alpha != "auto" && o.Alpha != "0" && (o.Damping == "off" || o.Method == "gd"):
		return fmt.Errorf("%w: --alpha %s needs the damped step (the candidates are judged by the penalized loss)", ErrOptions, o.Alpha)
	case o.Revive == On && o.Model == "deep":
		return fmt.Errorf("%w: --revive is for 1-hidden-layer models (relu, sum, resnet), not deep", ErrOptions)
	case o.Revive == On && (o.Damping == "off" || o.Method == "gd"):
		return fmt.Errorf("%w: --revive needs the damped step (a candidate with revived units is judged by its loss)", ErrOptions)
	case o.Method == "gd" && o.Damping == "on":
		return fmt.Errorf("%w: --method gd is not damped (--damping on is for alternating minimization)", ErrOptions)
	}
	if !o.Paper {
		return nil
	}
	var set []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"--standardize", o.Standardize == On}, {"--linear", o.Linear == On}, {"--revive", o.Revive == On}, {"--damping on", o.Damping == "on"},
		{"--alpha", o.Alpha != "" && o.Alpha != "auto" && o.Alpha != "0"}, {"--validation", o.Validation > 0}, {"--val-data", o.ValData != ""}, {"--patience", o.Patience > 0}} {
		if f.set {
			set = append(set, f.name)
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("%w: --paper trains the papers' model and step exactly: %s not available with it", ErrOptions, strings.Join(set, ", "))
	}
	return nil
}
