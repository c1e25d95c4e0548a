package tandem_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/wire"
)

// FuzzConnection feeds a live connection, after a valid handshake, arbitrary bytes split at
// arbitrary points. The server must survive (no panic, no hang), and a second, healthy
// connection must still be served.
func FuzzConnection(f *testing.F) {
	var valid []byte
	valid = append(valid, wire.AppendCall(nil, wire.KindCall, 1, time.Second, "Calc.Add", nil, []byte{0x92, 1, 2})...)
	valid = append(valid, wire.AppendCall(nil, wire.KindNotify, 0, 0, "Calc.Add", []wire.Meta{{Key: "k", Value: "v"}}, []byte{0x92, 1, 2})...)
	valid = append(valid, wire.AppendCancel(nil, 1)...)
	valid = append(valid, wire.AppendPing(nil, wire.KindPing, [8]byte{1})...)
	f.Add(valid, uint16(3))
	f.Add(wire.AppendCall(nil, wire.KindCall, 3, time.Millisecond, "Calc.Block", nil, []byte{0x90}), uint16(1))
	f.Add(wire.AppendCall(nil, wire.KindCall, 5, 0, "Tandem.Describe", nil, []byte{0x90}), uint16(7))
	f.Add(wire.AppendCall(nil, wire.KindCall, 7, 0, "Calc.Panic", nil, []byte{0x90}), uint16(2))
	f.Add(append(wire.AppendGoAway(nil, 0, 14, "bye"), wire.AppendError(nil, 2, 2, 0, "x", nil)...), uint16(5))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 1}, uint16(1))
	// A call in three chunks with a ping between them, and a window frame.
	big := wire.AppendCall(nil, wire.KindCall, 9, 0, "Calc.Echo", nil, append([]byte{0x91, 0xc5, 0x01, 0x00}, make([]byte, 256)...))
	var chunked []byte
	for i, cut := range [][2]int{{0, 4}, {4, 200}, {200, len(big)}} {
		flags := wire.FlagMore
		if i == 2 {
			flags = 0
		}
		chunked = append(wire.AppendHeader(chunked, wire.KindChunk, flags, 9, cut[1]-cut[0]), big[cut[0]:cut[1]]...)
		if i == 0 {
			chunked = wire.AppendPing(chunked, wire.KindPing, [8]byte{2})
		}
	}
	f.Add(append(chunked, wire.AppendWindow(nil, 1<<16)...), uint16(40))

	srv, err := tandem.NewServer(tandem.WithMaxInflight(64))
	if err != nil {
		f.Fatal(err)
	}
	if err := srv.Register(&Calc{}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })

	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		a, b := net.Pipe()
		served := make(chan *tandem.Peer, 1)
		go func() {
			p, _ := srv.ServeConn(context.Background(), a)
			served <- p
		}()
		b.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := b.Write(wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: 1 << 20, Codec: "msgpack"})); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(b)
		if w, err := wire.ReadWelcome(br); err != nil || w.Status != wire.StatusOK {
			t.Fatalf("handshake: %+v %v", w, err)
		}
		p := <-served
		drained := make(chan struct{})
		go func() { io.Copy(io.Discard, br); close(drained) }()
		step := int(split%64) + 1
		for len(data) > 0 {
			n := min(step, len(data))
			if _, err := b.Write(data[:n]); err != nil {
				break // the server closed the connection: a protocol error
			}
			data = data[n:]
		}
		b.Close()
		<-drained
		if p != nil {
			<-p.Done()
		}

		// The server still serves a healthy connection.
		hp := dialPipe(t, srv, newServer(t))
		var sum int
		if err := hp.Call(ctxTimeout(t, 5*time.Second), "Calc.Add", &sum, 1, 2); err != nil || sum != 3 {
			t.Fatalf("healthy call after fuzz input: %d %v", sum, err)
		}
		hp.Close()
	})
}
