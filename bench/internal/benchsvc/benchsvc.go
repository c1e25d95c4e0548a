// Package benchsvc is the service every tandem contender calls: a small call and a byte
// echo. The tandem-gen contender uses the typed client and adapter that tandem gen writes
// from the [Bench] interface into bench_tandem.go.
package benchsvc

import "context"

//go:generate go -C ../../.. run ./cmd/tandem gen -type Bench bench/internal/benchsvc

// Bench is the benchmarked service.
type Bench interface {
	// Add returns a + b: the small call.
	Add(ctx context.Context, a, b int64) (int64, error)
	// Echo returns b: the large-payload call.
	Echo(ctx context.Context, b []byte) ([]byte, error)
}

// Impl implements [Bench]. Its methods are also exposed by reflection for the reflective
// contenders.
type Impl struct{}

var _ Bench = Impl{}

// Add returns a + b.
func (Impl) Add(_ context.Context, a, b int64) (int64, error) { return a + b, nil }

// Echo returns b.
func (Impl) Echo(_ context.Context, b []byte) ([]byte, error) { return b, nil }
