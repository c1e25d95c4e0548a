package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "server" {
		// The test binary re-executed as the benchmark's server process.
		os.Exit(serverMain(os.Stdin, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// TestSuiteSmoke runs every contender on every workload briefly, in separate processes as
// a real run does, and checks the report and the files written.
func TestSuiteSmoke(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var stdout, stderr strings.Builder
	args := []string{"-d", "20ms", "-rounds", "1", "-alloccalls", "100", "-q", "-out", dir, "-label", "smoke"}
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr.String())
	}
	report := stdout.String()
	for _, want := range append(contenderNames(), "## Results", "## Ratios", "## Targets (issue 4)") {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	for _, ext := range []string{".md", ".svg", ".json"} {
		b, err := os.ReadFile(filepath.Join(dir, "smoke"+ext))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Errorf("smoke%s is empty", ext)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-contenders", "rawtcp,nosuch"},
		{"-workloads", "seq,nosuch"},
		{"-d", "0s"},
		{"extra"},
	} {
		var stdout, stderr strings.Builder
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2; stderr: %s", args, code, stderr.String())
		}
	}
}
