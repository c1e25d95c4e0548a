package json

import (
	"errors"
	"fmt"
)

// Errors returned by [Codec.DecodeList] when the input is malformed; test for them with
// [errors.Is].
var (
	// ErrNotList means the input is not a JSON array.
	ErrNotList = errors.New("json: input is not a list")
	// ErrSyntax means the input is not valid JSON. It wraps the [*encoding/json.SyntaxError]
	// when there is one.
	ErrSyntax = errors.New("json: invalid JSON")
	// ErrTooDeep means arrays and objects nest deeper than [Codec.MaxDepth].
	ErrTooDeep = errors.New("json: nesting exceeds MaxDepth")
	// ErrTrailingBytes means something other than white space follows the list.
	ErrTrailingBytes = errors.New("json: trailing bytes after the list")
	// ErrPanic means encoding/json, or a MarshalJSON or UnmarshalJSON method, panicked; the
	// panic was recovered. It is wrapped in an [*ElementError].
	ErrPanic = errors.New("json: library panicked")
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
	return fmt.Sprintf("json: element %d: %v", e.Index, e.Err)
}

// Unwrap returns [ElementError.Err].
func (e *ElementError) Unwrap() error { return e.Err }

func at(err error, off int) error { return fmt.Errorf("%w at offset %d", err, off) }
