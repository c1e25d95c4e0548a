package conformance

import (
	"context"
	"net/netip"
	"time"
)

// Kitchen uses every kind of type a signature can render, to prove that the generator
// writes signatures exactly as tandem's reflective registration does: a reflectively
// registered [Sink] satisfies [KitchenContract].
type Kitchen interface {
	Bytes(ctx context.Context, b []byte, r rune) ([]byte, error)
	Any(ctx context.Context, v any, m map[string]any) (any, error)
	Arrays(ctx context.Context, a [3]int, p *[2]string) (*Entry, error)
	Foreign(ctx context.Context, addr netip.Addr, d time.Duration) (netip.Prefix, error)
	Anonymous(ctx context.Context, s struct {
		A int `json:"a"`
		B []string
	}, e struct{}) (map[int][]*Stats, error)
	Variadic(ctx context.Context, prefix string, rest ...Message) error
}

// Sink implements [Kitchen] by returning zero values.
type Sink struct{}

var _ Kitchen = Sink{}

// Bytes returns nothing.
func (Sink) Bytes(context.Context, []byte, rune) ([]byte, error) { return nil, nil }

// Any returns nothing.
func (Sink) Any(context.Context, any, map[string]any) (any, error) { return nil, nil }

// Arrays returns nothing.
func (Sink) Arrays(context.Context, [3]int, *[2]string) (*Entry, error) { return nil, nil }

// Foreign returns nothing.
func (Sink) Foreign(context.Context, netip.Addr, time.Duration) (netip.Prefix, error) {
	return netip.Prefix{}, nil
}

// Anonymous returns nothing.
func (Sink) Anonymous(context.Context, struct {
	A int `json:"a"`
	B []string
}, struct{}) (map[int][]*Stats, error) {
	return nil, nil
}

// Variadic returns nothing.
func (Sink) Variadic(context.Context, string, ...Message) error { return nil }
