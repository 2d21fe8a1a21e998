package experiment

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"altmin/coordinator"
)

// phaseSetting is the part of a PhaseConfig that every trial of a merged
// result must share: everything but the grid (N, Methods, Inits) and
// Parallel.
func phaseSetting(c PhaseConfig) PhaseConfig {
	c.N, c.Methods, c.Inits, c.Parallel = nil, nil, nil, 0
	return c
}

// writeConfig writes phase.json, the configuration of the run (Parallel,
// which does not change the results, left out so that the file does not
// depend on it).
func (r *PhaseResult) writeConfig(dir string) error {
	c := r.Config
	c.Parallel = 0
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("experiment: phase.json: %w", err)
	}
	return writeFile(dir, "phase.json", append(b, '\n'))
}

type phaseKey struct {
	method coordinator.Method
	init   string
	n      int
	trial  int
}

// MergePhase rebuilds the result of cfg from earlier runs, without running
// a trial: each directory holds the phase.json and phase_trials.csv of a run
// (for example one method or a few sample sizes of cfg's grid). Every run
// must share cfg's setting (d, ||W*||, trials, budgets, step, threshold,
// early stop, tolerance, partitions, seed; the grid and Parallel may
// differ), and together they must hold every trial of cfg's grid; a trial
// held by two runs must be recorded identically. Since every trial depends
// only on its own (method, start, n, seed), the merged result is the one a
// single run of cfg gives, byte for byte.
func MergePhase(cfg PhaseConfig, dirs []string) (*PhaseResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w: no runs to merge", ErrConfig)
	}
	want := phaseSetting(cfg)
	have := map[phaseKey]TrialRecord{}
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "phase.json"))
		if err != nil {
			return nil, fmt.Errorf("experiment: merge: %w", err)
		}
		var run PhaseConfig
		if err := json.Unmarshal(b, &run); err != nil {
			return nil, fmt.Errorf("experiment: merge: %s: %w", filepath.Join(dir, "phase.json"), err)
		}
		if got := phaseSetting(run); fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			return nil, fmt.Errorf("%w: merge: %s was run with %+v, want %+v (grid aside)", ErrConfig, dir, got, want)
		}
		recs, err := readTrials(filepath.Join(dir, "phase_trials.csv"))
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			k := phaseKey{r.Method, r.Init, r.N, r.Trial}
			if old, ok := have[k]; ok && fmt.Sprintf("%+v", old) != fmt.Sprintf("%+v", r) {
				return nil, fmt.Errorf("%w: merge: %s %s n=%d trial %d recorded differently by two runs", ErrConfig,
					r.Method, r.Init, r.N, r.Trial)
			}
			have[k] = r
		}
	}
	res := &PhaseResult{Config: cfg}
	for _, m := range cfg.Methods {
		for _, init := range cfg.Inits {
			for _, n := range cfg.N {
				row := PhaseRow{Method: m, Init: init, N: n, Trials: cfg.Trials}
				for t := range cfg.Trials {
					r, ok := have[phaseKey{m, init, n, t}]
					switch {
					case !ok:
						return nil, fmt.Errorf("%w: merge: no run holds %s %s n=%d trial %d", ErrConfig, m, init, n, t)
					case r.DataSeed != DataSeed(cfg.Seed, t) || r.InitSeed != InitSeed(cfg.Seed, t):
						return nil, fmt.Errorf("%w: merge: %s %s n=%d trial %d has seeds %d, %d, not those of base seed %d",
							ErrConfig, m, init, n, t, r.DataSeed, r.InitSeed, cfg.Seed)
					case r.Success != (r.Final.RelErr < cfg.Threshold):
						return nil, fmt.Errorf("%w: merge: %s %s n=%d trial %d: success %v at relative error %v",
							ErrConfig, m, init, n, t, r.Success, r.Final.RelErr)
					}
					if r.Success {
						row.Successes++
					}
					res.Trials = append(res.Trials, r)
				}
				res.Rows = append(res.Rows, row)
			}
		}
	}
	return res, nil
}

// readTrials reads a phase_trials.csv written by writeTrials.
func readTrials(path string) ([]TrialRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("experiment: merge: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("experiment: merge: %s: %w", path, err)
	}
	header := []string{"method", "init", "n", "trial", "data_seed", "init_seed", "iters", "stop", "rel_err", "train_loss", "success"}
	if len(recs) == 0 || !slices.Equal(recs[0], header) {
		return nil, fmt.Errorf("%w: merge: %s: not a phase_trials.csv", ErrConfig, path)
	}
	var out []TrialRecord
	for i, rec := range recs[1:] {
		var r TrialRecord
		var errs [8]error
		r.Method, r.Init = coordinator.Method(rec[0]), rec[1]
		r.N, errs[0] = strconv.Atoi(rec[2])
		r.Trial, errs[1] = strconv.Atoi(rec[3])
		r.DataSeed, errs[2] = strconv.ParseUint(rec[4], 10, 64)
		r.InitSeed, errs[3] = strconv.ParseUint(rec[5], 10, 64)
		r.Final.Iter, errs[4] = strconv.Atoi(rec[6])
		r.Stop = rec[7]
		r.Final.RelErr, errs[5] = strconv.ParseFloat(rec[8], 64)
		r.Final.TrainLoss, errs[6] = strconv.ParseFloat(rec[9], 64)
		r.Success, errs[7] = strconv.ParseBool(rec[10])
		for _, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("%w: merge: %s line %d: %v", ErrConfig, path, i+2, err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
