package gob

import (
	"errors"
	"fmt"
)

// Errors returned by [Codec.DecodeList] when the input is malformed; test for them with
// [errors.Is].
var (
	// ErrTruncated means the input ends inside a message or value, or a declared length or
	// count needs more bytes than remain.
	ErrTruncated = errors.New("gob: declared length exceeds the input")
	// ErrTooDeep means composite values (structs, slices, arrays, maps, interfaces) nest
	// deeper than [Codec.MaxDepth].
	ErrTooDeep = errors.New("gob: nesting exceeds MaxDepth")
	// ErrMalformed means the input is not a gob stream of the shape this codec writes: an
	// unknown or redefined type, extra bytes in a message, a value count that does not
	// match the list header, or a header encoding/gob rejects.
	ErrMalformed = errors.New("gob: malformed input")
	// ErrTrailingBytes means the stream goes on after the list's last element.
	ErrTrailingBytes = errors.New("gob: trailing bytes after the list")
	// ErrUnknownType means an element was decoded into a *any, but its type is not one
	// [Codec] can name; decode it into a pointer to its type instead.
	ErrUnknownType = errors.New("gob: type cannot be decoded into *any")
	// ErrPanic means encoding/gob, or a GobEncode or GobDecode method, panicked; the panic
	// was recovered. It is wrapped in an [*ElementError].
	ErrPanic = errors.New("gob: library panicked")
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
	return fmt.Sprintf("gob: element %d: %v", e.Index, e.Err)
}

// Unwrap returns [ElementError.Err].
func (e *ElementError) Unwrap() error { return e.Err }
