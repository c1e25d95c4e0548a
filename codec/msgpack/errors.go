package msgpack

import (
	"errors"
	"fmt"
)

// Errors returned by [Codec.DecodeList] when the input is malformed. They are wrapped with
// the offset at which the problem was found; test for them with [errors.Is].
var (
	// ErrNotList means the input does not start with a MessagePack array.
	ErrNotList = errors.New("msgpack: input is not a list")
	// ErrTruncated means the input ends inside a value, or a declared length (of a string,
	// binary, extension, array or map) needs more bytes than remain.
	ErrTruncated = errors.New("msgpack: declared length exceeds the input")
	// ErrTooDeep means arrays and maps nest deeper than [Codec.MaxDepth].
	ErrTooDeep = errors.New("msgpack: nesting exceeds MaxDepth")
	// ErrInvalidCode means the input holds the reserved type code 0xc1.
	ErrInvalidCode = errors.New("msgpack: invalid type code")
	// ErrTrailingBytes means bytes follow the end of the list.
	ErrTrailingBytes = errors.New("msgpack: trailing bytes after the list")
	// ErrPanic means the underlying library panicked; the panic was recovered. It is
	// wrapped in an [*ElementError].
	ErrPanic = errors.New("msgpack: library panicked")
)

// ElementError reports that element Index of a list could not be encoded or decoded, for
// example because its type does not match the value on the wire.
type ElementError struct {
	// Index is the position of the element in the list.
	Index int
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *ElementError) Error() string {
	return fmt.Sprintf("msgpack: element %d: %v", e.Index, e.Err)
}

// Unwrap returns [ElementError.Err].
func (e *ElementError) Unwrap() error { return e.Err }

func at(err error, off int) error { return fmt.Errorf("%w at offset %d", err, off) }
