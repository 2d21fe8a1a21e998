package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names of the certificate authority inside the output directory.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
)

// Errors returned by Generate and ValidateName; they are wrapped with the
// offending name or file.
var (
	// ErrName reports a node name that is not usable as a certificate name.
	ErrName = errors.New("pki: invalid node name")
	// ErrExists reports an output file that already exists while
	// Options.Force is not set.
	ErrExists = errors.New("pki: file already exists")
)

// Options adjusts Generate.
type Options struct {
	// Force replaces existing files (the CA and node pairs). Without it
	// Generate fails before writing anything if any output file exists.
	Force bool
	// Domains adds to the certificate of every node NAME the DNS name
	// NAME.DOMAIN for each domain, e.g. the stable name of a StatefulSet's
	// pod, shard-3.shards.altmin.svc.cluster.local for the domain
	// shards.altmin.svc.cluster.local. Each certificate still names only
	// its own node: there are no wildcard names.
	Domains []string
}

// CertFile returns the file name of a node's certificate inside the output
// directory.
func CertFile(name string) string { return name + ".pem" }

// KeyFile returns the file name of a node's private key.
func KeyFile(name string) string { return name + "-key.pem" }

// ValidateName reports whether name can name a node: one or more DNS labels
// separated by dots, each 1 to 63 characters of lower-case letters, digits
// and '-', not starting or ending with '-', at most 253 characters in all.
// The same rule applies to cluster node IDs, because a node's ID is the
// name its certificate is issued for.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrName)
	}
	if len(name) > 253 {
		return fmt.Errorf("%w: %q is %d characters long, the limit is 253", ErrName, name, len(name))
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return fmt.Errorf("%w: %q has an empty label (leading, trailing or double dot)", ErrName, name)
		}
		if len(label) > 63 {
			return fmt.Errorf("%w: %q has a label longer than 63 characters", ErrName, name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: %q has a label starting or ending with '-'", ErrName, name)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%w: %q contains %q; use lower-case letters, digits, '-' and '.'", ErrName, name, c)
			}
		}
	}
	return nil
}

// Generate creates a cluster CA and a certificate and key for every node
// name in dir (created if missing), each valid for validity from now (the
// start is backdated one minute to tolerate clock skew). It validates all
// names and checks for existing files before writing anything.
func Generate(dir string, nodes []string, validity time.Duration, opts Options) error {
	if dir == "" {
		return errors.New("pki: empty output directory")
	}
	if validity <= 0 {
		return fmt.Errorf("pki: validity %v must be positive", validity)
	}
	if len(nodes) == 0 {
		return errors.New("pki: no node names")
	}
	// Every output file name must be distinct: this rejects duplicate
	// names and names that would clobber another file (for example "ca",
	// or "x" next to "x-key").
	owner := map[string]string{CAFile: "the CA", CAKeyFile: "the CA"}
	for _, n := range nodes {
		if err := ValidateName(n); err != nil {
			return err
		}
		for _, d := range opts.Domains {
			if err := ValidateName(n + "." + d); err != nil {
				return fmt.Errorf("domain %q: %w", d, err)
			}
		}
		for _, f := range []string{CertFile(n), KeyFile(n)} {
			if o, ok := owner[f]; ok {
				return fmt.Errorf("%w: %q needs file %s, which %s also uses", ErrName, n, f, o)
			}
			owner[f] = fmt.Sprintf("node %q", n)
		}
	}
	if !opts.Force {
		// Name every existing file, in a fixed order.
		var exist []string
		for _, f := range slices.Sorted(maps.Keys(owner)) {
			p := filepath.Join(dir, f)
			if _, err := os.Lstat(p); err == nil {
				exist = append(exist, p)
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("pki: checking %s: %w", p, err)
			}
		}
		if len(exist) > 0 {
			return fmt.Errorf("%w: %s (set Force to replace the CA and certificates)", ErrExists, strings.Join(exist, ", "))
		}
	}

	now := time.Now()
	notBefore, notAfter := now.Add(-time.Minute), now.Add(validity)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generating CA key: %w", err)
	}
	caTmpl, err := template("altmin cluster CA", notBefore, notAfter)
	if err != nil {
		return err
	}
	caTmpl.IsCA = true
	caTmpl.BasicConstraintsValid = true
	caTmpl.MaxPathLenZero = true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("pki: signing CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("pki: parsing CA certificate: %w", err)
	}

	type file struct {
		name string
		data []byte
		mode os.FileMode
	}
	caKeyPEM, err := keyPEM(caKey)
	if err != nil {
		return err
	}
	files := []file{
		{CAFile, certPEM(caDER), 0o644},
		{CAKeyFile, caKeyPEM, 0o600},
	}
	for _, n := range nodes {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("pki: generating key for %q: %w", n, err)
		}
		tmpl, err := template(n, notBefore, notAfter)
		if err != nil {
			return err
		}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.BasicConstraintsValid = true
		tmpl.DNSNames = []string{n}
		for _, d := range opts.Domains {
			tmpl.DNSNames = append(tmpl.DNSNames, n+"."+d)
		}
		tmpl.DNSNames = append(tmpl.DNSNames, "localhost")
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("pki: signing certificate for %q: %w", n, err)
		}
		kp, err := keyPEM(key)
		if err != nil {
			return err
		}
		files = append(files, file{CertFile(n), certPEM(der), 0o644}, file{KeyFile(n), kp, 0o600})
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pki: creating %s: %w", dir, err)
	}
	for _, f := range files {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// template returns a certificate template with a random 128-bit serial.
func template(cn string, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pki: generating serial number: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"altmin"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}, nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeAtomic writes data to a temporary file in path's directory with the
// given mode and renames it over path, so readers never see a partial file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; set the final mode before any data
	// lands in it.
	if err := tmp.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return nil
}
