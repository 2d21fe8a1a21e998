// Package metricstest scrapes a metrics endpoint in tests: it parses the
// text exposition with the official parser (expfmt), reads series back,
// and checks the exposition with promtool when it is installed.
package metricstest

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is one scrape's metric families by name.
type Families map[string]*dto.MetricFamily

// Scrape gets url and parses its text exposition, failing t on an error
// or a status other than 200. It returns the families and the text.
func Scrape(t testing.TB, url string) (Families, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s\n%s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape %s: the exposition does not parse: %v\n%s", url, err, body)
	}
	return fs, body
}

// Gather returns the families g holds now, failing t on an error.
func Gather(t testing.TB, g prometheus.Gatherer) Families {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fs := Families{}
	for _, f := range mfs {
		fs[f.GetName()] = f
	}
	return fs
}

// Sum returns the sum of the sample values of the histogram series of
// family name whose labels include the given name-value pairs; ok is
// false when there is no such series.
func (fs Families) Sum(name string, labels ...string) (v float64, ok bool) {
	if f := fs[name]; f != nil {
		for _, m := range f.GetMetric() {
			if has(m, labels) && m.Histogram != nil {
				return m.Histogram.GetSampleSum(), true
			}
		}
	}
	return 0, false
}

// Type returns the type of the family name, failing t when it is missing.
func (fs Families) Type(t testing.TB, name string) dto.MetricType {
	t.Helper()
	f := fs[name]
	if f == nil {
		t.Fatalf("no metric family %s", name)
	}
	return f.GetType()
}

// Value returns the value of the series of family name whose labels
// include the given name-value pairs: a counter's, gauge's or untyped
// metric's value, a histogram's or summary's sample count. ok is false
// when there is no such series.
func (fs Families) Value(name string, labels ...string) (v float64, ok bool) {
	f := fs[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !has(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Summary != nil:
			return float64(m.Summary.GetSampleCount()), true
		}
	}
	return 0, false
}

// Labels returns the values of label in the series of family name,
// sorted.
func (fs Families) Labels(name, label string) []string {
	var out []string
	if f := fs[name]; f != nil {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// has reports whether m has every name-value pair of labels.
func has(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}
		if !found {
			return false
		}
	}
	return true
}

// Promtool checks the exposition text with `promtool check metrics` (the
// naming and help conventions), failing t on a problem. It skips t when
// promtool is not installed (Debian: apt-get install prometheus).
func Promtool(t testing.TB, text []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus): the exposition is not checked with it")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
