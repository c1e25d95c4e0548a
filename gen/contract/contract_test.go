package contract_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/gen/contract"
)

var calc = contract.Contract{Service: "Calc", Methods: []tandem.MethodInfo{
	{Name: "Add", Signature: "func(ctx context.Context, a int, b int) (int, error)"},
	{Name: "Reset", Signature: "func(ctx context.Context) error"},
}}

func TestCompare(t *testing.T) {
	tests := []struct {
		name     string
		services []tandem.ServiceInfo
		diffs    []contract.Diff // nil: match
		absent   bool
		msg      string
	}{
		{name: "equal", services: []tandem.ServiceInfo{{Name: "Calc", Methods: calc.Methods}}},
		{name: "server has more", services: []tandem.ServiceInfo{{Name: "Calc", Methods: append(calc.Methods[:2:2], tandem.MethodInfo{Name: "Sub", Signature: "x"})}}},
		{
			name:     "changed and missing",
			services: []tandem.ServiceInfo{{Name: "Calc", Methods: []tandem.MethodInfo{{Name: "Add", Signature: "func(ctx context.Context, a float64) (float64, error)"}}}},
			diffs: []contract.Diff{
				{Method: "Add", Want: calc.Methods[0].Signature, Have: "func(ctx context.Context, a float64) (float64, error)"},
				{Method: "Reset", Want: calc.Methods[1].Signature},
			},
			msg: "tandem: contract Calc (" + calc.Fingerprint() + ") does not match the server: " +
				"Add: client expects func(ctx context.Context, a int, b int) (int, error), server has func(ctx context.Context, a float64) (float64, error); " +
				"Reset: missing on the server (client expects func(ctx context.Context) error)",
		},
		{
			name:     "absent",
			services: []tandem.ServiceInfo{{Name: "Other"}, {Name: "Tandem"}},
			absent:   true,
			msg:      "tandem: contract Calc (" + calc.Fingerprint() + ") does not match the server: it has no service Calc (it has Other, Tandem)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := contract.Compare(calc, tt.services)
			if tt.diffs == nil && !tt.absent {
				if err != nil {
					t.Fatalf("Compare = %v, want nil", err)
				}
				return
			}
			var m *contract.MismatchError
			if !errors.As(err, &m) {
				t.Fatalf("Compare = %v, want a *MismatchError", err)
			}
			if m.Absent != tt.absent || !reflect.DeepEqual(m.Diffs, tt.diffs) {
				t.Errorf("got absent=%t diffs=%+v, want absent=%t diffs=%+v", m.Absent, m.Diffs, tt.absent, tt.diffs)
			}
			if err.Error() != tt.msg {
				t.Errorf("message:\n got %s\nwant %s", err, tt.msg)
			}
			if !contract.IsMismatch(err) || tandem.CodeOf(err) != tandem.CodeFailedPrecondition {
				t.Errorf("IsMismatch = %t, CodeOf = %v", contract.IsMismatch(err), tandem.CodeOf(err))
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	same := contract.Contract{Service: "Calc", Methods: append([]tandem.MethodInfo(nil), calc.Methods...)}
	if calc.Fingerprint() != same.Fingerprint() || len(calc.Fingerprint()) != 16 {
		t.Errorf("Fingerprint = %q and %q, want equal 16-digit hashes", calc.Fingerprint(), same.Fingerprint())
	}
	// Boundaries between fields matter: moving bytes from a name to a signature changes it.
	a := contract.Contract{Service: "S", Methods: []tandem.MethodInfo{{Name: "AB", Signature: "C"}}}
	b := contract.Contract{Service: "S", Methods: []tandem.MethodInfo{{Name: "A", Signature: "BC"}}}
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("fingerprints collide across field boundaries")
	}
}
