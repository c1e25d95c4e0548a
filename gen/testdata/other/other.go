// Package other holds types that interfaces in other test packages use.
package other

import "context"

// Point is a value from another package.
type Point struct {
	X, Y int
}

// Pinger is an interface embedded from another package.
type Pinger interface {
	Ping(ctx context.Context, p Point) (Point, error)
}
