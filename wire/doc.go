// Package wire encodes and decodes tandem's binary protocol: the connection handshake and
// the length-prefixed frames that follow it. docs/protocol.md in the repository is the
// specification; this package is its reference implementation.
//
// Every decoder here checks declared lengths against its limits and against the bytes
// present before it allocates, and reports malformed input with typed errors.
//
//	n, err := wire.ReadLength(r, &hdr, wire.DefaultMaxFrameSize)
//	buf := make([]byte, n)
//	_, err = io.ReadFull(r, buf)
//	f, err := wire.Parse(buf, nil)
package wire
