package tandem

import "context"

// CallInfo describes a call to interceptors.
type CallInfo struct {
	// Method is the "Service.Method" called.
	Method string
	// Peer is the other side: the caller for a [ServerInterceptor], the callee for a
	// [ClientInterceptor].
	Peer *Peer
	// Notify is set for a one-way call, which has no result.
	Notify bool
}

// ServerInterceptor runs around every incoming call and notification on a [Server], after
// the method was found and before its arguments are decoded. It may refuse the call by
// returning an error without calling next (authorization), pass next a derived context, or
// observe the result and duration (logging, metrics). Identity and metadata are in ctx.
type ServerInterceptor func(ctx context.Context, call CallInfo, next func(context.Context) (any, error)) (any, error)

// ClientInterceptor runs around every outgoing [Peer.Call], [Peer.Go] and [Peer.Notify].
// It may change the context (to add metadata), refuse the call, or observe its outcome.
// args are the call's arguments; they must not be retained.
type ClientInterceptor func(ctx context.Context, call CallInfo, args []any, next func(context.Context) error) error

// WithServerInterceptors adds interceptors for incoming calls; the first given is the
// outermost. Default: none.
func WithServerInterceptors(is ...ServerInterceptor) Option {
	return optionFunc(func(cfg *config) error {
		cfg.serverInterceptors = append(cfg.serverInterceptors, is...)
		return nil
	})
}

// WithClientInterceptors adds interceptors for outgoing calls; the first given is the
// outermost. Default: none.
func WithClientInterceptors(is ...ClientInterceptor) Option {
	return optionFunc(func(cfg *config) error {
		cfg.clientInterceptors = append(cfg.clientInterceptors, is...)
		return nil
	})
}

// interceptIncoming runs the server interceptors around the job's handler.
func (p *Peer) interceptIncoming(j *job, call func(context.Context) (any, error)) (any, error) {
	is := p.cfg.serverInterceptors
	info := CallInfo{Method: j.method.full, Peer: p, Notify: j.notify}
	var step func(i int) func(context.Context) (any, error)
	step = func(i int) func(context.Context) (any, error) {
		if i == len(is) {
			return call
		}
		return func(ctx context.Context) (any, error) { return is[i](ctx, info, step(i+1)) }
	}
	return step(0)(j.ctx)
}

// interceptOutgoing runs the client interceptors around an outgoing call.
func (p *Peer) interceptOutgoing(ctx context.Context, info CallInfo, args []any, call func(context.Context) error) error {
	is := p.cfg.clientInterceptors
	var step func(i int) func(context.Context) error
	step = func(i int) func(context.Context) error {
		if i == len(is) {
			return call
		}
		return func(ctx context.Context) error { return is[i](ctx, info, args, step(i+1)) }
	}
	return step(0)(ctx)
}
