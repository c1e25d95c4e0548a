package tandem

// Codec turns lists of Go values into bytes and back: a call's arguments travel as one list,
// its result as a list of zero or one element. The codec is agreed in the handshake by name.
// Implementations must be safe for concurrent use and must treat their input as hostile:
// bounded depth, declared lengths checked against the bytes present, no panics.
//
// tandem ships three: codec/msgpack (the default), codec/json and codec/gob.
type Codec interface {
	// Name identifies the codec in the connection handshake ("msgpack", "gob", "json").
	Name() string
	// AppendList appends vals, encoded as one list of len(vals) elements, to dst and
	// returns the extended slice.
	AppendList(dst []byte, vals []any) ([]byte, error)
	// DecodeList reads the list in src and returns n, the number of elements it holds.
	// When n == len(ptrs) it decodes element i into ptrs[i], a non-nil pointer, or skips it
	// when ptrs[i] is nil. When n != len(ptrs) it decodes nothing and returns n with a nil
	// error, so the caller can report the count mismatch. Trailing bytes are an error.
	// Decoded values must not alias src: tandem reuses the buffer afterwards.
	DecodeList(src []byte, ptrs []any) (n int, err error)
}

// listExcepter is a [Codec] that can encode a list without copying its large byte slices
// and strings, which tandem then writes from where they lie, in the same vectored write as
// the rest of the frame. codec/msgpack implements it; a codec of one's own may too.
type listExcepter interface {
	// AppendListExcept is AppendList, except that for each index i in except (ascending;
	// vals[i] is a []byte or a string) only the header of vals[i] is appended. For each
	// such value, in order, it appends to at the offset in the returned slice at which the
	// value's bytes belong. The encoding with the bytes put back at those offsets must be
	// what AppendList would have produced.
	AppendListExcept(dst []byte, vals []any, except, at []int) (out []byte, _ []int, err error)
}

// listBorrower is a [Codec] that can decode byte slices as views of its input rather than
// copies, for services registered [WithBorrowedBytes]. codec/msgpack implements it.
type listBorrower interface {
	// DecodeListBorrowing is DecodeList, except that a byte slice decoded into a *[]byte
	// element of ptrs is a view of src (its capacity cut to its length), not a copy.
	DecodeListBorrowing(src []byte, ptrs []any) (n int, err error)
}
