package tandem_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
)

// Whoami reports the caller's identity.
type Whoami struct{}

func (Whoami) Name(ctx context.Context) string {
	id, _ := tandem.IdentityFromContext(ctx)
	return id.Name
}

func serveOn(t *testing.T, srv *tandem.Server) string {
	t.Helper()
	ln, err := tandem.Listen("tcp://127.0.0.1:0")
	must(t, err)
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return "tcp://" + ln.Addr().String()
}

func TestTokenAuth(t *testing.T) {
	sink := newLogSink()
	srv := newServer(t, tandem.WithAuthenticator(tandem.TokenAuth(map[string]string{"s3cret": "alice"})), tandem.WithLogger(slogOf(sink)))
	must(t, srv.Register(Whoami{}))
	addr := serveOn(t, srv)

	p, err := tandem.Dial(ctxTimeout(t, 5*time.Second), addr, tandem.WithCredentials([]byte("s3cret")))
	must(t, err)
	defer p.Close()
	name, err := tandem.CallT[string](ctxTimeout(t, 5*time.Second), p, "Whoami.Name")
	must(t, err)
	if name != "alice" {
		t.Fatalf("identity %q, want alice", name)
	}

	for _, creds := range [][]byte{nil, []byte("wrong"), []byte("s3cret ")} {
		_, err := tandem.Dial(ctxTimeout(t, 5*time.Second), addr, tandem.WithCredentials(creds))
		if !errors.Is(err, tandem.ErrHandshake) || tandem.CodeOf(err) != tandem.CodeUnauthenticated {
			t.Fatalf("dial with %q: %v, want an unauthenticated handshake error", creds, err)
		}
	}
	if !sink.has("bad credentials") {
		t.Fatal("server did not log the failed authentication")
	}
	if len(srv.Peers()) != 1 {
		t.Fatalf("server holds %d peers, want only the authenticated one", len(srv.Peers()))
	}
}

// certs makes a CA, a server certificate for 127.0.0.1 and a client certificate "bob".
func certs(t *testing.T) (server, client tls.Certificate, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, _ := x509.ParseCertificate(caDER)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		must(t, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	return leaf(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")}),
		leaf(3, "bob", x509.ExtKeyUsageClientAuth, nil), pool
}

func TestMutualTLS(t *testing.T) {
	serverCert, clientCert, pool := certs(t)
	srv := newServer(t,
		tandem.WithTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}),
		tandem.WithAuthenticator(tandem.MutualTLSAuth()),
		tandem.WithHandshakeTimeout(2*time.Second))
	must(t, srv.Register(Whoami{}))
	addr := serveOn(t, srv)

	p, err := tandem.Dial(ctxTimeout(t, 5*time.Second), addr, tandem.WithTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}))
	must(t, err)
	defer p.Close()
	name, err := tandem.CallT[string](ctxTimeout(t, 5*time.Second), p, "Whoami.Name")
	must(t, err)
	if name != "bob" || p.Identity().TLS == nil {
		t.Fatalf("identity %q (TLS %v), want bob over TLS", name, p.Identity().TLS != nil)
	}

	// No client certificate: refused in the TLS handshake.
	if _, err := tandem.Dial(ctxTimeout(t, 5*time.Second), addr, tandem.WithTLS(&tls.Config{RootCAs: pool})); !errors.Is(err, tandem.ErrHandshake) {
		t.Fatalf("dial without a client certificate: %v", err)
	}
	// Plaintext client on the TLS port: a clear handshake error, within the deadline.
	if _, err := tandem.Dial(ctxTimeout(t, 5*time.Second), addr, tandem.WithHandshakeTimeout(2*time.Second)); !errors.Is(err, tandem.ErrHandshake) {
		t.Fatalf("plaintext dial to a TLS port: %v", err)
	}
	// TLS client on a plaintext port.
	plain := newServer(t)
	must(t, plain.Register(Whoami{}))
	plainAddr := serveOn(t, plain)
	_, err = tandem.Dial(ctxTimeout(t, 5*time.Second), plainAddr, tandem.WithTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}))
	if !errors.Is(err, tandem.ErrHandshake) {
		t.Fatalf("TLS dial to a plaintext port: %v", err)
	}
}

func TestInterceptors(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	record := func(s string) { mu.Lock(); seen = append(seen, s); mu.Unlock() }

	// Per-service authorization in a few lines: only "admin" may call Calc.Div.
	authz := func(ctx context.Context, call tandem.CallInfo, next func(context.Context) (any, error)) (any, error) {
		if call.Method == "Calc.Div" && tandem.MetadataFromContext(ctx)["role"] != "admin" {
			return nil, tandem.NewError(tandem.CodePermissionDenied, call.Method+" needs the admin role")
		}
		return next(ctx)
	}
	logging := func(ctx context.Context, call tandem.CallInfo, next func(context.Context) (any, error)) (any, error) {
		res, err := next(ctx)
		record("server " + call.Method + " " + tandem.CodeOf(err).String())
		return res, err
	}
	srv := newServer(t, tandem.WithServerInterceptors(logging, authz))
	must(t, srv.Register(&Calc{}))

	addRole := func(ctx context.Context, call tandem.CallInfo, args []any, next func(context.Context) error) error {
		record("client " + call.Method)
		return next(tandem.ContextWithMetadata(ctx, tandem.Metadata{"role": "admin"}))
	}
	admin := dialPipe(t, srv, newServer(t, tandem.WithClientInterceptors(addRole)))
	user := dialPipe(t, srv, newServer(t))
	ctx := ctxTimeout(t, 5*time.Second)

	var q float64
	must(t, admin.Call(ctx, "Calc.Div", &q, 6.0, 3.0))
	err := user.Call(ctx, "Calc.Div", &q, 6.0, 3.0)
	wantCode(t, err, tandem.CodePermissionDenied, nil, "needs the admin role")
	must(t, user.Call(ctx, "Calc.Add", nil, 1, 2))
	must(t, admin.Go(ctx, "Calc.Div", &q, 1.0, 1.0).Wait())
	must(t, admin.Notify(ctx, "Calc.Add", 1, 2))
	must(t, admin.Call(ctx, "Calc.Add", nil, 1, 2)) // after the notification ran

	mu.Lock()
	got := strings.Join(seen, "\n")
	mu.Unlock()
	for _, want := range []string{"client Calc.Div", "server Calc.Div ok", "server Calc.Div permission_denied", "server Calc.Add ok"} {
		if !strings.Contains(got, want) {
			t.Fatalf("interceptors saw:\n%s\nwant a line %q", got, want)
		}
	}
	// An intercepted async call can still be cancelled.
	h := watchBlock(t)
	c := admin.Go(context.Background(), "Calc.Block", nil)
	<-h.started
	c.Cancel()
	if err := c.Wait(); tandem.CodeOf(err) != tandem.CodeCanceled {
		t.Fatalf("cancelled intercepted call: %v", err)
	}
	<-h.ended
}
