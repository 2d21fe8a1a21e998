package cli

import (
	"fmt"
	"os"
	"strings"
)

// ClusterKey returns the cluster (gossip) key of --cluster-key and
// --cluster-key-file: key itself, or the content of file without
// surrounding white space (a Docker or Kubernetes secret mounted as a
// file). Both, or a file that cannot be read or is empty, is a usage error
// naming the flag and the file.
func ClusterKey(key, file string) (string, error) {
	if file == "" {
		return key, nil
	}
	if key != "" {
		return "", fmt.Errorf("%w: give --cluster-key or --cluster-key-file, not both (%s, %s)", ErrUsage, EnvName("cluster-key"), EnvName("cluster-key-file"))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: --cluster-key-file: %v", ErrUsage, err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("%w: --cluster-key-file %s is empty", ErrUsage, file)
	}
	return k, nil
}
