//go:build openblas && cgo

package bench

import "gonum.org/v1/netlib/blas/netlib"

// With the tags openblas and cgo the dense baseline runs on OpenBLAS
// through gonum's netlib bindings, the kind of BLAS NumPy uses:
//
//	apt-get install libopenblas-dev
//	CGO_LDFLAGS="-L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas" \
//	    go build -tags openblas ./cmd/coordinator
func init() {
	denseBLAS = netlib.Implementation{}
	DenseBLAS = "OpenBLAS (netlib, cgo)"
}
