// Package names declares identifiers that collide with those generated code would pick.
package names

import (
	"context"

	tctx "github.com/tandem-rpc/tandem/gen/testdata/other"
)

// a collides with the first parameter's name.
type a int

// tandem and contract collide with the imports of generated code.
var tandem, contract = 1, 2

// Mixed uses the colliding names.
type Mixed interface {
	Put(ctx context.Context, x a, p tctx.Point, rest ...string) (a, error)
	Reset(ctx context.Context) error
}

// lower is unexported; its constructor and register function are too.
type lower interface {
	Do(ctx context.Context, b []byte) ([]byte, error)
}
