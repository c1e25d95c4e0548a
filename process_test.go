package tandem_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-rpc/tandem"
)

const childEnv = "TANDEM_TEST_CHILD"

var (
	tlsOnce sync.Once
	tlsConf *tls.Config
)

// testTLS returns a server TLS config with a self-signed certificate for 127.0.0.1; its
// RootCAs field holds the pool a client needs to trust it.
func testTLS(t *testing.T) *tls.Config {
	tlsOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "tandem test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, _ := x509.ParseCertificate(der)
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		tlsConf = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, RootCAs: pool}
	})
	return tlsConf
}

// runChild is the body of a child test process: it serves a Calc on the address in the
// environment, prints "ready ADDR", and, as a peer that also calls back, exits on SIGTERM.
func runChild() {
	srv, err := tandem.NewServer()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if err := srv.Register(&Calc{}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if err := srv.Register(&Caller{}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ln, err := tandem.Listen(os.Getenv(childEnv))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("ready %s://%s\n", ln.Addr().Network(), ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	srv.Serve(ln)
	os.Exit(0)
}

// Caller calls back into whoever calls it.
type Caller struct{}

// Twice asks the calling peer to double x, through its Doubler service.
func (Caller) Twice(ctx context.Context, x int) (int, error) {
	var r int
	err := tandem.PeerFromContext(ctx).Call(ctx, "Doubler.Double", &r, x)
	return r, err
}

// Doubler is exposed by clients for Caller to call back.
type Doubler struct{}

// Double returns 2x.
func (Doubler) Double(x int) int { return 2 * x }

// startChild runs this test binary as a server process on addr and returns the address it
// listens on and the process.
func startChild(t *testing.T, addr string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+addr)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q %v", line, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return strings.TrimSpace(strings.TrimPrefix(line, "ready ")), cmd
}

func TestSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, addr := range []string{"tcp://127.0.0.1:0", "unix://" + t.TempDir() + "/child.sock"} {
		t.Run(strings.SplitN(addr, ":", 2)[0], func(t *testing.T) {
			target, cmd := startChild(t, addr)
			client := newServer(t)
			must(t, client.Register(Doubler{}))
			p, err := client.Dial(ctxTimeout(t, 5*time.Second), target)
			must(t, err)
			defer p.Close()

			var sum int
			must(t, p.Call(ctxTimeout(t, 5*time.Second), "Calc.Add", &sum, 20, 22))
			if sum != 42 {
				t.Fatalf("Calc.Add = %d, want 42", sum)
			}
			var twice int
			must(t, p.Call(ctxTimeout(t, 5*time.Second), "Caller.Twice", &twice, 21))
			if twice != 42 {
				t.Fatalf("Caller.Twice = %d, want 42 (the child calls back into us)", twice)
			}

			// Kill the server with calls in flight: all fail at once with connection lost,
			// not at their deadline.
			const n = 50
			calls := make([]*tandem.Call, n)
			for i := range calls {
				calls[i] = p.Go(ctxTimeout(t, time.Minute), "Calc.Block", nil)
			}
			// A round trip after the Go calls proves they reached the server.
			must(t, p.Call(ctxTimeout(t, 5*time.Second), "Calc.Add", &sum, 1, 1))
			must(t, cmd.Process.Signal(syscall.SIGKILL))
			for _, c := range calls {
				err := c.Wait()
				if !errors.Is(err, tandem.ErrConnectionLost) {
					t.Fatalf("call after SIGKILL: %v, want ErrConnectionLost", err)
				}
			}
			<-p.Done()
			if !errors.Is(p.Err(), tandem.ErrConnectionLost) {
				t.Fatalf("peer.Err() = %v, want ErrConnectionLost", p.Err())
			}
		})
	}
}
