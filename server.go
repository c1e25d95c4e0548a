package tandem

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-rpc/tandem/wire"
)

// Read buffers. A connection in its handshake holds only a small one, so that silent
// connections (slowloris) cost little; an established peer reads through a larger one on
// top of it. Frames larger than that are read straight into their own buffer.
const (
	handshakeBufferSize = 512
	readBufferSize      = 16 << 10
)

// ErrServerClosed is returned by [Server.Serve] after [Server.Shutdown] or [Server.Close].
var ErrServerClosed = errors.New("tandem: server closed")

// Server holds the objects one program exposes and the connections it has, accepted
// ([Server.Serve]) or dialed ([Server.Dial]): on every one of them the other side can call
// the registered objects, and this side can call the other's. Register objects before
// serving or dialing; a Server is safe for concurrent use.
type Server struct {
	cfg      *config
	services atomic.Pointer[map[string]*service]

	mu        sync.Mutex // guards the fields below and registration
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]bool // connections still in their handshake; true once welcomed
	peers     map[*Peer]struct{}
	closing   bool
	graceful  bool          // closing by Shutdown: connections welcomed before it began become peers
	quit      chan struct{} // closed by Close: stops serialized services' goroutines
	workers   sync.WaitGroup
	handshake sync.WaitGroup
}

// NewServer returns a server configured by opts. It fails if an option is invalid.
func NewServer(opts ...Option) (*Server, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]bool),
		peers:     make(map[*Peer]struct{}),
		quit:      make(chan struct{}),
	}
	empty := map[string]*service{}
	s.services.Store(&empty)
	if err := s.register(IntrospectionService, introspectionMethods(s), nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Register exposes obj's exported methods under the name of obj's type (without package or
// pointer), so that Calculator.Add is called as "Calculator.Add". See [Server.RegisterName].
func (s *Server) Register(obj any, opts ...ServiceOption) error {
	if obj == nil {
		return errors.New("tandem: Register: nil object")
	}
	return s.RegisterName(reflect.Indirect(reflect.ValueOf(obj)).Type().Name(), obj, opts...)
}

// RegisterName exposes obj's exported methods as name.Method. A method qualifies when its
// arguments are an optional leading context.Context followed by any values the codec
// carries, and its results are none, a value, an error, or a value and an error. Methods
// with a pointer receiver are exposed only if obj is a pointer. It fails, saying why each
// method was skipped, if no method qualifies.
func (s *Server) RegisterName(name string, obj any, opts ...ServiceOption) error {
	if obj == nil {
		return errors.New("tandem: Register: nil object")
	}
	methods, skipped := reflectMethods(obj)
	if len(methods) == 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "tandem: Register %s: type %T has no method that can be called remotely", name, obj)
		for _, why := range skipped {
			b.WriteString("; " + why)
		}
		if t := reflect.TypeOf(obj); t.Kind() != reflect.Pointer && reflect.PointerTo(t).NumMethod() > t.NumMethod() {
			b.WriteString(" (hint: some methods have pointer receivers; register a pointer)")
		}
		return errors.New(b.String())
	}
	for _, why := range skipped {
		s.cfg.logger.Info("tandem: method not exposed", "service", name, "why", why)
	}
	return s.RegisterMethods(name, methods, opts...)
}

// RegisterMethods exposes methods under name without reflection, for generated code and
// hand-written adapters.
func (s *Server) RegisterMethods(name string, methods []Method, opts ...ServiceOption) error {
	if name == IntrospectionService {
		return fmt.Errorf("tandem: Register: the service name %q is reserved", name)
	}
	return s.register(name, methods, opts)
}

// boundMethod is a method with its full name, as the dispatcher uses it.
type boundMethod struct {
	Method
	full   string // "Service.Method"
	borrow bool   // its []byte arguments are views of the frame (WithBorrowedBytes)

	// notInline counts down the calls to hand to workers rather than run on the reading
	// goroutine, after one run there needed the reading taken over, or runs there were
	// slow (see Peer.runInline).
	notInline atomic.Int32
	// slowInline counts this method's runs in a row on a reading goroutine that took over
	// inlineSlow (see runInline).
	slowInline atomic.Int32
}

func (s *Server) register(name string, methods []Method, opts []ServiceOption) error {
	if !validServiceName(name) {
		return fmt.Errorf("tandem: Register: %q is not a valid service name (want a Go identifier)", name)
	}
	svc := &service{name: name, methods: make(map[string]*boundMethod, len(methods))}
	for _, m := range methods {
		if !validServiceName(m.Name) || m.Invoke == nil {
			return fmt.Errorf("tandem: Register %s: method %q needs an identifier name and an Invoke function", name, m.Name)
		}
		if _, dup := svc.methods[m.Name]; dup {
			return fmt.Errorf("tandem: Register %s: method %q listed twice", name, m.Name)
		}
		svc.methods[m.Name] = &boundMethod{Method: m, full: name + "." + m.Name}
		svc.order = append(svc.order, m.Name)
	}
	slices.Sort(svc.order)
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyService(svc); err != nil {
			return err
		}
	}
	for _, m := range svc.methods {
		m.borrow = svc.borrow
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	old := *s.services.Load()
	if _, dup := old[name]; dup {
		return fmt.Errorf("tandem: Register: service %q already registered", name)
	}
	next := make(map[string]*service, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = svc
	s.services.Store(&next)
	if svc.mode == Serialized {
		s.workers.Add(1)
		go s.serialize(svc)
	}
	return nil
}

// serialize runs a serialized service's calls one at a time until the server closes.
func (s *Server) serialize(svc *service) {
	defer s.workers.Done()
	for {
		select {
		case j := <-svc.queue:
			j.peer.run(j)
		case <-s.quit:
			return
		}
	}
}

// lookup finds the service and method a call names.
func (s *Server) lookup(name []byte) (*service, *boundMethod, error) {
	dot := -1
	for i, c := range name {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return nil, nil, newErr(ErrUnknownMethod, nil, "%q is not of the form Service.Method", name)
	}
	svc := (*s.services.Load())[string(name[:dot])]
	if svc == nil {
		return nil, nil, newErr(ErrUnknownService, nil, "%s: unknown service %q", name, name[:dot])
	}
	m := svc.methods[string(name[dot+1:])]
	if m == nil {
		return nil, nil, newErr(ErrUnknownMethod, nil, "%s: service %s has no method %q (it has %s)", name, svc.name, name[dot+1:], strings.Join(svc.order, ", "))
	}
	return svc, m, nil
}

// Listen opens a listener for an address of the form "tcp://host:port", "unix:///path" or
// "host:port" (TCP).
func Listen(addr string) (net.Listener, error) {
	network, address, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	return net.Listen(network, address)
}

func splitAddr(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "tcp://"):
		return "tcp", strings.TrimPrefix(addr, "tcp://"), nil
	case strings.HasPrefix(addr, "unix://"):
		return "unix", strings.TrimPrefix(addr, "unix://"), nil
	case strings.Contains(addr, "://"):
		return "", "", fmt.Errorf("tandem: address %q: unsupported scheme (want tcp:// or unix://)", addr)
	}
	return "tcp", addr, nil
}

// Serve accepts connections on ln and serves each until [Server.Shutdown] or
// [Server.Close], when it returns [ErrServerClosed]; otherwise it returns the accept error.
// It closes ln on return. Failed handshakes are logged and do not stop it.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	if s.cfg.tlsConfig != nil {
		ln = tls.NewListener(ln, s.cfg.tlsConfig)
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: back off and retry, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.cfg.logger.Warn("tandem: accept failed; retrying", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			conn.Close()
			return ErrServerClosed
		}
		if n := len(s.peers) + len(s.conns); n >= s.cfg.maxConns {
			s.mu.Unlock()
			conn.Close()
			s.cfg.logger.Warn("tandem: connection refused: too many connections", "remote", conn.RemoteAddr().String(), "limit", s.cfg.maxConns)
			continue
		}
		s.handshake.Add(1) // under mu, so never concurrent with finishClose's Wait
		s.mu.Unlock()
		go func() {
			defer s.handshake.Done()
			if _, err := s.ServeConn(context.Background(), conn); err != nil {
				s.cfg.logger.Warn("tandem: handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// trackConn registers a connection in its handshake, until untrack, so that closing the
// server can interrupt it or wait for it; it refuses if the server is closing. With
// welcomed, it marks a connection it already tracks, on the accepting side, as welcomed:
// one welcomed before [Server.Shutdown] began is still taken on, then told the server is
// going away, since its dialer saw the handshake succeed and may have sent calls, which
// must fail as never started, not as lost.
func (s *Server) trackConn(conn net.Conn, welcomed bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if !welcomed {
		s.handshake.Add(1) // under mu, so never concurrent with the Wait of a close
	}
	s.conns[conn] = welcomed
	return true
}

// adopt turns a handshaken connection into a peer, unless the server closed meanwhile (a
// connection welcomed before a graceful shutdown began is taken on, and shut down by it).
func (s *Server) adopt(conn net.Conn, br *bufio.Reader, codec Codec, dialer bool, remote limits, id Identity) (*Peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	welcomed := s.conns[conn]
	delete(s.conns, conn)
	if s.closing && !(s.graceful && welcomed) {
		conn.Close()
		return nil, newErr(ErrClosed, nil, "server closed during the handshake")
	}
	p := newPeer(s, conn, br, codec, dialer, remote, id)
	s.peers[p] = struct{}{}
	return p, nil
}

func (s *Server) untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	s.handshake.Done()
}

func (s *Server) removePeer(p *Peer) {
	s.mu.Lock()
	delete(s.peers, p)
	s.mu.Unlock()
}

// handshakeDeadline bounds a handshake by the configured timeout and ctx, and makes ctx's
// cancellation interrupt it. The returned func undoes both.
func (s *Server) handshakeDeadline(ctx context.Context, conn net.Conn) func() {
	dl := time.Now().Add(s.cfg.handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	return func() {
		stop()
		_ = conn.SetDeadline(time.Time{})
	}
}

// ServeConn runs the accepting side of the handshake on conn and, if it succeeds, serves the
// connection as a [Peer]. On failure it closes conn. Use it for transports other than a
// net.Listener, such as net.Pipe.
func (s *Server) ServeConn(ctx context.Context, conn net.Conn) (*Peer, error) {
	if !s.trackConn(conn, false) {
		conn.Close()
		return nil, ErrServerClosed
	}
	defer s.untrack(conn)
	done := s.handshakeDeadline(ctx, conn)
	br := bufio.NewReaderSize(conn, handshakeBufferSize)
	codec, remote, id, err := s.acceptHello(ctx, br, conn)
	done()
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s.adopt(conn, br, codec, false, remote, id)
}

// limits are what the other side announced in the handshake.
type limits struct {
	maxFrameSize uint32 // the largest frame it accepts
	maxInflight  uint32 // how many of our calls it runs at once; 0: no limit
}

func (s *Server) acceptHello(ctx context.Context, br *bufio.Reader, conn net.Conn) (Codec, limits, Identity, error) {
	var none Identity
	var nolimits limits
	h, err := wire.ReadHello(br)
	if err != nil {
		return nil, nolimits, none, newErr(ErrHandshake, err, "handshake: reading hello: %v", err)
	}
	reply := func(st wire.Status, msg string) error {
		_, err := conn.Write(wire.AppendWelcome(nil, wire.Welcome{Version: wire.Version, Status: st, MaxFrameSize: s.cfg.maxFrameSize, MaxInflight: uint32(s.cfg.maxInflight), Message: msg}))
		return err
	}
	if h.Version != wire.Version {
		msg := fmt.Sprintf("this side speaks protocol version %d, the dialer %d", wire.Version, h.Version)
		_ = reply(wire.StatusBadVersion, msg)
		return nil, nolimits, none, newErr(ErrHandshake, nil, "handshake: %s", msg)
	}
	if h.MaxFrameSize < 1<<10 {
		msg := fmt.Sprintf("dialer's max frame size %d is below the 1 KiB minimum", h.MaxFrameSize)
		_ = reply(wire.StatusUnavailable, msg)
		return nil, nolimits, none, newErr(ErrHandshake, nil, "handshake: %s", msg)
	}
	var codec Codec
	var names []string
	for _, c := range s.cfg.accept {
		names = append(names, c.Name())
		if c.Name() == h.Codec {
			codec = c
		}
	}
	if codec == nil {
		msg := fmt.Sprintf("codec %q not accepted; accepted: %s", h.Codec, strings.Join(names, ", "))
		_ = reply(wire.StatusBadCodec, msg)
		return nil, nolimits, none, newErr(ErrHandshake, nil, "handshake: %s", msg)
	}
	id := Identity{TLS: tlsState(conn)}
	if s.cfg.auth != nil {
		id, err = s.cfg.auth.Authenticate(ctx, AuthInfo{Credentials: h.Auth, RemoteAddr: conn.RemoteAddr(), TLS: id.TLS})
		if err != nil {
			_ = reply(wire.StatusAuthFailed, "authentication failed")
			e := newErr(ErrHandshake, err, "handshake: authentication failed: %v", err)
			e.Code = CodeUnauthenticated
			return nil, nolimits, none, e
		}
	}
	if !s.trackConn(conn, true) {
		_ = reply(wire.StatusUnavailable, "shutting down")
		return nil, nolimits, none, newErr(ErrShuttingDown, nil, "handshake: shutting down")
	}
	if err := reply(wire.StatusOK, ""); err != nil {
		return nil, nolimits, none, newErr(ErrHandshake, err, "handshake: writing welcome: %v", err)
	}
	return codec, limits{h.MaxFrameSize, h.MaxInflight}, id, nil
}

// Dial connects to addr ("tcp://host:port", "unix:///path" or "host:port") and returns the
// peer, on which the other side can call this server's objects.
func (s *Server) Dial(ctx context.Context, addr string) (*Peer, error) {
	network, address, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, newErr(ErrConnectionLost, err, "dial %s: %v", addr, err)
	}
	if s.cfg.tlsConfig != nil {
		cfg := s.cfg.tlsConfig
		if cfg.ServerName == "" && network == "tcp" {
			cfg = cfg.Clone()
			if host, _, err := net.SplitHostPort(address); err == nil {
				cfg.ServerName = host
			}
		}
		conn = tls.Client(conn, cfg)
	}
	return s.DialConn(ctx, conn)
}

// DialConn runs the dialing side of the handshake on conn and, if it succeeds, serves the
// connection as a [Peer]. On failure it closes conn.
func (s *Server) DialConn(ctx context.Context, conn net.Conn) (*Peer, error) {
	if !s.trackConn(conn, false) {
		conn.Close()
		return nil, ErrServerClosed
	}
	defer s.untrack(conn)
	done := s.handshakeDeadline(ctx, conn)
	br := bufio.NewReaderSize(conn, handshakeBufferSize)
	remote, err := s.dialHello(br, conn)
	done()
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s.adopt(conn, br, s.cfg.codec, true, remote, Identity{TLS: tlsState(conn)})
}

func (s *Server) dialHello(br *bufio.Reader, conn net.Conn) (limits, error) {
	var none limits
	hello := wire.AppendHello(nil, wire.Hello{Version: wire.Version, MaxFrameSize: s.cfg.maxFrameSize, MaxInflight: uint32(s.cfg.maxInflight), Codec: s.cfg.codec.Name(), Auth: s.cfg.credentials})
	if _, err := conn.Write(hello); err != nil {
		return none, newErr(ErrHandshake, err, "handshake: writing hello: %v", err)
	}
	w, err := wire.ReadWelcome(br)
	if err != nil {
		return none, newErr(ErrHandshake, err, "handshake: reading welcome: %v", err)
	}
	switch {
	case w.Status == wire.StatusUnavailable && w.Message == "shutting down":
		return none, newErr(ErrShuttingDown, nil, "handshake: the other side is shutting down")
	case w.Status == wire.StatusAuthFailed:
		e := newErr(ErrHandshake, nil, "handshake refused: %s", w.Status)
		e.Code = CodeUnauthenticated
		return none, e
	case w.Status != wire.StatusOK:
		return none, newErr(ErrHandshake, nil, "handshake refused: %s: %s", w.Status, w.Message)
	case w.Version != wire.Version:
		return none, newErr(ErrHandshake, nil, "handshake: the other side speaks protocol version %d, this side %d", w.Version, wire.Version)
	case w.MaxFrameSize < 1<<10:
		return none, newErr(ErrHandshake, nil, "handshake: the other side's max frame size %d is below the 1 KiB minimum", w.MaxFrameSize)
	}
	return limits{w.MaxFrameSize, w.MaxInflight}, nil
}

// Dial connects to addr as a client that exposes no objects of its own; it is
// NewServer(opts...) followed by [Server.Dial]. Closing the returned peer releases all.
func Dial(ctx context.Context, addr string, opts ...Option) (*Peer, error) {
	s, err := NewServer(opts...)
	if err != nil {
		return nil, err
	}
	return s.Dial(ctx, addr)
}

// Peers returns the connections currently established, accepted or dialed.
func (s *Server) Peers() []*Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Peer, 0, len(s.peers))
	for p := range s.peers {
		out = append(out, p)
	}
	return out
}

// beginClose stops accepting and returns the peers to end. It cuts the handshakes in
// progress, except, when graceful, those already welcomed.
func (s *Server) beginClose(graceful bool) []*Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	s.graceful = graceful
	for ln := range s.listeners {
		ln.Close()
	}
	for c, welcomed := range s.conns {
		if !graceful || !welcomed {
			c.Close()
		}
	}
	out := make([]*Peer, 0, len(s.peers))
	for p := range s.peers {
		out = append(out, p)
	}
	return out
}

// Shutdown stops accepting connections, tells every peer it is going away (their new calls
// fail fast with [ErrShuttingDown]), lets calls in progress finish until ctx ends, then
// closes everything. It returns ctx's error if ctx ended first. A connection whose
// handshake this side had already accepted when Shutdown began is served and told the
// same, so its dialer's calls fail as never started rather than as lost.
func (s *Server) Shutdown(ctx context.Context) error {
	peers := s.beginClose(true)
	first := make(chan error, 1)
	go func() { first <- shutdownPeers(ctx, peers) }()
	// Meanwhile connections welcomed before the close began become peers as their
	// handshakes end (at once, unless a dialer stalls): they are told the same.
	err := s.waitHandshakes(ctx)
	told := make(map[*Peer]bool, len(peers))
	for _, p := range peers {
		told[p] = true
	}
	var late []*Peer
	for _, p := range s.Peers() {
		if !told[p] {
			late = append(late, p)
		}
	}
	if e := shutdownPeers(ctx, late); err == nil {
		err = e
	}
	if e := <-first; err == nil {
		err = e
	}
	s.finishClose()
	return err
}

// shutdownPeers shuts peers down at once and returns the first error.
func shutdownPeers(ctx context.Context, peers []*Peer) error {
	errs := make(chan error, len(peers))
	for _, p := range peers {
		go func() { errs <- p.Shutdown(ctx) }()
	}
	var err error
	for range peers {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return err
}

// waitHandshakes waits for the handshakes in progress to end. If ctx ends first, it cuts
// those still running and returns ctx's error.
func (s *Server) waitHandshakes(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.handshake.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.graceful = false
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// Close stops accepting, closes every connection at once and stops the server's goroutines.
func (s *Server) Close() error {
	for _, p := range s.beginClose(false) {
		p.Close()
	}
	s.finishClose()
	return nil
}

func (s *Server) finishClose() {
	s.handshake.Wait()
	// Peers adopted while the first ones closed are refused by adopt; close any stragglers.
	for _, p := range s.Peers() {
		p.Close()
	}
	s.mu.Lock()
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	s.mu.Unlock()
	s.workers.Wait()
}
