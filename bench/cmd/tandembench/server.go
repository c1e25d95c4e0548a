package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"runtime/pprof"

	"google.golang.org/grpc"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/bench/internal/benchsvc"
	"github.com/tandem-rpc/tandem/bench/internal/echopb"
	"github.com/tandem-rpc/tandem/codec/gob"
	tjson "github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/codec/msgpack"
)

// maxMessage bounds every contender's messages: 4 MiB echoes need more than the common
// 4 MiB default once framing is added.
const maxMessage = 16 << 20

// serverProfileEnv names a file the server process writes its CPU profile to.
const serverProfileEnv = "TANDEMBENCH_SERVER_CPUPROFILE"

// serverProc is the re-executed server process, as the client sees it.
type serverProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addrs map[string]string // server name -> host:port
}

// startServer re-executes this program as the server and reads the addresses it listens on.
func startServer(ctx context.Context) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), roleEnv+"=server")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{cmd: cmd, stdin: stdin}
	if err := json.NewDecoder(stdout).Decode(&p.addrs); err != nil {
		p.stop()
		return nil, fmt.Errorf("server process: reading its addresses: %w", err)
	}
	return p, nil
}

// stop closes the server's stdin, which makes it exit, and waits for it.
func (p *serverProc) stop() {
	p.stdin.Close()
	_ = p.cmd.Wait()
}

// serverMain runs every contender's server until stdin reaches EOF. It prints their
// addresses to stdout as one JSON object.
func serverMain(stdin io.Reader, stdout, stderr io.Writer) int {
	if path := os.Getenv(serverProfileEnv); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	addrs, stop, err := serveAll()
	if err != nil {
		fmt.Fprintln(stderr, "tandembench server:", err)
		return 1
	}
	defer stop()
	if err := json.NewEncoder(stdout).Encode(addrs); err != nil {
		return 1
	}
	_, _ = io.Copy(io.Discard, stdin)
	return 0
}

// serveAll starts one listener per server on loopback. stop closes them all.
func serveAll() (map[string]string, func(), error) {
	addrs := map[string]string{}
	var stops []func()
	stop := func() {
		for _, s := range stops {
			s()
		}
	}
	listen := func(name string, serve func(net.Listener) func()) error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addrs[name] = ln.Addr().String()
		stops = append(stops, serve(ln))
		return nil
	}
	servers := []struct {
		name  string
		serve func(net.Listener) (func(), error)
	}{
		{"rawtcp", serveRaw},
		{"netrpc", serveNetRPC},
		{"grpc", serveGRPC},
		{"tandem", serveTandem},
		{"tandem-gen", serveTandemGen},
	}
	for _, s := range servers {
		var serr error
		err := listen(s.name, func(ln net.Listener) func() {
			st, err := s.serve(ln)
			serr = err
			if err != nil {
				ln.Close()
				return func() {}
			}
			return st
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return addrs, stop, nil
}

// serveRaw serves the raw TCP echo: each frame is answered with itself, on the reading
// goroutine, flushing when no further request is buffered.
func serveRaw(ln net.Listener) (func(), error) {
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go rawEcho(conn)
		}
	}()
	return func() { ln.Close() }, nil
}

func rawEcho(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	bw := bufio.NewWriterSize(conn, 64<<10)
	var hdr [rawHeader]byte
	var buf []byte
	for {
		n, err := readRawHeader(br, &hdr)
		if err != nil {
			return
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		bw.Write(hdr[:])
		bw.Write(buf)
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// netRPCBench is the net/rpc contender's service.
type netRPCBench struct{}

// AddArgs are the net/rpc contender's Add arguments.
type AddArgs struct{ A, B int64 }

func (netRPCBench) Add(args AddArgs, sum *int64) error { *sum = args.A + args.B; return nil }
func (netRPCBench) Echo(b []byte, out *[]byte) error   { *out = b; return nil }

func serveNetRPC(ln net.Listener) (func(), error) {
	srv := rpc.NewServer()
	if err := srv.RegisterName("Bench", netRPCBench{}); err != nil {
		return nil, err
	}
	go func() { // not srv.Accept, which logs when the listener closes
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(conn)
		}
	}()
	return func() { ln.Close() }, nil
}

// grpcBench is the gRPC contender's service.
type grpcBench struct {
	echopb.UnimplementedBenchServer
}

func (grpcBench) Add(_ context.Context, r *echopb.AddRequest) (*echopb.AddReply, error) {
	return &echopb.AddReply{Sum: r.GetA() + r.GetB()}, nil
}

func (grpcBench) Echo(_ context.Context, b *echopb.Blob) (*echopb.Blob, error) {
	return b, nil
}

func serveGRPC(ln net.Listener) (func(), error) {
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))
	echopb.RegisterBenchServer(srv, grpcBench{})
	go srv.Serve(ln)
	return srv.Stop, nil
}

// tandemServerOptions accept every codec the contenders use and 4 MiB echoes.
func tandemServerOptions() []tandem.Option {
	return []tandem.Option{
		tandem.WithAcceptCodecs(msgpack.New(), tjson.New(), gob.New()),
		tandem.WithMaxFrameSize(maxMessage),
	}
}

// serveTandem serves benchsvc.Impl through reflection, as [tandem.Server.Register] does.
// Echo keeps nothing of its argument, so both tandem servers let it borrow its bytes
// (tandem.WithBorrowedBytes), as the raw TCP server reuses its buffer.
func serveTandem(ln net.Listener) (func(), error) {
	srv, err := tandem.NewServer(tandemServerOptions()...)
	if err != nil {
		return nil, err
	}
	if err := srv.RegisterName("Bench", benchsvc.Impl{}, tandem.WithBorrowedBytes()); err != nil {
		return nil, err
	}
	return serveTandemOn(srv, ln), nil
}

// serveTandemGen serves benchsvc.Impl through the adapter tandem gen wrote.
func serveTandemGen(ln net.Listener) (func(), error) {
	srv, err := tandem.NewServer(tandemServerOptions()...)
	if err != nil {
		return nil, err
	}
	if err := benchsvc.RegisterBench(srv, benchsvc.Impl{}, tandem.WithBorrowedBytes()); err != nil {
		return nil, err
	}
	return serveTandemOn(srv, ln), nil
}

func serveTandemOn(srv *tandem.Server, ln net.Listener) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, tandem.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "tandembench server:", err)
		}
	}()
	return func() { srv.Close(); <-done }
}
