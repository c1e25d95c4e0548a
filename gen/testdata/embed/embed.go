// Package embed has interfaces that embed others, local and from another package.
package embed

import (
	"context"

	"github.com/tandem-rpc/tandem/gen/testdata/other"
)

// Closer is embedded locally.
type Closer interface {
	Close(ctx context.Context) error
}

// Shapes embeds Closer and other.Pinger.
type Shapes interface {
	Closer
	other.Pinger
	Area(ctx context.Context, corners []other.Point) (float64, error)
}

// Echo uses any and rune, which render as interface {} and int32 in signatures.
type Echo interface {
	Echo(ctx context.Context, v any, r rune) (map[string]any, error)
}
