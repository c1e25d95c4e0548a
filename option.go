package tandem

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/codec/msgpack"
	"github.com/tandem-rpc/tandem/wire"
)

// Defaults for the settings an [Option] can change.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxFrameSize     = wire.DefaultMaxFrameSize
	DefaultMaxInflight      = 1024
	DefaultQueueSize        = 1024
	DefaultKeepalive        = 30 * time.Second
	DefaultKeepaliveTimeout = 10 * time.Second
	DefaultMinPingInterval  = 5 * time.Second
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultWriteTimeout     = 30 * time.Second
	DefaultMaxConns         = 10000
	DefaultReceiveWindow    = 512 << 10
)

// Option configures a [Server] (and so every [Peer] it serves or dials) or a [Dial].
type Option interface{ apply(*config) error }

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	codec            Codec
	accept           []Codec
	logger           *slog.Logger
	defaultTimeout   time.Duration
	handshakeTimeout time.Duration
	maxFrameSize     uint32
	maxInflight      int
	keepalive        time.Duration // <0: off
	keepaliveTimeout time.Duration
	minPingInterval  time.Duration
	idleTimeout      time.Duration // <0: off
	writeTimeout     time.Duration
	maxConns         int
	receiveWindow    int

	auth               Authenticator
	credentials        []byte
	tlsConfig          *tls.Config
	serverInterceptors []ServerInterceptor
	clientInterceptors []ClientInterceptor
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		codec:            msgpack.New(),
		defaultTimeout:   DefaultTimeout,
		handshakeTimeout: DefaultHandshakeTimeout,
		maxFrameSize:     DefaultMaxFrameSize,
		maxInflight:      DefaultMaxInflight,
		receiveWindow:    DefaultReceiveWindow,
		keepalive:        DefaultKeepalive,
		keepaliveTimeout: DefaultKeepaliveTimeout,
		minPingInterval:  DefaultMinPingInterval,
		idleTimeout:      DefaultIdleTimeout,
		writeTimeout:     DefaultWriteTimeout,
		maxConns:         DefaultMaxConns,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(c); err != nil {
			return nil, err
		}
	}
	if c.accept == nil {
		// msgpack and json are safe to take from anyone; gob is accepted only when listed
		// with WithAcceptCodecs, even if this side dials with it.
		c.accept = []Codec{msgpack.New(), json.New()}
		if n := c.codec.Name(); n != "msgpack" && n != "json" && n != "gob" {
			c.accept = append(c.accept, c.codec)
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// WithCodec sets the codec this side proposes when it dials. Default: msgpack.
func WithCodec(c Codec) Option {
	return optionFunc(func(cfg *config) error {
		if c == nil || c.Name() == "" || len(c.Name()) > 255 {
			return errors.New("tandem: WithCodec: codec must be non-nil with a name of 1 to 255 bytes")
		}
		cfg.codec = c
		return nil
	})
}

// WithAcceptCodecs sets the codecs this side accepts from peers that dial it. Default:
// msgpack, json, and the [WithCodec] codec unless it is gob. gob (Go-native, like Python's
// pickle) is accepted only if listed here.
func WithAcceptCodecs(cs ...Codec) Option {
	return optionFunc(func(cfg *config) error {
		if len(cs) == 0 {
			return errors.New("tandem: WithAcceptCodecs: need at least one codec")
		}
		for _, c := range cs {
			if c == nil || c.Name() == "" {
				return errors.New("tandem: WithAcceptCodecs: nil or unnamed codec")
			}
		}
		cfg.accept = append([]Codec(nil), cs...)
		return nil
	})
}

// WithLogger sets where protocol errors and dropped calls are logged. Default: nowhere;
// tandem never prints on its own.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(cfg *config) error { cfg.logger = l; return nil })
}

// WithDefaultTimeout sets the timeout applied to outgoing calls whose context has no
// deadline. Default: [DefaultTimeout] (30s); a negative value disables it. The other side's
// handler sees it as the call's deadline; here such a call fails with
// [CodeDeadlineExceeded] once d has passed, at most d/8 later: one periodic sweep enforces
// it for every call, rather than a timer each.
func WithDefaultTimeout(d time.Duration) Option {
	return optionFunc(func(cfg *config) error {
		if d == 0 {
			return errors.New("tandem: WithDefaultTimeout: use a negative value to disable the default timeout")
		}
		cfg.defaultTimeout = d
		return nil
	})
}

// WithHandshakeTimeout bounds the handshake of a new connection. Default:
// [DefaultHandshakeTimeout] (10s).
func WithHandshakeTimeout(d time.Duration) Option {
	return optionFunc(func(cfg *config) error {
		if d <= 0 {
			return errors.New("tandem: WithHandshakeTimeout: must be positive")
		}
		cfg.handshakeTimeout = d
		return nil
	})
}

// WithMaxFrameSize sets the largest frame this side accepts, checked from the length prefix
// before anything is allocated. Peers learn it in the handshake and refuse to send larger
// frames. Default: [DefaultMaxFrameSize] (4 MiB); the range is 1 KiB to 1 GiB.
func WithMaxFrameSize(n int) Option {
	return optionFunc(func(cfg *config) error {
		if n < 1<<10 || n > 1<<30 {
			return fmt.Errorf("tandem: WithMaxFrameSize: %d is outside 1 KiB to 1 GiB", n)
		}
		cfg.maxFrameSize = uint32(n)
		return nil
	})
}

// WithReceiveWindow sets how many bytes of large frames the other side may send ahead of
// what this side has read. Frames larger than 128 KiB travel in chunks, with other frames
// between them, and the window bounds the chunk bytes queued in front of a small call's
// frame (in the other side's buffers, the network and this side's socket). A smaller
// window keeps small calls prompt while a large transfer runs; a larger one lets a large
// transfer fill a link with a high bandwidth-delay product (it moves at most one window
// per round trip). Default: [DefaultReceiveWindow] (512 KiB); the range is 64 KiB (the
// protocol's initial window) to 1 GiB.
//
// The window applies while large frames travel alone. While calls, notifications or
// results arrive between the chunks of a large frame (and for 50ms after), this side
// keeps the window at 32 KiB, or at n if smaller: the small frames then wait behind little
// chunk data, and the large transfer slows meanwhile. On this project's benchmark machine
// a small call's p99 during a 4 MiB echo was 2.2–2.5× its idle p99 (5–7× without the
// narrowing), while the echo itself ran at 71–79 MB/s instead of 285–400.
func WithReceiveWindow(n int) Option {
	return optionFunc(func(cfg *config) error {
		if n < wire.ChunkWindow || n > 1<<30 {
			return fmt.Errorf("tandem: WithReceiveWindow: %d is outside 64 KiB to 1 GiB", n)
		}
		cfg.receiveWindow = n
		return nil
	})
}

// WithMaxInflight bounds the calls (and, counted apart, the notifications) one connection
// may have running on this side at once. The limit is announced in the handshake and a
// tandem caller waits for a free slot before sending; from a peer that sends more anyway,
// this side stops reading until a handler returns. Default: [DefaultMaxInflight] (1024).
func WithMaxInflight(n int) Option {
	return optionFunc(func(cfg *config) error {
		if n <= 0 {
			return errors.New("tandem: WithMaxInflight: must be positive")
		}
		cfg.maxInflight = n
		return nil
	})
}

// WithKeepalive makes each side ping the other after interval without receiving anything,
// and drop the connection, failing its pending calls, if nothing arrives within timeout of
// the ping. A half-open connection is so detected within interval+timeout. On TCP it also
// sets TCP_USER_TIMEOUT (Linux) to interval+timeout. Default: [DefaultKeepalive] (30s) and
// [DefaultKeepaliveTimeout] (10s); a negative interval turns keepalive off.
func WithKeepalive(interval, timeout time.Duration) Option {
	return optionFunc(func(cfg *config) error {
		if interval == 0 || (interval > 0 && timeout <= 0) {
			return errors.New("tandem: WithKeepalive: want a positive interval and timeout, or a negative interval for off")
		}
		cfg.keepalive, cfg.keepaliveTimeout = interval, timeout
		return nil
	})
}

// WithMinPingInterval sets how often the other side may ping: a peer that pings more often,
// more than a few times, is closed as a protocol violation (a ping flood). Default:
// [DefaultMinPingInterval] (5s); it must not exceed the other side's keepalive interval.
func WithMinPingInterval(d time.Duration) Option {
	return optionFunc(func(cfg *config) error {
		if d <= 0 {
			return errors.New("tandem: WithMinPingInterval: must be positive")
		}
		cfg.minPingInterval = d
		return nil
	})
}

// WithIdleTimeout closes a connection over which nothing, not even a keepalive ping, has
// arrived for d. Default: [DefaultIdleTimeout] (5 min); negative turns it off.
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(cfg *config) error {
		if d == 0 {
			return errors.New("tandem: WithIdleTimeout: use a negative value to turn it off")
		}
		cfg.idleTimeout = d
		return nil
	})
}

// WithWriteTimeout bounds each write to the connection: a peer that stops reading for d is
// dropped as a slow consumer and what was buffered for it is freed. Default:
// [DefaultWriteTimeout] (30s).
func WithWriteTimeout(d time.Duration) Option {
	return optionFunc(func(cfg *config) error {
		if d <= 0 {
			return errors.New("tandem: WithWriteTimeout: must be positive")
		}
		cfg.writeTimeout = d
		return nil
	})
}

// WithMaxConns caps the connections a [Server] holds, established or in their handshake;
// connections beyond it are closed at once. Default: [DefaultMaxConns] (10000).
func WithMaxConns(n int) Option {
	return optionFunc(func(cfg *config) error {
		if n <= 0 {
			return errors.New("tandem: WithMaxConns: must be positive")
		}
		cfg.maxConns = n
		return nil
	})
}

// WithAuthenticator makes the accepting side check every dialer's credentials in the
// handshake, before any call is read; see [TokenAuth] and [MutualTLSAuth]. Default: none,
// every dialer is accepted.
func WithAuthenticator(a Authenticator) Option {
	return optionFunc(func(cfg *config) error {
		if a == nil {
			return errors.New("tandem: WithAuthenticator: nil authenticator")
		}
		cfg.auth = a
		return nil
	})
}

// WithCredentials sets the credentials this side sends when it dials, such as a token for
// [TokenAuth]. At most 4 KiB. Default: none. Send them only over TLS or a trusted network.
func WithCredentials(b []byte) Option {
	return optionFunc(func(cfg *config) error {
		if len(b) > wire.MaxAuthSize {
			return fmt.Errorf("tandem: WithCredentials: %d bytes, limit %d", len(b), wire.MaxAuthSize)
		}
		cfg.credentials = append([]byte(nil), b...)
		return nil
	})
}

// WithTLS runs connections over TLS: [Server.Serve] wraps its listener with cfg (which needs
// a certificate) and [Server.Dial] and [Dial] wrap their connections (cfg's ServerName
// defaults to the dialed host). For mutual TLS set cfg.ClientAuth on the accepting side and
// cfg.Certificates on the dialing side. Default: plaintext.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) error {
		if cfg == nil {
			return errors.New("tandem: WithTLS: nil config")
		}
		c.tlsConfig = cfg
		return nil
	})
}
