package tandem

import "strconv"

// Code classifies an [Error]. The values and their meanings follow gRPC's status codes, so
// they are familiar and map one-to-one onto other systems; they are part of the protocol.
type Code uint16

// The codes. CodeOK is never carried by an error.
const (
	CodeOK                 Code = 0  // not an error
	CodeCanceled           Code = 1  // the caller cancelled the call
	CodeUnknown            Code = 2  // a handler returned an error without a code
	CodeInvalidArgument    Code = 3  // the arguments do not fit the method's signature
	CodeDeadlineExceeded   Code = 4  // the call's deadline passed
	CodeNotFound           Code = 5  // unknown service or method
	CodeAlreadyExists      Code = 6  // for handlers: what was to be created exists
	CodePermissionDenied   Code = 7  // for handlers and interceptors: not allowed
	CodeResourceExhausted  Code = 8  // a limit was hit: frame too large, queue full
	CodeFailedPrecondition Code = 9  // the system is not in a state to run the call
	CodeAborted            Code = 10 // for handlers: the operation was aborted
	CodeOutOfRange         Code = 11 // for handlers: a value is out of range
	CodeUnimplemented      Code = 12 // for handlers: not implemented
	CodeInternal           Code = 13 // an invariant broke, e.g. a handler panicked
	CodeUnavailable        Code = 14 // the connection is lost or the peer is shutting down
	CodeDataLoss           Code = 15 // for handlers: unrecoverable data loss
	CodeUnauthenticated    Code = 16 // the peer did not prove who it is
)

var codeNames = [...]string{
	"ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
	"already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
	"aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
	"unauthenticated",
}

// String returns the code's name in snake case, as in "deadline_exceeded".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "code_" + strconv.Itoa(int(c))
}
