// Package stale holds a generated file from an older interface that no longer compiles.
package stale

import "context"

// Counter is the current interface.
type Counter interface {
	Incr(ctx context.Context, by int) (int, error)
}
