package gen_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tandem-rpc/tandem/gen"
)

// TestCheckedInCodeIsFresh regenerates every file tandem gen wrote in the module (outside
// testdata) and fails if one differs: run go generate ./... and commit the result.
func TestCheckedInCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("loads every package with generated code")
	}
	stale, err := gen.Stale(context.Background(), filepath.Join(".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range stale {
		t.Errorf("%s is stale: run go generate ./... and commit the result", path)
	}
}

// TestStaleFindsOutdated reports a generated file whose interface changed since.
func TestStaleFindsOutdated(t *testing.T) {
	// testdata/stale holds such a file; Stale skips testdata when walking from above, so
	// start inside it.
	stale, err := gen.Stale(context.Background(), filepath.Join("testdata", "stale"))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || filepath.Base(stale[0]) != "counter_tandem.go" {
		t.Fatalf("Stale = %v, want [.../counter_tandem.go]", stale)
	}
}
