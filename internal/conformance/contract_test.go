package conformance_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/gen/contract"
	"github.com/tandem-rpc/tandem/internal/conformance"
	"github.com/tandem-rpc/tandem/internal/conformance/oldcalc"
)

// TestContractMismatch: a client generated from an older Calculator fails on its first
// call, before any method runs, with an error that lists exactly the methods that differ.
func TestContractMismatch(t *testing.T) {
	calc := conformance.NewCalc()
	c := connectPipe(t, func(s *tandem.Server) error { return conformance.RegisterCalculator(s, calc) }, nil)
	old := oldcalc.NewCalculatorClient(c.client)
	ctx := context.Background()

	_, err := old.Sum(ctx, 1, 2) // Sum itself is unchanged: the contract as a whole is checked
	var m *contract.MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("Sum: err = %v, want a *contract.MismatchError", err)
	}
	want := []contract.Diff{
		{Method: "Add", Want: "func(ctx context.Context, a float64, b float64) (float64, error)", Have: "func(ctx context.Context, a int, b int) (int, error)"},
		{Method: "Neg", Want: "func(ctx context.Context, a int) (int, error)"},
	}
	if !reflect.DeepEqual(m.Diffs, want) {
		t.Errorf("Diffs = %+v, want %+v", m.Diffs, want)
	}
	if tandem.CodeOf(err) != tandem.CodeFailedPrecondition {
		t.Errorf("CodeOf = %v, want failed_precondition", tandem.CodeOf(err))
	}
	for _, s := range []string{"Add: client expects", "Neg: missing on the server"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	// The verdict is kept: later calls fail the same way, and nothing ran on the server.
	if _, err := old.Add(ctx, 1, 2); !errors.As(err, &m) {
		t.Errorf("second call: err = %v, want the mismatch", err)
	}
	if st, _ := calc.Stats(ctx); st.Calls != 0 {
		t.Errorf("server ran %d calls, want 0", st.Calls)
	}
}

// TestContractAbsentService: the server does not have the service at all.
func TestContractAbsentService(t *testing.T) {
	c := connectPipe(t, nil, nil)
	err := contract.Check(context.Background(), c.client, conformance.CalculatorContract)
	var m *contract.MismatchError
	if !errors.As(err, &m) || !m.Absent {
		t.Fatalf("Check = %v, want an absent-service mismatch", err)
	}
	if !strings.Contains(err.Error(), "no service Calculator (it has Tandem)") {
		t.Errorf("error = %q", err)
	}
}

// TestContractEager checks the contract before any call, and accepts a server that has
// more methods than the client knows.
func TestContractEager(t *testing.T) {
	c := connectPipe(t, registerGenerated, nil)
	smaller := conformance.CalculatorContract
	smaller.Methods = smaller.Methods[:2]
	for _, ct := range []contract.Contract{conformance.CalculatorContract, smaller} {
		if err := contract.Check(context.Background(), c.client, ct); err != nil {
			t.Errorf("Check(%d methods) = %v", len(ct.Methods), err)
		}
	}
	if conformance.CalculatorContract.Fingerprint() == smaller.Fingerprint() {
		t.Error("different contracts have the same fingerprint")
	}
}

// TestContractCheckDeadline: a first call whose context ends during the contract check
// fails as the call would, naming the method, and the check is retried by the next call.
func TestContractCheckDeadline(t *testing.T) {
	c := connectPipe(t, registerGenerated, nil)
	client := conformance.NewCalculatorClient(c.client)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client.Add(ctx, 1, 2)
	if tandem.CodeOf(err) != tandem.CodeCanceled || !strings.Contains(err.Error(), "Calculator.Add") {
		t.Fatalf("Add with a cancelled context = %v, want canceled naming Calculator.Add", err)
	}
	if n, err := client.Add(context.Background(), 1, 2); n != 3 || err != nil {
		t.Fatalf("Add = %d, %v; want 3, nil", n, err)
	}
}

// TestContractConcurrentFirstCalls: many first calls at once share one check.
func TestContractConcurrentFirstCalls(t *testing.T) {
	c := connectPipe(t, registerGenerated, nil)
	client := conformance.NewCalculatorClient(c.client)
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			n, err := client.Add(context.Background(), i, 1)
			if err == nil && n != i+1 {
				err = errors.New("wrong sum")
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestSignaturesMatchReflection: the generator renders every kind of type as reflection
// does, so a generated client accepts a server that registered by reflection.
func TestSignaturesMatchReflection(t *testing.T) {
	c := connectPipe(t, func(s *tandem.Server) error { return s.RegisterName("Kitchen", conformance.Sink{}) }, nil)
	if err := contract.Check(context.Background(), c.client, conformance.KitchenContract); err != nil {
		t.Fatal(err)
	}
}
