package oldcalc

//go:generate go run github.com/tandem-rpc/tandem/cmd/tandem gen -type Calculator

import "context"

// Calculator is the old contract: Add took floats, Neg has since been removed, and Sum is
// unchanged.
type Calculator interface {
	Add(ctx context.Context, a, b float64) (float64, error)
	Neg(ctx context.Context, a int) (int, error)
	Sum(ctx context.Context, xs ...int) (int, error)
}
