package conformance_test

import (
	"context"
	"testing"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/internal/conformance"
)

// registerBoth registers one implementation twice: as "Calculator" through the generated
// adapter and as "Reflect" through reflection.
func registerBoth(srv *tandem.Server) error {
	impl := conformance.NewCalc()
	if err := conformance.RegisterCalculator(srv, impl); err != nil {
		return err
	}
	return srv.RegisterName("Reflect", impl)
}

// paths are the ways of calling Add that the benchmark and the allocation guard compare.
// The first two differ only in the server's dispatch.
func paths(c conn) []struct {
	name string
	call func(ctx context.Context) error
} {
	typed := conformance.NewCalculatorClient(c.client)
	return []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"reflective-server", func(ctx context.Context) error {
			var r int
			return c.client.Call(ctx, "Reflect.Add", &r, 2, 3)
		}},
		{"generated-server", func(ctx context.Context) error {
			var r int
			return c.client.Call(ctx, "Calculator.Add", &r, 2, 3)
		}},
		{"generated-client+server", func(ctx context.Context) error {
			_, err := typed.Add(ctx, 2, 3)
			return err
		}},
	}
}

// BenchmarkAdd measures one call of Add over net.Pipe, dispatched by reflection and by
// generated code (go test -bench Add -benchmem ./internal/conformance).
func BenchmarkAdd(b *testing.B) {
	c := connectPipe(b, registerBoth, nil)
	for _, p := range paths(c) {
		b.Run(p.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := p.call(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGeneratedAllocatesLess guards the reason generated adapters exist: a call dispatched
// by the generated server adapter allocates less, counting both sides of the connection,
// than the same call dispatched by reflection.
func TestGeneratedAllocatesLess(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	c := connectPipe(t, registerBoth, nil)
	ctx := context.Background()
	allocs := map[string]float64{}
	for _, p := range paths(c) {
		if err := p.call(ctx); err != nil { // warm up: contract check, buffers
			t.Fatal(err)
		}
		allocs[p.name] = testing.AllocsPerRun(200, func() {
			if err := p.call(ctx); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s: %.1f allocs/call", p.name, allocs[p.name])
	}
	if g, r := allocs["generated-server"], allocs["reflective-server"]; g >= r {
		t.Errorf("generated server path: %.1f allocs/call, reflective: %.1f; want fewer", g, r)
	}
}
