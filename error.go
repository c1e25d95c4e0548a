package tandem

import (
	"context"
	"errors"
	"fmt"
)

// reason pins an [Error] to one of the exported sentinels, so errors.Is works on errors that
// crossed the wire. Values are part of the protocol (the error frame carries them).
type reason uint16

const (
	reasonNone reason = iota
	reasonUnknownService
	reasonUnknownMethod
	reasonBadArguments
	reasonHandlerPanic
	reasonShuttingDown
	reasonFrameTooLarge
	reasonOverloaded
	reasonConnectionLost
	reasonClosed
	reasonProtocol
	reasonHandshake
)

// Sentinel errors for the states callers branch on. Match them with errors.Is; the errors
// tandem returns carry more detail in their message.
var (
	// ErrUnknownService: the peer has no service of that name.
	ErrUnknownService = sentinel(CodeNotFound, reasonUnknownService, "unknown service")
	// ErrUnknownMethod: the service has no exported method of that name.
	ErrUnknownMethod = sentinel(CodeNotFound, reasonUnknownMethod, "unknown method")
	// ErrBadArguments: the arguments do not match the method's signature.
	ErrBadArguments = sentinel(CodeInvalidArgument, reasonBadArguments, "bad arguments")
	// ErrHandlerPanic: the handler panicked; the peer recovered and kept serving.
	ErrHandlerPanic = sentinel(CodeInternal, reasonHandlerPanic, "handler panicked")
	// ErrShuttingDown: the peer is shutting down and accepts no new calls. Calls that fail
	// with it were never started, so they are safe to retry elsewhere.
	ErrShuttingDown = sentinel(CodeUnavailable, reasonShuttingDown, "shutting down")
	// ErrFrameTooLarge: a call or its result exceeds the receiver's maximum frame size.
	ErrFrameTooLarge = sentinel(CodeResourceExhausted, reasonFrameTooLarge, "frame too large")
	// ErrOverloaded: a serialized service's or pump's queue is full; the call was not started.
	ErrOverloaded = sentinel(CodeResourceExhausted, reasonOverloaded, "overloaded")
	// ErrConnectionLost: the connection ended before the call completed.
	ErrConnectionLost = sentinel(CodeUnavailable, reasonConnectionLost, "connection lost")
	// ErrClosed: the peer or server was closed locally.
	ErrClosed = sentinel(CodeUnavailable, reasonClosed, "closed")
	// ErrProtocol: the other side broke the protocol; the connection was closed.
	ErrProtocol = sentinel(CodeInternal, reasonProtocol, "protocol violation")
	// ErrHandshake: the connection could not be established (version, codec, not tandem).
	ErrHandshake = sentinel(CodeUnavailable, reasonHandshake, "handshake failed")
)

func sentinel(c Code, r reason, msg string) *Error {
	return &Error{Code: c, Message: msg, reason: r}
}

// Error is the error tandem returns for a failed call, local or remote. Handlers may return
// one (see [NewError]) to choose the code, message and details the caller receives.
type Error struct {
	// Code classifies the error.
	Code Code
	// Message describes it for people.
	Message string
	// Details carries extra data from the handler, verbatim. It may be nil.
	Details map[string]string

	reason reason
	remote bool
	cause  error
}

// NewError returns an error with the given code and message, for handlers to return.
func NewError(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf is [NewError] with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail returns a copy of e with one more detail entry.
func (e *Error) WithDetail(key, value string) *Error {
	c := *e
	c.Details = make(map[string]string, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// Error formats the error as "tandem: [remote ]code: message".
func (e *Error) Error() string {
	where := ""
	if e.remote {
		where = "remote "
	}
	return "tandem: " + where + e.Code.String() + ": " + e.Message
}

// Unwrap returns the local cause, such as a context or network error, if any.
func (e *Error) Unwrap() error { return e.cause }

// Remote reports whether the error was produced by the other peer and carried back over the
// connection, as opposed to raised on this side.
func (e *Error) Remote() bool { return e.remote }

// Is makes errors.Is match the package's sentinels across the wire, and matches
// context.DeadlineExceeded and context.Canceled by code.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == CodeDeadlineExceeded
	case context.Canceled:
		return e.Code == CodeCanceled
	}
	t, ok := target.(*Error)
	return ok && t.reason != reasonNone && t.reason == e.reason
}

// CodeOf returns the code of the first [*Error] in err's chain; CodeOK for nil; for other
// errors, CodeDeadlineExceeded or CodeCanceled for context errors and CodeUnknown otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	}
	return CodeUnknown
}

// IsRemote reports whether err's chain holds an [*Error] that came from the other peer.
func IsRemote(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.remote
}

// newErr builds a local error tied to a sentinel, with a specific message and cause.
func newErr(s *Error, cause error, format string, args ...any) *Error {
	return &Error{Code: s.Code, Message: fmt.Sprintf(format, args...), reason: s.reason, cause: cause}
}

// contextError turns a context's end into the matching *Error.
func contextError(ctx context.Context, method string) *Error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil {
		err = cause
	}
	code := CodeCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = CodeDeadlineExceeded
	}
	return &Error{Code: code, Message: method + ": " + err.Error(), cause: err}
}

// toWireError converts a handler's error into the error sent back to the caller.
func toWireError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeOf(err), Message: err.Error()}
}
