package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a CA and certificates it signed, as PEM files in a temporary directory.
type pki struct {
	ca                    string // the CA's certificate
	serverCert, serverKey string // for 127.0.0.1 and localhost
	clientCert, clientKey string // common name "bob"
	otherCA               string // a CA that signed none of the above
}

// newPKI writes a CA, a server certificate and a client certificate to a temporary
// directory.
func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	newCA := func(file string, serial int64) (*x509.Certificate, *ecdsa.PrivateKey, string) {
		key := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: file},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key, write(file+".pem", "CERTIFICATE", der)
	}
	ca, caKey, caFile := newCA("ca", 1)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, tmpl x509.Certificate) (string, string) {
		key := newKey()
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.Subject = pkix.Name{CommonName: name}
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "PRIVATE KEY", keyDER)
	}
	p := &pki{ca: caFile}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth,
		x509.Certificate{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}})
	p.clientCert, p.clientKey = leaf("bob", 3, x509.ExtKeyUsageClientAuth, x509.Certificate{})
	_, _, p.otherCA = newCA("other-ca", 4)
	return p
}

// quick runs the CLI and checks that it ended well within limit: a refused connection must
// fail at once, not at a timeout.
func quick(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	start := time.Now()
	r := runTandem(t, args...)
	if d := time.Since(start); d > limit {
		t.Errorf("tandem %s took %v, want under %v", strings.Join(args, " "), d, limit)
	}
	return r
}

func TestServeMutualTLS(t *testing.T) {
	p := newPKI(t)
	srv := startServe(t, "-tls-cert", p.serverCert, "-tls-key", p.serverKey, "-tls-ca", p.ca, "tcp://127.0.0.1:0")
	client := []string{"-tls-ca", p.ca, "-tls-client-cert", p.clientCert, "-tls-client-key", p.clientKey}

	t.Run("call", func(t *testing.T) {
		t.Parallel()
		for _, codec := range []string{"json", "msgpack"} {
			r := runTandem(t, append(append([]string{"call", "-codec", codec}, client...), srv.addr, "Calc.Add", "2", "3")...)
			if r.code != 0 || r.stdout != "5\n" || r.stderr != "" {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want 5", codec, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("identity", func(t *testing.T) {
		t.Parallel()
		r := runTandem(t, append(append([]string{"call"}, client...), srv.addr, "Calc.Whoami")...)
		if r.code != 0 || r.stdout != "\"bob\"\n" {
			t.Errorf("exit %d, stdout %q, stderr %q; want \"bob\", the certificate's name", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("list", func(t *testing.T) {
		t.Parallel()
		r := runTandem(t, append(append([]string{"list"}, client...), srv.addr)...)
		if r.code != 0 || !strings.Contains(r.stdout, "Calc (concurrent)\n") || !strings.Contains(r.stdout, "  Whoami  func(ctx context.Context) string\n") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("bench", func(t *testing.T) {
		t.Parallel()
		r := runTandem(t, append(append([]string{"bench", "-n", "50", "-c", "4"}, client...), srv.addr, "Calc.Add", "2", "3")...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Calc.Add: 50 calls in ") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	// A handshake that fails must fail within the server's handshake deadline (10s), and
	// here at once: each side learns as soon as the other speaks.
	const prompt = 5 * time.Second
	t.Run("no client certificate", func(t *testing.T) {
		t.Parallel()
		r := quick(t, prompt, "call", "-timeout", "30s", "-tls-ca", p.ca, srv.addr, "Calc.Add", "2", "3")
		wantOneLine(t, r, exitFailure, "certificate required")
	})
	t.Run("plaintext client", func(t *testing.T) {
		t.Parallel()
		r := quick(t, prompt, "call", "-timeout", "30s", srv.addr, "Calc.Add", "2", "3")
		wantOneLine(t, r, exitFailure, "does the server require TLS?")
	})
	t.Run("server not trusted", func(t *testing.T) {
		t.Parallel()
		r := quick(t, prompt, "list", "-timeout", "30s", "-tls-ca", p.otherCA, "-tls-client-cert", p.clientCert, "-tls-client-key", p.clientKey, srv.addr)
		wantOneLine(t, r, exitFailure, "certificate signed by unknown authority")
	})
	t.Run("wrong server name", func(t *testing.T) {
		t.Parallel()
		r := quick(t, prompt, append(append([]string{"list", "-tls-server-name", "example.com"}, client...), srv.addr)...)
		wantOneLine(t, r, exitFailure, "example.com")
	})
}

func TestTLSClientOnPlaintextServer(t *testing.T) {
	p := newPKI(t)
	srv := startServe(t, "tcp://127.0.0.1:0")
	r := quick(t, 5*time.Second, "call", "-timeout", "30s", "-tls-ca", p.ca, srv.addr, "Calc.Add", "2", "3")
	wantOneLine(t, r, exitFailure, "is the server serving plaintext?")
}

func TestServeTLSWithToken(t *testing.T) {
	p := newPKI(t)
	srv := startServe(t, "-tls-cert", p.serverCert, "-tls-key", p.serverKey, "-token", "s3cret", "tcp://127.0.0.1:0")
	r := runTandem(t, "call", "-tls-ca", p.ca, "-token", "s3cret", srv.addr, "Calc.Whoami")
	if r.code != 0 || r.stdout != "\"token\"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want \"token\"", r.code, r.stdout, r.stderr)
	}
	wantOneLine(t, runTandem(t, "call", "-tls-ca", p.ca, "-token", "guess", srv.addr, "Calc.Whoami"), exitFailure, "authentication failed")
}

func TestServeToken(t *testing.T) {
	srv := startServe(t, "-token", "s3cret", "unix://"+filepath.Join(t.TempDir(), "calc.sock"))
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", nil, []string{"-token", "s3cret"}},
		{"environment", []string{tokenEnv + "=s3cret"}, nil},
		{"flag over environment", []string{tokenEnv + "=wrong"}, []string{"-token", "s3cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runTandemEnv(t, tc.env, append(append([]string{"call"}, tc.args...), srv.addr, "Calc.Whoami")...)
			if r.code != 0 || r.stdout != "\"token\"\n" || r.stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want \"token\"", r.code, r.stdout, r.stderr)
			}
		})
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"wrong token", nil, []string{"-token", "s3cre"}},
		{"no token", nil, nil},
		{"wrong environment", []string{tokenEnv + "=guess"}, nil},
		{"empty flag over environment", []string{tokenEnv + "=s3cret"}, []string{"-token", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runTandemEnv(t, tc.env, append(append([]string{"list"}, tc.args...), srv.addr)...)
			wantOneLine(t, r, exitFailure, "tandem list: unauthenticated: handshake refused: authentication failed")
		})
	}
}

// TestServeTokenFromEnvironment checks that serve takes its token from $TANDEM_TOKEN and
// warns when it would travel in clear text.
func TestServeTokenFromEnvironment(t *testing.T) {
	srv := startServeEnv(t, []string{tokenEnv + "=from-env"}, "tcp://127.0.0.1:0")
	if r := runTandemEnv(t, []string{tokenEnv + "=from-env"}, "call", srv.addr, "Calc.Whoami"); r.code != 0 || r.stdout != "\"token\"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want \"token\"", r.code, r.stdout, r.stderr)
	}
	r := runTandemEnv(t, []string{tokenEnv + "=other"}, "call", srv.addr, "Calc.Whoami")
	wantOneLine(t, r, exitFailure, "authentication failed")
	if !strings.Contains(srv.stderr.String(), "warning: the token crosses the network in clear text") {
		t.Errorf("serve's stderr %q lacks the clear-text warning", srv.stderr.String())
	}
}

func TestSecurityFlagErrors(t *testing.T) {
	p := newPKI(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	addr := "tcp://127.0.0.1:0"
	for _, tc := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"serve", "-tls-cert", p.serverCert, addr}, exitUsage, "-tls-cert and -tls-key go together"},
		{[]string{"serve", "-tls-key", p.serverKey, addr}, exitUsage, "-tls-cert and -tls-key go together"},
		{[]string{"serve", "-tls-ca", p.ca, addr}, exitUsage, "-tls-ca (mutual TLS) needs the server's own -tls-cert"},
		{[]string{"call", "-tls-client-cert", p.clientCert, addr, "Calc.Add"}, exitUsage, "-tls-client-cert and -tls-client-key go together"},
		{[]string{"list", "-tls-client-key", p.clientKey, addr}, exitUsage, "-tls-client-cert and -tls-client-key go together"},
		{[]string{"serve", "-tls-cert", missing, "-tls-key", p.serverKey, addr}, exitFailure, "tandem serve: -tls-cert: stat " + missing + ": no such file"},
		{[]string{"serve", "-tls-cert", p.serverCert, "-tls-key", missing, addr}, exitFailure, "tandem serve: -tls-key: stat " + missing + ": no such file"},
		{[]string{"serve", "-tls-cert", garbage, "-tls-key", p.serverKey, addr}, exitFailure, "failed to find any PEM data in certificate input"},
		{[]string{"serve", "-tls-cert", p.serverCert, "-tls-key", p.clientKey, addr}, exitFailure, "private key does not match public key"},
		{[]string{"serve", "-tls-cert", p.serverCert, "-tls-key", p.serverKey, "-tls-ca", garbage, addr}, exitFailure, "tandem serve: -tls-ca " + garbage + ": no PEM certificate in the file"},
		{[]string{"call", "-tls-ca", missing, addr, "Calc.Add"}, exitFailure, "tandem call: -tls-ca: open " + missing + ": no such file"},
		{[]string{"list", "-tls-ca", p.ca, "-tls-client-cert", garbage, "-tls-client-key", p.clientKey, addr}, exitFailure, "tandem list: -tls-client-cert " + garbage},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			wantOneLine(t, runTandem(t, tc.args...), tc.code, tc.contains)
		})
	}
}
