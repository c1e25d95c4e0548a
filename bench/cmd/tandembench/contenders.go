package main

import (
	"context"
	"net"
	"net/rpc"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/bench/internal/benchsvc"
	"github.com/tandem-rpc/tandem/bench/internal/echopb"
	"github.com/tandem-rpc/tandem/codec/gob"
	tjson "github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/codec/msgpack"
)

// client is one connection of a contender, as the workloads drive it. It is safe for
// concurrent use when dialed with shared set.
type client interface {
	// Add is the small call: two int64 in, one out.
	Add(ctx context.Context, a, b int64) (int64, error)
	// Echo sends b and returns what came back.
	Echo(ctx context.Context, b []byte) ([]byte, error)
	Close() error
}

// Contender kinds, for the ratios in the report.
const (
	kindFloor  = "floor"  // rawtcp: what a bare socket does
	kindOther  = "other"  // frameworks tandem must beat
	kindTandem = "tandem" // tandem itself
)

// contender is one way of making the calls.
type contender struct {
	name   string
	kind   string
	server string // which of the server process's listeners it dials
	// dial opens one connection. shared says whether several goroutines will use it.
	dial func(ctx context.Context, addr string, shared bool) (client, error)
}

// contenders lists everything measured, in report order. To measure another codec or
// generated client, add it here and, if it needs its own server, in serveAll.
var contenders = []contender{
	{name: "rawtcp", kind: kindFloor, server: "rawtcp", dial: dialRaw},
	{name: "netrpc", kind: kindOther, server: "netrpc", dial: dialNetRPC},
	{name: "grpc", kind: kindOther, server: "grpc", dial: dialGRPC},
	{name: "tandem-msgpack", kind: kindTandem, server: "tandem", dial: dialTandem(msgpack.New())},
	{name: "tandem-json", kind: kindTandem, server: "tandem", dial: dialTandem(tjson.New())},
	{name: "tandem-gob", kind: kindTandem, server: "tandem", dial: dialTandem(gob.New())},
	{name: "tandem-gen", kind: kindTandem, server: "tandem-gen", dial: dialTandemGen},
}

func contenderNames() []string {
	names := make([]string, len(contenders))
	for i, c := range contenders {
		names[i] = c.name
	}
	return names
}

func contenderByName(name string) contender {
	for _, c := range contenders {
		if c.name == name {
			return c
		}
	}
	panic("unknown contender " + name)
}

// netRPCClient is the net/rpc contender: gob over one TCP connection.
type netRPCClient struct{ c *rpc.Client }

func dialNetRPC(ctx context.Context, addr string, _ bool) (client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return netRPCClient{rpc.NewClient(conn)}, nil
}

func (c netRPCClient) Add(_ context.Context, a, b int64) (int64, error) {
	var sum int64
	err := c.c.Call("Bench.Add", AddArgs{a, b}, &sum)
	return sum, err
}

func (c netRPCClient) Echo(_ context.Context, b []byte) ([]byte, error) {
	var out []byte
	err := c.c.Call("Bench.Echo", b, &out)
	return out, err
}

func (c netRPCClient) Close() error { return c.c.Close() }

// grpcClient is the gRPC-Go contender: unary calls with protobuf over one HTTP/2 connection.
type grpcClient struct {
	cc *grpc.ClientConn
	c  echopb.BenchClient
}

func dialGRPC(_ context.Context, addr string, _ bool) (client, error) {
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)))
	if err != nil {
		return nil, err
	}
	cc.Connect()
	return grpcClient{cc, echopb.NewBenchClient(cc)}, nil
}

func (c grpcClient) Add(ctx context.Context, a, b int64) (int64, error) {
	r, err := c.c.Add(ctx, &echopb.AddRequest{A: a, B: b})
	return r.GetSum(), err
}

func (c grpcClient) Echo(ctx context.Context, b []byte) ([]byte, error) {
	r, err := c.c.Echo(ctx, &echopb.Blob{Data: b})
	return r.GetData(), err
}

func (c grpcClient) Close() error { return c.cc.Close() }

// tandemClient is tandem's reflective path: Peer.Call with any codec.
type tandemClient struct{ p *tandem.Peer }

func dialTandem(codec tandem.Codec) func(context.Context, string, bool) (client, error) {
	return func(ctx context.Context, addr string, _ bool) (client, error) {
		p, err := tandem.Dial(ctx, "tcp://"+addr, tandem.WithCodec(codec), tandem.WithMaxFrameSize(maxMessage))
		if err != nil {
			return nil, err
		}
		return tandemClient{p}, nil
	}
}

func (c tandemClient) Add(ctx context.Context, a, b int64) (int64, error) {
	var sum int64
	err := c.p.Call(ctx, "Bench.Add", &sum, a, b)
	return sum, err
}

func (c tandemClient) Echo(ctx context.Context, b []byte) ([]byte, error) {
	var out []byte
	err := c.p.Call(ctx, "Bench.Echo", &out, b)
	return out, err
}

func (c tandemClient) Close() error { return c.p.Close() }

// tandemGenClient is tandem's generated path: the typed client tandem gen wrote, msgpack.
type tandemGenClient struct {
	benchsvc.Bench
	p *tandem.Peer
}

func dialTandemGen(ctx context.Context, addr string, _ bool) (client, error) {
	p, err := tandem.Dial(ctx, "tcp://"+addr, tandem.WithMaxFrameSize(maxMessage))
	if err != nil {
		return nil, err
	}
	return tandemGenClient{benchsvc.NewBenchClient(p), p}, nil
}

func (c tandemGenClient) Close() error { return c.p.Close() }
