package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/tandem-rpc/tandem"
)

// tokenEnv names the environment variable that stands in for -token, so that a token need
// not appear in the process list.
const tokenEnv = "TANDEM_TOKEN"

// tokenName is the identity a caller holding serve's shared token gets, when no client
// certificate names it.
const tokenName = "token"

// serveSecurity is serve's TLS and authentication flags.
type serveSecurity struct {
	fs                   *flag.FlagSet
	cert, key, ca, token string
}

func (f *serveSecurity) register(c *cli) {
	f.fs = c.fs
	c.fs.StringVar(&f.cert, "tls-cert", "", "serve TLS with the PEM certificate (chain) in `file`; needs -tls-key")
	c.fs.StringVar(&f.key, "tls-key", "", "the private key of -tls-cert, a PEM `file`")
	c.fs.StringVar(&f.ca, "tls-ca", "", "require client certificates signed by a CA in this PEM `file` (mutual TLS); callers are known by their certificate's common name")
	c.fs.StringVar(&f.token, "token", "", "accept only callers that send this shared `secret`; default $"+tokenEnv)
}

// check reports a wrong combination of flags, as a usage error.
func (f *serveSecurity) check() error {
	switch {
	case (f.cert == "") != (f.key == ""):
		return errors.New("-tls-cert and -tls-key go together")
	case f.ca != "" && f.cert == "":
		return errors.New("-tls-ca (mutual TLS) needs the server's own -tls-cert and -tls-key")
	}
	return nil
}

// options loads the files the flags name and returns the server's TLS and authentication
// options. With -tls-ca, callers need a certificate from that CA; with a token they need
// the token too, and are known by their certificate's name if they have one.
func (f *serveSecurity) options() ([]tandem.Option, error) {
	token := flagOrEnv(f.fs, "token", f.token)
	var opts []tandem.Option
	if f.cert != "" {
		cert, err := loadKeyPair("-tls-cert", f.cert, "-tls-key", f.key)
		if err != nil {
			return nil, err
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if f.ca != "" {
			if cfg.ClientCAs, err = loadCAs("-tls-ca", f.ca); err != nil {
				return nil, err
			}
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		opts = append(opts, tandem.WithTLS(cfg))
	}
	switch {
	case token != "":
		opts = append(opts, tandem.WithAuthenticator(tokenOrCertAuth(token)))
	case f.ca != "":
		opts = append(opts, tandem.WithAuthenticator(tandem.MutualTLSAuth()))
	}
	return opts, nil
}

// plaintextToken reports whether the flags send a token over plain TCP, where anyone on
// the path can read it.
func (f *serveSecurity) plaintextToken(addr string) bool {
	return f.cert == "" && flagOrEnv(f.fs, "token", f.token) != "" && !strings.HasPrefix(addr, "unix://")
}

// tokenOrCertAuth accepts callers that send token. A caller is known by its verified
// client certificate's common name if it has one, else as [tokenName].
func tokenOrCertAuth(token string) tandem.Authenticator {
	check := tandem.TokenAuth(map[string]string{token: tokenName})
	return tandem.AuthenticatorFunc(func(ctx context.Context, info tandem.AuthInfo) (tandem.Identity, error) {
		id, err := check.Authenticate(ctx, info)
		if err != nil {
			return id, err
		}
		if st := info.TLS; st != nil && len(st.VerifiedChains) > 0 && st.PeerCertificates[0].Subject.CommonName != "" {
			id.Name = st.PeerCertificates[0].Subject.CommonName
		}
		return id, nil
	})
}

// dialSecurity is the TLS and authentication flags of the commands that dial.
type dialSecurity struct {
	fs                               *flag.FlagSet
	tls                              bool
	ca, cert, key, serverName, token string
}

func (f *dialSecurity) register(c *cli) {
	f.fs = c.fs
	c.fs.BoolVar(&f.tls, "tls", false, "dial with TLS, verifying the server against the system's CAs or -tls-ca (implied by the other -tls flags)")
	c.fs.StringVar(&f.ca, "tls-ca", "", "verify the server's certificate against the CAs in this PEM `file`")
	c.fs.StringVar(&f.cert, "tls-client-cert", "", "present the PEM client certificate in `file` (for mutual TLS); needs -tls-client-key")
	c.fs.StringVar(&f.key, "tls-client-key", "", "the private key of -tls-client-cert, a PEM `file`")
	c.fs.StringVar(&f.serverName, "tls-server-name", "", "the `name` the server's certificate must hold; default: the host in ADDR")
	c.fs.StringVar(&f.token, "token", "", "send this shared `secret` to authenticate; default $"+tokenEnv)
}

// check reports a wrong combination of flags, as a usage error.
func (f *dialSecurity) check() error {
	if (f.cert == "") != (f.key == "") {
		return errors.New("-tls-client-cert and -tls-client-key go together")
	}
	return nil
}

// usesTLS reports whether the flags ask for TLS.
func (f *dialSecurity) usesTLS() bool {
	return f.tls || f.ca != "" || f.cert != "" || f.serverName != ""
}

// options loads the files the flags name and returns the dialer's TLS and credential
// options.
func (f *dialSecurity) options() ([]tandem.Option, error) {
	var opts []tandem.Option
	if token := flagOrEnv(f.fs, "token", f.token); token != "" {
		opts = append(opts, tandem.WithCredentials([]byte(token)))
	}
	if !f.usesTLS() {
		return opts, nil
	}
	cfg := &tls.Config{ServerName: f.serverName, MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pool, err := loadCAs("-tls-ca", f.ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.cert != "" {
		cert, err := loadKeyPair("-tls-client-cert", f.cert, "-tls-client-key", f.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return append(opts, tandem.WithTLS(cfg)), nil
}

// explain adds a hint to a failed dial when the likely cause is a TLS mismatch: a server
// that drops a connection during the handshake without a word is usually one that expects
// TLS when the dialer spoke plaintext, or the reverse.
func (f *dialSecurity) explain(err error) error {
	if !errors.Is(err, tandem.ErrHandshake) || !closedByPeer(err) {
		return err
	}
	if f.usesTLS() {
		return fmt.Errorf("%w (is the server serving plaintext? dial it without the -tls flags)", err)
	}
	return fmt.Errorf("%w (does the server require TLS? dial it with -tls or -tls-ca)", err)
}

// closedByPeer reports whether err says the other side closed or reset the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// flagOrEnv returns the named flag's value if it was given, even empty, else $TANDEM_TOKEN.
func flagOrEnv(fs *flag.FlagSet, name, value string) string {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	if given {
		return value
	}
	return os.Getenv(tokenEnv)
}

// loadKeyPair loads a PEM certificate and its key, naming the flags in errors.
func loadKeyPair(certFlag, certFile, keyFlag, keyFile string) (tls.Certificate, error) {
	for _, f := range [][2]string{{certFlag, certFile}, {keyFlag, keyFile}} {
		if _, err := os.Stat(f[1]); err != nil {
			return tls.Certificate{}, fmt.Errorf("%s: %w", f[0], err)
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %s, %s %s: %w", certFlag, certFile, keyFlag, keyFile, err)
	}
	return cert, nil
}

// loadCAs loads the PEM certificates in file as a pool of CAs.
func loadCAs(flagName, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in the file", flagName, file)
	}
	return pool, nil
}
