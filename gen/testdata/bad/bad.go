// Package bad has methods that cannot be served, one problem (or more) each.
package bad

import (
	"context"
	"unsafe"
)

// Bad is full of mistakes.
type Bad interface {
	NoContext(a int) (int, error)
	NoParams() error
	CtxLater(ctx context.Context, a int, c context.Context) error
	NoError(ctx context.Context) int
	NothingReturned(ctx context.Context)
	ThreeResults(ctx context.Context) (int, string, error)
	Channel(ctx context.Context, c chan int) error
	Callback(ctx context.Context, f func()) error
	FuncResult(ctx context.Context) (func(), error)
	NestedChan(ctx context.Context, m map[string][]chan int) error
	Pointer(ctx context.Context, p unsafe.Pointer) error
	Everything(a chan int) (int, int, int)
	unexported(ctx context.Context) error
	Fine(ctx context.Context) error
}

// Struct is not an interface.
type Struct struct{}

// Generic has a type parameter.
type Generic[T any] interface {
	Get(ctx context.Context) (T, error)
}

// Empty has no methods.
type Empty interface{}

// Constraint is a type set.
type Constraint interface{ ~int | ~string }

// Value is not a type.
var Value = 1
