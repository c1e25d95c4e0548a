package tandem

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"net"
)

// Identity is who the other side of a connection proved to be during the handshake, as
// established by an [Authenticator]. Handlers find their caller's with [IdentityFromContext].
type Identity struct {
	// Name identifies the peer, such as a user or service name. Empty when unauthenticated.
	Name string
	// TLS is the connection's TLS state when it runs over TLS, with the verified client
	// certificates under mutual TLS; nil otherwise.
	TLS *tls.ConnectionState
}

// AuthInfo is what an [Authenticator] sees of a new connection.
type AuthInfo struct {
	// Credentials are the bytes the dialer sent with [WithCredentials] (at most 4 KiB).
	Credentials []byte
	// RemoteAddr is the dialer's network address.
	RemoteAddr net.Addr
	// TLS is the connection's TLS state, or nil for a plaintext connection.
	TLS *tls.ConnectionState
}

// Authenticator decides, during the handshake and before any call is read, whether a dialer
// may use the server. It returns the identity handlers will see, or an error to refuse the
// connection. The dialer learns only that authentication failed; the error is logged on the
// accepting side.
type Authenticator interface {
	Authenticate(ctx context.Context, info AuthInfo) (Identity, error)
}

// AuthenticatorFunc adapts a function to [Authenticator].
type AuthenticatorFunc func(ctx context.Context, info AuthInfo) (Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, info AuthInfo) (Identity, error) {
	return f(ctx, info)
}

// ErrBadCredentials is returned by the built-in authenticators when credentials do not match.
var ErrBadCredentials = errors.New("tandem: bad credentials")

// TokenAuth accepts dialers that send one of the given shared tokens with [WithCredentials];
// the map goes from token to the identity name handlers see. Tokens are compared in
// constant time.
func TokenAuth(tokens map[string]string) Authenticator {
	type entry struct {
		token []byte
		name  string
	}
	var list []entry
	for tok, name := range tokens {
		list = append(list, entry{[]byte(tok), name})
	}
	return AuthenticatorFunc(func(_ context.Context, info AuthInfo) (Identity, error) {
		match := -1
		for i, e := range list {
			// Compare against every token, so timing does not tell which one was close.
			if subtle.ConstantTimeCompare(e.token, info.Credentials) == 1 {
				match = i
			}
		}
		if match < 0 || len(info.Credentials) == 0 {
			return Identity{}, ErrBadCredentials
		}
		return Identity{Name: list[match].name, TLS: info.TLS}, nil
	})
}

// MutualTLSAuth accepts dialers that presented a client certificate verified by the
// server's tls.Config (ClientAuth must be tls.RequireAndVerifyClientCert or
// tls.VerifyClientCertIfGiven); the identity name is the certificate's subject common name.
func MutualTLSAuth() Authenticator {
	return AuthenticatorFunc(func(_ context.Context, info AuthInfo) (Identity, error) {
		if info.TLS == nil || len(info.TLS.VerifiedChains) == 0 || len(info.TLS.PeerCertificates) == 0 {
			return Identity{}, errors.New("tandem: no verified client certificate")
		}
		return Identity{Name: info.TLS.PeerCertificates[0].Subject.CommonName, TLS: info.TLS}, nil
	})
}

// IdentityFromContext returns the identity of the peer whose call is being handled: the one
// its [Authenticator] established, or an empty one (with the TLS state, if any) when the
// server has none. ok is false outside a handler.
func IdentityFromContext(ctx context.Context) (id Identity, ok bool) {
	p := PeerFromContext(ctx)
	if p == nil {
		return Identity{}, false
	}
	return p.Identity(), true
}

// Identity returns who the other side proved to be in the handshake (see [Authenticator]).
func (p *Peer) Identity() Identity { return p.identity }

// tlsState returns conn's TLS state, or nil if conn is not TLS.
func tlsState(conn net.Conn) *tls.ConnectionState {
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}
