package tandem_test

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"testing"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/codec/msgpack"
)

// The end-to-end benchmarks run both peers in this process, so allocations are counted for
// the round trip: caller and handler together. bench/ measures against other frameworks
// with the client and server in separate processes.

var benchCodecs = []tandem.Codec{msgpack.New(), json.New(), gob.New()}

// benchTransports connect a client to a server in this process.
var benchTransports = []struct {
	name string
	dial func(tb testing.TB, srv *tandem.Server, codec tandem.Codec) *tandem.Peer
}{
	{"pipe", dialBenchPipe},
	{"tcp", dialBenchTCP},
}

// benchServer serves *Calc and a typed Adder, accepting every codec.
func benchServer(tb testing.TB) *tandem.Server {
	tb.Helper()
	srv, err := tandem.NewServer(tandem.WithAcceptCodecs(msgpack.New(), json.New(), gob.New()))
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Register(&Calc{}); err != nil {
		tb.Fatal(err)
	}
	if err := srv.RegisterMethods("Typed", []tandem.Method{typedAdd}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	return srv
}

// typedAdd is Calc.Add written the way generated code registers it: no reflection.
var typedAdd = tandem.Method{
	Name: "Add", Signature: "func(a int, b int) int", NumArgs: 2, HasResult: true,
	Invoke: func(_ context.Context, args tandem.Args) (any, error) {
		var a, b int
		if err := args.Decode(&a, &b); err != nil {
			return nil, err
		}
		return a + b, nil
	},
}

func dialBenchPipe(tb testing.TB, srv *tandem.Server, codec tandem.Codec) *tandem.Peer {
	tb.Helper()
	client, err := tandem.NewServer(tandem.WithCodec(codec))
	if err != nil {
		tb.Fatal(err)
	}
	a, b := net.Pipe()
	served := make(chan error, 1)
	go func() {
		_, err := srv.ServeConn(context.Background(), a)
		served <- err
	}()
	p, err := client.DialConn(context.Background(), b)
	if err != nil {
		tb.Fatal(err)
	}
	if err := <-served; err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	return p
}

func dialBenchTCP(tb testing.TB, srv *tandem.Server, codec tandem.Codec) *tandem.Peer {
	tb.Helper()
	ln, err := tandem.Listen("tcp://127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	p, err := tandem.Dial(context.Background(), "tcp://"+ln.Addr().String(), tandem.WithCodec(codec))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	for _, tr := range benchTransports {
		for _, codec := range benchCodecs {
			b.Run(tr.name+"/"+codec.Name(), func(b *testing.B) {
				p := tr.dial(b, benchServer(b), codec)
				b.ReportAllocs()
				var sum int
				for i := 0; b.Loop(); i++ {
					if err := p.Call(ctx, "Calc.Add", &sum, i, 1000); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCallTyped calls a method registered with RegisterMethods, as generated code
// does, to separate the dispatcher's reflection from the rest.
func BenchmarkCallTyped(b *testing.B) {
	ctx := context.Background()
	for _, tr := range benchTransports {
		b.Run(tr.name, func(b *testing.B) {
			p := tr.dial(b, benchServer(b), msgpack.New())
			b.ReportAllocs()
			var sum int
			for i := 0; b.Loop(); i++ {
				if err := p.Call(ctx, "Typed.Add", &sum, i, 1000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCallParallel(b *testing.B) {
	ctx := context.Background()
	for _, tr := range benchTransports {
		for _, codec := range benchCodecs {
			b.Run(tr.name+"/"+codec.Name(), func(b *testing.B) {
				p := tr.dial(b, benchServer(b), codec)
				b.ReportAllocs()
				b.SetParallelism(16) // 16 callers per P share the connection
				b.RunParallel(func(pb *testing.PB) {
					var sum int
					for i := 0; pb.Next(); i++ {
						if err := p.Call(ctx, "Calc.Add", &sum, i, 1000); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

func BenchmarkEcho(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{64 << 10, 1 << 20} {
		for _, tr := range benchTransports {
			b.Run(fmt.Sprintf("%s/%dKiB", tr.name, size>>10), func(b *testing.B) {
				p := tr.dial(b, benchServer(b), msgpack.New())
				in := make([]byte, size)
				var out []byte
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := p.Call(ctx, "Calc.Echo", &out, in); err != nil {
						b.Fatal(err)
					}
				}
				if len(out) != size {
					b.Fatalf("echo returned %d bytes, want %d", len(out), size)
				}
			})
		}
	}
}

// raceBuild reports whether the test binary was built with -race, where sync.Pool drops
// items at random and allocation counts are not deterministic.
func raceBuild() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// maxAllocsPerCall bounds the allocations of one small call's round trip over net.Pipe,
// caller and handler together, per codec and dispatch path. The values are what the code
// did when the guard was written; lower them as the hot path improves, never raise them
// without a reason in the commit.
var maxAllocsPerCall = []struct {
	codec  tandem.Codec
	method string
	max    float64
}{
	{msgpack.New(), "Calc.Add", 3},
	{msgpack.New(), "Typed.Add", 4},
	{json.New(), "Calc.Add", 6},
}

// TestAllocsPerCall fails when a small call allocates more than it did.
func TestAllocsPerCall(t *testing.T) {
	if raceBuild() {
		t.Skip("allocation counts vary under -race")
	}
	ctx := context.Background()
	for _, g := range maxAllocsPerCall {
		for _, tr := range []struct {
			name string
			dial func(testing.TB, *tandem.Server, tandem.Codec) *tandem.Peer
		}{{"pipe", dialBenchPipe}, {"tcp", dialBenchTCP}} {
			t.Run(tr.name+"/"+g.codec.Name()+"/"+g.method, func(t *testing.T) {
				p := tr.dial(t, benchServer(t), g.codec)
				var sum int
				call := func() {
					if err := p.Call(ctx, g.method, &sum, 300, 400); err != nil {
						t.Fatal(err)
					}
				}
				call() // warm up the buffers and pools
				got := testing.AllocsPerRun(1000, call)
				t.Logf("%s over %s: %.0f allocations per call, both peers counted", g.method, g.codec.Name(), got)
				if got > g.max {
					t.Errorf("%s over %s allocates %.0f times per call, want at most %.0f", g.method, g.codec.Name(), got, g.max)
				}
			})
		}
	}
}
