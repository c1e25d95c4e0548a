package contract

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tandem-rpc/tandem"
)

// Contract is what a client and a server must agree on for one service: the service's name
// and the name and signature of each method, sorted by name. Signatures are rendered as
// tandem renders them for introspection, such as
// "func(ctx context.Context, a int, b int) (int, error)", so a contract matches a server
// whether it registered the service with generated code or with [tandem.Server.Register].
type Contract struct {
	// Service is the name the service is registered under, such as "Calculator".
	Service string
	// Methods lists the methods, sorted by name.
	Methods []tandem.MethodInfo
}

// Fingerprint returns a short hash of the contract (service, method names and signatures),
// for logs and version displays. Equal contracts have equal fingerprints.
func (c Contract) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte(c.Service))
	for _, m := range c.Methods {
		h.Write([]byte{0})
		h.Write([]byte(m.Name))
		h.Write([]byte{0})
		h.Write([]byte(m.Signature))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Diff is one method on which a client's contract and a server's service disagree.
type Diff struct {
	// Method is the method's name.
	Method string
	// Want is the signature the client expects.
	Want string
	// Have is the signature the server has, or "" if it has no such method.
	Have string
}

// String describes the difference in one line.
func (d Diff) String() string {
	if d.Have == "" {
		return d.Method + ": missing on the server (client expects " + d.Want + ")"
	}
	return d.Method + ": client expects " + d.Want + ", server has " + d.Have
}

// MismatchError reports that the other side does not serve a contract: the service is
// absent, or some methods are missing or have other signatures. It unwraps to a
// [tandem.Error] with [tandem.CodeFailedPrecondition], so [tandem.CodeOf] classifies it.
type MismatchError struct {
	// Service is the contract's service name.
	Service string
	// Fingerprint is the client contract's [Contract.Fingerprint].
	Fingerprint string
	// Absent is set when the server has no service of that name; Diffs is then empty.
	Absent bool
	// Available lists the server's services when Absent is set.
	Available []string
	// Diffs lists the methods that differ, sorted by name.
	Diffs []Diff
}

// Error lists the methods that differ.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tandem: contract %s (%s) does not match the server", e.Service, e.Fingerprint)
	if e.Absent {
		fmt.Fprintf(&b, ": it has no service %s (it has %s)", e.Service, strings.Join(e.Available, ", "))
		return b.String()
	}
	b.WriteString(": ")
	for i, d := range e.Diffs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// Unwrap returns the error as a [tandem.Error] with [tandem.CodeFailedPrecondition].
func (e *MismatchError) Unwrap() error {
	return tandem.NewError(tandem.CodeFailedPrecondition, strings.TrimPrefix(e.Error(), "tandem: "))
}

// Compare checks c against the services a server describes, as [tandem.IntrospectionService]
// returns them. It returns nil if they match and a [*MismatchError] otherwise.
func Compare(c Contract, services []tandem.ServiceInfo) error {
	var svc *tandem.ServiceInfo
	names := make([]string, 0, len(services))
	for i := range services {
		names = append(names, services[i].Name)
		if services[i].Name == c.Service {
			svc = &services[i]
		}
	}
	e := &MismatchError{Service: c.Service, Fingerprint: c.Fingerprint()}
	if svc == nil {
		e.Absent, e.Available = true, names
		return e
	}
	have := make(map[string]string, len(svc.Methods))
	for _, m := range svc.Methods {
		have[m.Name] = m.Signature
	}
	for _, m := range c.Methods {
		if sig, ok := have[m.Name]; !ok || sig != m.Signature {
			e.Diffs = append(e.Diffs, Diff{Method: m.Name, Want: m.Signature, Have: sig})
		}
	}
	if len(e.Diffs) == 0 {
		return nil
	}
	return e
}

// Check asks the other side of caller (a [*tandem.Peer] or [*tandem.Client]) to describe
// its services and compares c with them. It returns a [*MismatchError] if they differ, or
// the call's error if the description could not be had. Through a Client, it checks the
// server of the connection it calls on, which a reconnection may replace.
func Check(ctx context.Context, caller tandem.Caller, c Contract) error {
	var services []tandem.ServiceInfo
	if err := caller.Call(ctx, tandem.IntrospectionService+".Describe", &services); err != nil {
		return err
	}
	return Compare(c, services)
}

// IsMismatch reports whether err's chain holds a [*MismatchError].
func IsMismatch(err error) bool {
	var m *MismatchError
	return errors.As(err, &m)
}
