package tandem_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/wire"
)

// logSink collects log records so tests can assert that a protocol error was logged.
type logSink struct {
	mu     sync.Mutex
	msgs   []string
	logged chan struct{} // signalled on every record
}

func newLogSink() *logSink { return &logSink{logged: make(chan struct{}, 1)} }

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	s.mu.Lock()
	s.msgs = append(s.msgs, b.String())
	s.mu.Unlock()
	select {
	case s.logged <- struct{}{}:
	default:
	}
	return nil
}
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

// has waits up to 10s for a record that mentions part.
func (s *logSink) has(part string) bool {
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if strings.Contains(m, part) {
				s.mu.Unlock()
				return true
			}
		}
		s.mu.Unlock()
		select {
		case <-s.logged:
		case <-timeout:
			return false
		}
	}
}

// hostileServer serves a Calc on TCP with a log sink and returns its address.
func hostileServer(t *testing.T) (string, *logSink) {
	t.Helper()
	sink := newLogSink()
	srv := newServer(t, tandem.WithLogger(slog.New(sink)), tandem.WithAcceptCodecs(msgpack.New(), json.New(), gob.New()))
	must(t, srv.Register(&Calc{}))
	ln, err := tandem.Listen("tcp://127.0.0.1:0")
	must(t, err)
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String(), sink
}

// rawConn opens a TCP connection and, if hello, completes the handshake by hand.
func rawConn(t *testing.T, addr string, hello bool) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if hello {
		_, err := c.Write(wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize, Codec: "msgpack"}))
		must(t, err)
		w, err := wire.ReadWelcome(br)
		must(t, err)
		if w.Status != wire.StatusOK {
			t.Fatalf("welcome: %+v", w)
		}
	}
	return c, br
}

// expectClosed reads until the server closes the connection, failing on anything else.
func expectClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_, err := io.Copy(io.Discard, br)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("server did not close the connection")
		}
	}
}

// healthy checks that a normal client is still served.
func healthy(t *testing.T, addr string) {
	t.Helper()
	p, err := tandem.Dial(ctxTimeout(t, 5*time.Second), "tcp://"+addr)
	must(t, err)
	defer p.Close()
	var n int
	must(t, p.Call(ctxTimeout(t, 5*time.Second), "Calc.Add", &n, 2, 2))
	if n != 4 {
		t.Fatalf("Add = %d", n)
	}
}

func callFrame(id uint64, method string, payload []byte) []byte {
	return wire.AppendCall(nil, wire.KindCall, id, time.Second, method, nil, payload)
}

func TestHostileStreams(t *testing.T) {
	addr, sink := hostileServer(t)
	frameHeader := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	tests := []struct {
		name   string
		hello  bool
		send   []byte
		logged string
	}{
		{"garbage instead of hello", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "bad magic"},
		{"length prefix 0xFFFFFFFF", true, frameHeader(0xFFFFFFFF), "frame too large"},
		{"length prefix over limit", true, frameHeader(wire.DefaultMaxFrameSize + 1), "frame too large"},
		{"length prefix under header", true, frameHeader(3), "frame too small"},
		{"unknown frame kind", true, append(frameHeader(wire.HeaderSize), 99, 0, 0, 0, 0, 0, 0, 0, 0, 1), "unknown frame kind"},
		{"malformed call body", true, append(frameHeader(wire.HeaderSize+3), 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF), "malformed"},
		{"even call id from the dialer", true, callFrame(2, "Calc.Add", []byte{0x92, 1, 2}), "wrong parity"},
		{"truncated frame", true, callFrame(1, "Calc.Add", []byte{0x92, 1, 2})[:9], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			c, br := rawConn(t, addr, tt.hello)
			_, err := c.Write(tt.send)
			must(t, err)
			if tt.name == "truncated frame" {
				c.(*net.TCPConn).CloseWrite()
			}
			expectClosed(t, c, br)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Fatalf("server allocated %d bytes for a hostile stream", grew)
			}
			if tt.logged != "" {
				if !sink.has(tt.logged) {
					t.Fatalf("no log line mentions %q; got %q", tt.logged, sink.msgs)
				}
			}
			healthy(t, addr)
		})
	}
}

func TestDuplicateCallID(t *testing.T) {
	addr, sink := hostileServer(t)
	c, br := rawConn(t, addr, true)
	// Two calls with id 1 while the first still runs (Block waits for its 1s deadline).
	var buf []byte
	buf = append(buf, callFrame(1, "Calc.Block", []byte{0x90})...)
	buf = append(buf, callFrame(1, "Calc.Block", []byte{0x90})...)
	_, err := c.Write(buf)
	must(t, err)
	expectClosed(t, c, br)
	healthy(t, addr)
	if !sink.has("duplicate call id") {
		t.Fatalf("duplicate id not logged: %q", sink.msgs)
	}
}

// readFrame reads one frame from a raw connection.
func readFrame(t *testing.T, br *bufio.Reader) wire.Frame {
	t.Helper()
	f, err := tryReadFrame(br)
	must(t, err)
	return f
}

// tryReadFrame reads and parses the next frame, for goroutines other than the test's.
func tryReadFrame(br *bufio.Reader) (wire.Frame, error) {
	var hdr [wire.LengthSize]byte
	n, err := wire.ReadLength(br, &hdr, wire.DefaultMaxFrameSize)
	if err != nil {
		return wire.Frame{}, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return wire.Frame{}, err
	}
	return wire.Parse(buf, nil)
}

func TestDecoderBombsGetErrorReplies(t *testing.T) {
	addr, _ := hostileServer(t)
	tests := []struct {
		name    string
		payload []byte
	}{
		{"array32 of 2^32-1 elements", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"argument declares 2^32-1 elements", []byte{0x92, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"map32 of 2^32-1 pairs", []byte{0x92, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"str32 of 4 GiB", []byte{0x92, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"2 MB of nested arrays", append([]byte{0x92}, bytes.Repeat([]byte{0x91}, 2<<20)...)},
		{"not msgpack at all", []byte("\xc1\xc1\xc1")},
		{"empty payload", nil},
	}
	c, br := rawConn(t, addr, true)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			id := uint64(2*i + 1)
			_, err := c.Write(callFrame(id, "Calc.Add", tt.payload))
			must(t, err)
			f := readFrame(t, br)
			if f.Kind != wire.KindError || f.ID != id || tandem.Code(f.Code) != tandem.CodeInvalidArgument {
				t.Fatalf("got %v id %d code %d %q, want an invalid_argument error for id %d", f.Kind, f.ID, f.Code, f.Message, id)
			}
			if !strings.Contains(string(f.Message), "func(a int, b int) int") {
				t.Fatalf("error %q does not name the signature", f.Message)
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			// The 2 MB frame itself is read into memory; nothing may be much larger.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Fatalf("server allocated %d bytes decoding a bomb", grew)
			}
		})
	}
	// The connection is still up.
	_, err := c.Write(callFrame(101, "Calc.Add", []byte{0x92, 0x02, 0x03}))
	must(t, err)
	if f := readFrame(t, br); f.Kind != wire.KindReply || !bytes.Equal(f.Payload, []byte{0x91, 0x05}) {
		t.Fatalf("after bombs: %v %q %x", f.Kind, f.Message, f.Payload)
	}
}

func TestHandshakeMismatches(t *testing.T) {
	addr, sink := hostileServer(t)
	t.Run("version", func(t *testing.T) {
		c, br := rawConn(t, addr, false)
		_, err := c.Write(wire.AppendHello(nil, wire.Hello{Version: 99, MaxFrameSize: 1 << 20, Codec: "msgpack"}))
		must(t, err)
		w, err := wire.ReadWelcome(br)
		must(t, err)
		if w.Status != wire.StatusBadVersion || !strings.Contains(w.Message, "protocol version 1, the dialer 99") {
			t.Fatalf("welcome %+v", w)
		}
		expectClosed(t, c, br)
		healthy(t, addr)
		if !sink.has("the dialer 99") {
			t.Fatal("server did not log the version mismatch")
		}
	})
	t.Run("codec", func(t *testing.T) {
		strict := newServer(t, tandem.WithLogger(slog.New(sink)))
		must(t, strict.Register(&Calc{}))
		client := newServer(t, tandem.WithCodec(gob.New()))
		a, b := net.Pipe()
		errc := make(chan error, 1)
		go func() { _, err := strict.ServeConn(context.Background(), a); errc <- err }()
		_, err := client.DialConn(context.Background(), b)
		if !errors.Is(err, tandem.ErrHandshake) || !strings.Contains(err.Error(), `codec "gob" not accepted; accepted: msgpack, json`) {
			t.Fatalf("client: %v", err)
		}
		if err := <-errc; !errors.Is(err, tandem.ErrHandshake) || !strings.Contains(err.Error(), `codec "gob" not accepted`) {
			t.Fatalf("server: %v", err)
		}
	})
	t.Run("not a tandem server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
				c.Close()
			}
		}()
		_, err = tandem.Dial(ctxTimeout(t, 5*time.Second), "tcp://"+ln.Addr().String())
		if !errors.Is(err, tandem.ErrHandshake) || !strings.Contains(err.Error(), "bad magic") {
			t.Fatalf("dial to a non-tandem server: %v", err)
		}
	})
	t.Run("silent server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		defer ln.Close()
		held := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				held <- c
			}
		}()
		_, err = tandem.Dial(context.Background(), "tcp://"+ln.Addr().String(), tandem.WithHandshakeTimeout(100*time.Millisecond))
		if !errors.Is(err, tandem.ErrHandshake) {
			t.Fatalf("dial to a silent server: %v", err)
		}
		(<-held).Close()
	})
}

func TestCodecs(t *testing.T) {
	for _, c := range []tandem.Codec{msgpack.New(), json.New(), gob.New()} {
		t.Run(c.Name(), func(t *testing.T) {
			srv := newServer(t, tandem.WithAcceptCodecs(msgpack.New(), json.New(), gob.New()))
			must(t, srv.Register(&Calc{}))
			p := dialPipe(t, srv, newServer(t, tandem.WithCodec(c)))
			if p.Codec().Name() != c.Name() {
				t.Fatalf("agreed codec %q", p.Codec().Name())
			}
			ctx := ctxTimeout(t, 5*time.Second)
			var st Stats
			must(t, p.Call(ctx, "Calc.Stats", &st))
			if !st.When.Equal(time.Unix(1700000000, 5)) || st.Tags["a"][0] != "x" || st.Next.Calls != 1 {
				t.Fatalf("Stats over %s = %+v", c.Name(), st)
			}
			var sw Pair
			must(t, p.Call(ctx, "Calc.Swap", &sw, Pair{3, 4}))
			if sw != (Pair{4, 3}) {
				t.Fatalf("Swap = %+v", sw)
			}
			err := p.Call(ctx, "Calc.Add", nil, 1)
			wantCode(t, err, tandem.CodeInvalidArgument, tandem.ErrBadArguments, "want 2 arguments, got 1")
		})
	}
}

func slogOf(h slog.Handler) *slog.Logger { return slog.New(h) }
