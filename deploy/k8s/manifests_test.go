// Package k8s holds no code: its test validates the Kubernetes manifests
// of this directory without a cluster. It decodes every manifest strictly
// into the official API types (an unknown or misspelt field is an error)
// and checks what a cluster would only reveal at run time: that every
// ALTMIN_<FLAG> variable and every flag the containers and probes use is a
// flag of the binary they run (taken from the binaries' own -h output),
// that every Secret and ConfigMap referenced exists with the keys used,
// that the TLS directory of every pod holds its certificate, and that the
// Service, StatefulSet, PodDisruptionBudget and Job agree with each other
// and with the placement of the partitions.
//
// The k8s.io modules are imported by this test only, so the binaries do
// not depend on them.
package k8s

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"altmin/placement"
)

// flags maps a command ("shard", "shard health", "coordinator train") to
// its flag names, from the built binaries' -h output (TestMain).
var flags map[string]map[string]bool

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "altmin-k8s-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	flags, err = binaryFlags(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// flagLine matches a flag in the flag package's PrintDefaults output.
var flagLine = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)`)

// binaryFlags builds the two commands into dir and reads the flags of
// each command the manifests run from its -h output.
func binaryFlags(dir string) (map[string]map[string]bool, error) {
	for _, c := range []string{"coordinator", "shard"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), "altmin/cmd/"+c).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %v\n%s", c, err, out)
		}
	}
	out := map[string]map[string]bool{}
	for _, cmd := range [][]string{{"shard"}, {"shard", "health"}, {"coordinator", "train"}} {
		var stderr bytes.Buffer
		c := exec.Command(filepath.Join(dir, cmd[0]), append(cmd[1:], "-h")...)
		c.Stderr = &stderr
		if err := c.Run(); err != nil {
			return nil, fmt.Errorf("%s -h: %v\n%s", strings.Join(cmd, " "), err, stderr.String())
		}
		names := map[string]bool{}
		for _, m := range flagLine.FindAllStringSubmatch(stderr.String(), -1) {
			names[m[1]] = true
		}
		if len(names) < 3 {
			return nil, fmt.Errorf("%s -h lists %d flags:\n%s", strings.Join(cmd, " "), len(names), stderr.String())
		}
		out[strings.Join(cmd, " ")] = names
	}
	return out, nil
}

// kustomization is the part of kustomize's Kustomization this directory
// uses, decoded strictly (the kustomize module is not imported for it).
type kustomization struct {
	APIVersion       string   `json:"apiVersion"`
	Kind             string   `json:"kind"`
	Namespace        string   `json:"namespace"`
	Resources        []string `json:"resources"`
	GeneratorOptions struct {
		DisableNameSuffixHash bool `json:"disableNameSuffixHash"`
	} `json:"generatorOptions"`
	SecretGenerator []struct {
		Name  string   `json:"name"`
		Files []string `json:"files"`
	} `json:"secretGenerator"`
}

// manifests are the decoded objects of a kustomization directory.
type manifests struct {
	kust         kustomization
	secrets      map[string][]string // generated Secret name: keys
	namespaces   []*corev1.Namespace
	configMaps   []*corev1.ConfigMap
	services     []*corev1.Service
	statefulSets []*appsv1.StatefulSet
	jobs         []*batchv1.Job
	pdbs         []*policyv1.PodDisruptionBudget
}

// load decodes the kustomization of dir and every resource it lists,
// strictly, and checks that every YAML file of dir is listed.
func load(dir string) (*manifests, error) {
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	m := &manifests{secrets: map[string][]string{}}
	if err := yaml.UnmarshalStrict(b, &m.kust); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	if m.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || m.kust.Kind != "Kustomization" {
		return nil, fmt.Errorf("kustomization.yaml: %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", m.kust.APIVersion, m.kust.Kind)
	}
	for _, g := range m.kust.SecretGenerator {
		for _, f := range g.Files {
			key, _, ok := strings.Cut(f, "=")
			if !ok {
				key = filepath.Base(f)
			}
			m.secrets[g.Name] = append(m.secrets[g.Name], key)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(m.kust.Resources, base) {
			return nil, fmt.Errorf("%s is not listed in kustomization.yaml's resources", base)
		}
	}
	for _, r := range m.kust.Resources {
		b, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", r, err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if err := m.add([]byte(doc)); err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", r, i+1, err)
			}
		}
	}
	return m, nil
}

func stripComments(doc string) string {
	var keep []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// add decodes one document strictly into the official type of its kind.
func (m *manifests) add(doc []byte) error {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		o := &corev1.Namespace{}
		m.namespaces, obj = append(m.namespaces, o), o
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		m.configMaps, obj = append(m.configMaps, o), o
	case "v1 Service":
		o := &corev1.Service{}
		m.services, obj = append(m.services, o), o
	case "apps/v1 StatefulSet":
		o := &appsv1.StatefulSet{}
		m.statefulSets, obj = append(m.statefulSets, o), o
	case "batch/v1 Job":
		o := &batchv1.Job{}
		m.jobs, obj = append(m.jobs, o), o
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		m.pdbs, obj = append(m.pdbs, o), o
	default:
		return fmt.Errorf("apiVersion %q kind %q: not one this test knows", tm.APIVersion, tm.Kind)
	}
	return yaml.UnmarshalStrict(doc, obj)
}

func TestManifests(t *testing.T) {
	m, err := load(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range check(m) {
		t.Error(p)
	}
}

// TestChecksCatch: the checks find what they are for. Each mutation of
// the manifests must be reported with the given text, and a misspelt
// field must fail the strict decoding.
func TestChecksCatch(t *testing.T) {
	mutations := map[string]struct {
		mutate func(m *manifests)
		want   string
	}{
		"env not a flag": {func(m *manifests) {
			c := &m.statefulSets[0].Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "ALTMIN_NO_SUCH_FLAG", Value: "1"})
		}, "ALTMIN_NO_SUCH_FLAG is not a flag of shard"},
		"coordinator flag on a shard": {func(m *manifests) {
			c := &m.statefulSets[0].Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "ALTMIN_ALLOW_DEGRADED", Value: "true"})
		}, "ALTMIN_ALLOW_DEGRADED is not a flag of shard"},
		"argument not a flag": {func(m *manifests) {
			c := &m.jobs[0].Spec.Template.Spec.Containers[0]
			c.Args = append(c.Args, "--no-such-flag")
		}, "--no-such-flag is not a flag of coordinator train"},
		"missing secret": {func(m *manifests) {
			m.statefulSets[0].Spec.Template.Spec.Volumes[0].Secret.SecretName = "altmin-tls"
		}, `Secret "altmin-tls" is not generated`},
		"missing key": {func(m *manifests) {
			c := &m.jobs[0].Spec.Template.Spec.Containers[0]
			c.Env[slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "ALTMIN_CLUSTER_KEY" })].ValueFrom.SecretKeyRef.Key = "key"
		}, `key "key" of Secret "altmin-cluster-key"`},
		"certificate missing": {func(m *manifests) {
			m.statefulSets[0].Spec.Replicas = ptr(int32(5))
		}, "shard-4.pem"},
		"probe not the health command": {func(m *manifests) {
			m.statefulSets[0].Spec.Template.Spec.Containers[0].ReadinessProbe.Exec.Command = []string{"/shard", "healthz"}
		}, "readiness probe runs [/shard healthz], want /shard health"},
		"service selects other pods": {func(m *manifests) {
			m.services[0].Spec.Selector = map[string]string{"app": "other"}
		}, "does not select the pods of StatefulSet shard"},
		"PDB allows losing a partition": {func(m *manifests) {
			m.pdbs[0].Spec.MaxUnavailable.IntVal = 2
		}, "maxUnavailable 2, want R-1 = 1"},
		"replication too high": {func(m *manifests) {
			setEnv(&m.statefulSets[0].Spec.Template.Spec.Containers[0], "ALTMIN_REPLICATION", "5")
		}, "replication 5 exceeds the 4 shards"},
		"coordinator expects another replication": {func(m *manifests) {
			setEnv(&m.jobs[0].Spec.Template.Spec.Containers[0], "ALTMIN_REPLICATION", "3")
		}, "ALTMIN_REPLICATION 3, the shards 2"},
		"not parallel": {func(m *manifests) {
			m.statefulSets[0].Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		}, "podManagementPolicy OrderedReady, want Parallel"},
		"undefined variable": {func(m *manifests) {
			setEnv(&m.statefulSets[0].Spec.Template.Spec.Containers[0], "ALTMIN_GOSSIP_ADVERTISE", "$(NODE_IP):7946")
		}, "refers to $(NODE_IP)"},
		"shard setting for the coordinator": {func(m *manifests) {
			m.configMaps[1].Data = map[string]string{"ALTMIN_SHARD_INDEX": "0"}
		}, "envFrom ConfigMap altmin-train: ALTMIN_SHARD_INDEX is not a flag of coordinator train"},
		"coordinator setting for the shards": {func(m *manifests) {
			m.configMaps[0].Data["ALTMIN_K"] = "16"
		}, "envFrom ConfigMap altmin-data: ALTMIN_K is not a flag of shard"},
		"user data as the default": {func(m *manifests) {
			m.configMaps[0].Data["ALTMIN_DATA"] = "/data/train.csv"
		}, "ALTMIN_SYNTHETIC and ALTMIN_DATA"},
	}
	for name, mu := range mutations {
		m, err := load(".")
		if err != nil {
			t.Fatal(err)
		}
		mu.mutate(m)
		problems := check(m)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, mu.want) }) {
			t.Errorf("%s: no problem mentioning %q among %q", name, mu.want, problems)
		}
	}

	// A misspelt field fails the decoding.
	dir := t.TempDir()
	for _, f := range []string{"kustomization.yaml", "namespace.yaml", "data.yaml", "shards.yaml", "coordinator.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if f == "shards.yaml" {
			b = bytes.Replace(b, []byte("  podManagementPolicy:"), []byte("  podManagmentPolicy:"), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := load(dir); err == nil || !strings.Contains(err.Error(), "podManagmentPolicy") {
		t.Errorf("a misspelt field: err = %v, want it named", err)
	}
}

func ptr[T any](v T) *T { return &v }

func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// envFlag returns the flag an ALTMIN_ variable sets ("" for another
// variable), as internal/cli.EnvName names them.
func envFlag(name string) string {
	f, ok := strings.CutPrefix(name, "ALTMIN_")
	if !ok {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(f, "_", "-"))
}

// env returns the literal value of a container's variable.
func env(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// check returns the problems of the manifests, each naming the object.
func check(m *manifests) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(m.namespaces) != 1 || m.namespaces[0].Name != m.kust.Namespace {
		bad("want one Namespace, the kustomization's namespace %q", m.kust.Namespace)
	}
	if !m.kust.GeneratorOptions.DisableNameSuffixHash {
		bad("kustomization: generated Secrets must keep their names (generatorOptions.disableNameSuffixHash), as the pods refer to them by name")
	}
	if len(m.statefulSets) != 1 || len(m.jobs) != 1 || len(m.services) != 1 || len(m.pdbs) != 1 {
		bad("want one StatefulSet, Job, Service and PodDisruptionBudget: got %d, %d, %d, %d", len(m.statefulSets), len(m.jobs), len(m.services), len(m.pdbs))
		return problems
	}
	configMaps := map[string]map[string]string{}
	for _, cm := range m.configMaps {
		configMaps[cm.Name] = cm.Data
	}
	sts, job, svc, pdb := m.statefulSets[0], m.jobs[0], m.services[0], m.pdbs[0]

	// Every pod: flags, variables, secrets, config maps, probes, resources.
	pods := []struct {
		what string
		spec *corev1.PodSpec
		ids  []string // the IDs its replicas run as
	}{{"StatefulSet " + sts.Name, &sts.Spec.Template.Spec, nil}, {"Job " + job.Name, &job.Spec.Template.Spec, nil}}
	for _, pod := range pods {
		spec := pod.spec
		for ci := range spec.Containers {
			c := &spec.Containers[ci]
			where := fmt.Sprintf("%s, container %s", pod.what, c.Name)
			cmd := command(c)
			if flags[cmd] == nil {
				bad("%s runs %v %v: not a command of the image (/shard, /shard health, /coordinator train)", where, c.Command, c.Args)
				continue
			}
			ok := func(flag string) bool {
				return flags[cmd][flag] || cmd == "shard" && flags["shard health"][flag] // the probes read the same environment
			}
			defined := map[string]bool{}
			for _, e := range c.Env {
				if f := envFlag(e.Name); f != "" && !ok(f) {
					bad("%s: %s is not a flag of %s", where, e.Name, cmd)
				}
				for _, ref := range regexp.MustCompile(`\$\(([A-Z_0-9]+)\)`).FindAllStringSubmatch(e.Value, -1) {
					if !defined[ref[1]] {
						bad("%s: %s refers to $(%s), not defined before it", where, e.Name, ref[1])
					}
				}
				defined[e.Name] = true
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					if keys, found := m.secrets[r.Name]; !found {
						bad("%s: %s: Secret %q is not generated by kustomization.yaml", where, e.Name, r.Name)
					} else if !slices.Contains(keys, r.Key) {
						bad("%s: %s: key %q of Secret %q is not generated (keys %v)", where, e.Name, r.Key, r.Name, keys)
					}
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					data, found := configMaps[r.Name]
					if !found {
						bad("%s: %s: ConfigMap %q does not exist", where, e.Name, r.Name)
					} else if _, has := data[r.Key]; !has && (r.Optional == nil || !*r.Optional) {
						bad("%s: %s: ConfigMap %q has no key %q", where, e.Name, r.Name, r.Key)
					}
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					if _, found := m.secrets[ef.SecretRef.Name]; !found {
						bad("%s: envFrom: Secret %q is not generated by kustomization.yaml", where, ef.SecretRef.Name)
					}
				}
				if ef.ConfigMapRef != nil {
					data, found := configMaps[ef.ConfigMapRef.Name]
					if !found {
						bad("%s: envFrom: ConfigMap %q does not exist", where, ef.ConfigMapRef.Name)
					}
					for k := range data {
						if f := envFlag(k); f == "" || !ok(f) {
							bad("%s: envFrom ConfigMap %s: %s is not a flag of %s", where, ef.ConfigMapRef.Name, k, cmd)
						}
					}
				}
			}
			args := append(slices.Clone(c.Command[1:]), c.Args...)
			if cmd == "coordinator train" {
				args = args[1:]
			}
			for _, a := range args {
				if !strings.HasPrefix(a, "-") {
					continue // a flag's value
				}
				f, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
				if !flags[cmd][f] {
					bad("%s: --%s is not a flag of %s", where, f, cmd)
				}
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				bad("%s: no CPU and memory requests", where)
			}
			// The probes run shard health with real flags at the gRPC port.
			if cmd == "shard" {
				_, grpcPort, _ := net.SplitHostPort(env(c, "ALTMIN_GRPC_ADDR"))
				for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
					if p == nil || p.Exec == nil {
						if name != "startup" {
							bad("%s: no exec %s probe", where, name)
						}
						continue
					}
					pc := p.Exec.Command
					if len(pc) < 2 || pc[0] != "/shard" || pc[1] != "health" {
						bad("%s: %s probe runs %v, want /shard health", where, name, pc)
						continue
					}
					for i := 2; i < len(pc); i++ {
						if !strings.HasPrefix(pc[i], "-") {
							continue // a flag's value
						}
						f := strings.TrimLeft(pc[i], "-")
						if !flags["shard health"][f] {
							bad("%s: %s probe: --%s is not a flag of shard health", where, name, f)
						}
						if f == "addr" && i+1 < len(pc) {
							if _, port, _ := net.SplitHostPort(pc[i+1]); port != grpcPort {
								bad("%s: %s probe asks port %s, the shard listens on %s", where, name, port, grpcPort)
							}
						}
					}
				}
			}
			// The TLS directory holds ca.pem and every replica's pair.
			ids := []string{env(c, "ALTMIN_ID")}
			if cmd == "shard" {
				if ids[0] != "$(POD_NAME)" {
					bad("%s: ALTMIN_ID %q, want $(POD_NAME): the ordinal is the shard index", where, ids[0])
				}
				ids = nil
				for i := 0; i < int(*sts.Spec.Replicas); i++ {
					ids = append(ids, fmt.Sprintf("%s-%d", sts.Name, i))
				}
			}
			tlsDir := env(c, "ALTMIN_TLS_DIR")
			var secret string
			for _, vm := range c.VolumeMounts {
				if vm.MountPath == tlsDir {
					for _, v := range spec.Volumes {
						if v.Name == vm.Name && v.Secret != nil {
							secret = v.Secret.SecretName
						}
					}
				}
			}
			keys, found := m.secrets[secret]
			if secret == "" || !found {
				bad("%s: ALTMIN_TLS_DIR %s is not a mounted Secret generated by kustomization.yaml (Secret %q is not generated)", where, tlsDir, secret)
				continue
			}
			for _, id := range ids {
				for _, f := range []string{"ca.pem", id + ".pem", id + "-key.pem"} {
					if !slices.Contains(keys, f) {
						bad("%s: the TLS Secret %s has no %s for %s", where, secret, f, id)
					}
				}
			}
		}
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				if _, found := m.secrets[v.Secret.SecretName]; !found {
					bad("%s: volume %s: Secret %q is not generated by kustomization.yaml", pod.what, v.Name, v.Secret.SecretName)
				}
			}
		}
	}

	// The shards: placement, headless service, disruption budget.
	shard := &sts.Spec.Template.Spec.Containers[0]
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		bad("StatefulSet %s: podManagementPolicy %s, want Parallel (every shard starts at once)", sts.Name, sts.Spec.PodManagementPolicy)
	}
	for _, k := range []string{"ALTMIN_PARTITIONS", "ALTMIN_SHARD_INDEX"} {
		if env(shard, k) != "auto" {
			bad("StatefulSet %s: %s %q, want auto", sts.Name, k, env(shard, k))
		}
	}
	num := func(c *corev1.Container, k string) int {
		n, err := strconv.Atoi(env(c, k))
		if err != nil {
			bad("%s: %s %q: %v", c.Name, k, env(c, k), err)
		}
		return n
	}
	s, r, p := num(shard, "ALTMIN_SHARDS"), num(shard, "ALTMIN_REPLICATION"), num(shard, "ALTMIN_NUM_PARTITIONS")
	if sts.Spec.Replicas == nil || int(*sts.Spec.Replicas) != s {
		bad("StatefulSet %s: %v replicas, ALTMIN_SHARDS %d", sts.Name, sts.Spec.Replicas, s)
	}
	if err := (placement.Plan{Partitions: p, Shards: s, Replication: r}).Validate(); err != nil {
		bad("StatefulSet %s: %v", sts.Name, err)
	}
	if cr := num(&job.Spec.Template.Spec.Containers[0], "ALTMIN_REPLICATION"); cr != r {
		bad("Job %s: ALTMIN_REPLICATION %d, the shards %d", job.Name, cr, r)
	}
	podLabels := sts.Spec.Template.Labels
	selects := func(sel map[string]string) bool {
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if sts.Spec.Selector == nil || !selects(sts.Spec.Selector.MatchLabels) {
		bad("StatefulSet %s: its selector does not select its pods", sts.Name)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || sts.Spec.ServiceName != svc.Name {
		bad("Service %s: want headless (clusterIP None) and the StatefulSet's serviceName (%q)", svc.Name, sts.Spec.ServiceName)
	}
	if !selects(svc.Spec.Selector) {
		bad("Service %s does not select the pods of StatefulSet %s", svc.Name, sts.Name)
	}
	_, grpcPort, _ := net.SplitHostPort(env(shard, "ALTMIN_GRPC_ADDR"))
	_, gossipPort, _ := net.SplitHostPort(env(shard, "ALTMIN_GOSSIP_ADDR"))
	for _, want := range []string{grpcPort + "/TCP", gossipPort + "/TCP", gossipPort + "/UDP"} {
		if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return fmt.Sprintf("%d/%s", sp.Port, sp.Protocol) == want }) {
			bad("Service %s has no port %s", svc.Name, want)
		}
	}
	for _, c := range []*corev1.Container{shard, &job.Spec.Template.Spec.Containers[0]} {
		if host, port, _ := net.SplitHostPort(env(c, "ALTMIN_JOIN")); host != svc.Name || port != gossipPort {
			bad("%s: ALTMIN_JOIN %q, want the headless Service %s:%s", c.Name, env(c, "ALTMIN_JOIN"), svc.Name, gossipPort)
		}
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != r-1 {
		bad("PodDisruptionBudget %s: maxUnavailable %v, want R-1 = %d: every partition keeps a live holder", pdb.Name, pdb.Spec.MaxUnavailable, r-1)
	}
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels) {
		bad("PodDisruptionBudget %s does not select the pods of StatefulSet %s", pdb.Name, sts.Name)
	}
	if rp := job.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		bad("Job %s: restartPolicy %s", job.Name, rp)
	}

	// The data: a volume at /data on the shards, the planted demo by default.
	if !slices.ContainsFunc(shard.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == "/data" }) {
		bad("StatefulSet %s: no volume mounted at /data for the user's data", sts.Name)
	}
	for _, ef := range shard.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		data := configMaps[ef.ConfigMapRef.Name]
		if _, syn := data["ALTMIN_SYNTHETIC"]; !syn {
			bad("ConfigMap %s: the default is the planted demo (ALTMIN_SYNTHETIC)", ef.ConfigMapRef.Name)
		}
		if _, has := data["ALTMIN_DATA"]; has {
			bad("ConfigMap %s: ALTMIN_SYNTHETIC and ALTMIN_DATA both set: the shard refuses both", ef.ConfigMapRef.Name)
		}
	}
	return problems
}

// command names what a container runs: shard, or coordinator train.
func command(c *corev1.Container) string {
	if len(c.Command) == 0 {
		return ""
	}
	switch c.Command[0] {
	case "/shard":
		return "shard"
	case "/coordinator":
		if len(c.Args) > 0 && c.Args[0] == "train" {
			return "coordinator train"
		}
	}
	return ""
}
